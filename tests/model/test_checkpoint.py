import json

import numpy as np
import pytest
import torch

from eclip.config import Config, to_dict
from eclip.errors import ModelError
from eclip.model import build_model, load_model, save_model
from floats import assert_close


def _micro():
    cfg = Config()
    cfg.model.arch = "eclip-vit-micro"
    torch.manual_seed(0)
    return build_model(cfg.model, cfg.method), to_dict(cfg)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model, cfg = _micro()
    out = tmp_path_factory.mktemp("ck")
    save_model(out / "fp32", model, cfg, {"steps": 7, "data_fingerprint": "abc"}, dtype="float32")
    save_model(out / "fp16", model, cfg, {"steps": 7}, dtype="float16")
    return model.eval(), out


def test_round_trip_fp32_exact(saved):
    model, out = saved
    lm = load_model(out / "fp32")
    for k, v in model.clip.state_dict().items():
        assert torch.equal(v, lm.model.clip.state_dict()[k]), k
    assert torch.equal(model.processor.attn.in_proj_weight, lm.model.processor.attn.in_proj_weight)
    assert not lm.model.training and lm.image_size == 64
    assert lm.card["steps"] == 7 and lm.card["data_fingerprint"] == "abc"
    assert len(lm.weights_sha256) == 64 and lm.card["weights_sha256"] == lm.weights_sha256
    assert {"created_at", "weights_dtype"} <= set(lm.card)
    assert lm.config["model"]["arch"] == "eclip-vit-micro" and "arch_cfg" in lm.config


def test_fp16_weights_load_into_fp32(saved):
    model, out = saved
    lm = load_model(out / "fp16")
    assert lm.card["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(lm.model.encode_image(x), model.encode_image(x), atol=5e-3)
    assert (out / "fp16" / "model.safetensors").stat().st_size < (out / "fp32" / "model.safetensors").stat().st_size


def test_loaded_tokenizer_and_preprocess(saved):
    lm = load_model(saved[1] / "fp16")
    tok = lm.tokenizer(["small left pleural effusion", "normal"])
    assert tok.dtype == torch.long and tok.shape == (2, 32)
    img = lm.preprocess(np.random.default_rng(0).random((80, 50), dtype=np.float32))
    assert img.shape == (3, 64, 64) and img.dtype == torch.float32
    assert torch.equal(img[0], img[2])
    flat = lm.preprocess(np.full((30, 30), 0.58, np.float32))
    assert flat.abs().max() < 1e-5  # mean 0.58 maps to 0


def test_pickle_only_folder_refused(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    with pytest.raises(ModelError, match="pickle"):
        load_model(tmp_path)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelError, match="no model.safetensors"):
        load_model(tmp_path)


def test_corrupt_weights_and_sha_mismatch(saved, tmp_path):
    src = saved[1] / "fp16"
    for name in ("config.json", "card.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    data = (src / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="sha256"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tmp_path, verify_sha=False)


def test_mismatched_config_is_actionable(saved, tmp_path):
    src = saved[1] / "fp16"
    (tmp_path / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
    (tmp_path / "card.json").write_bytes((src / "card.json").read_bytes())
    cfg = json.loads((src / "config.json").read_text())
    cfg["arch_cfg"]["vision_cfg"]["width"] = 96
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="does not match the architecture"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(tmp_path)
