import logging
import math

import pytest
import torch

from eclip.config import ModelConfig, TrainConfig
from eclip.model import build_model
from eclip.train.checkpoints import optimizer_from_flat, optimizer_to_flat
from eclip.train.loop import lr_factor, make_optimizer, set_lr


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="eclip-vit-micro"))


def test_param_groups_match_the_reference(model):
    opt = make_optimizer(model, TrainConfig())
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"clip", "clip_no_decay", "processor", "processor_no_decay"}
    assert groups["clip"]["weight_decay"] == 1e-3 and groups["clip_no_decay"]["weight_decay"] == 0
    assert groups["processor"]["lr"] == pytest.approx(2e-4) and groups["clip"]["lr"] == pytest.approx(1e-4)
    assert opt.defaults["betas"] == (0.9, 0.98)
    ids = lambda name: {id(p) for p in groups[name]["params"]}  # noqa: E731
    no_decay = ids("clip_no_decay")
    assert id(model.clip.logit_scale) in no_decay
    assert id(model.clip.ln_final.weight) in no_decay and id(model.clip.visual.ln_post.bias) in no_decay
    assert id(model.clip.visual.conv1.weight) in ids("clip")
    assert id(model.processor.attn.in_proj_bias) in ids("processor_no_decay")
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(model.parameters()))


def test_decay_is_decided_by_shape_and_logged(model, caplog):
    with caplog.at_level(logging.INFO, logger="eclip.train.loop"):
        opt = make_optimizer(model, TrainConfig())
    for g in opt.param_groups:
        assert all((p.ndim > 1) == (g["weight_decay"] > 0) for p in g["params"]), g["name"]
    decayed = [p for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]]
    text = caplog.text
    assert f"decayed parameter tensors: {len(decayed)}, with {sum(p.numel() for p in decayed):,}" in text
    assert "non-decayed parameter tensors: " in text


def test_cosine_schedule_with_ten_percent_warmup():
    assert lr_factor(0, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, 0.1) == pytest.approx(0.5)
    assert lr_factor(99, 100, 0.1) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))


def test_set_lr_keeps_processor_at_twice_the_lr(model):
    t = TrainConfig(steps=100)
    opt = make_optimizer(model, t)
    base = set_lr(opt, 50, t)
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(base * (2.0 if g["name"].startswith("processor") else 1.0))


def test_optimizer_state_round_trip_without_pickle(model):
    opt = make_optimizer(model, TrainConfig())
    x = torch.randn(2, 3, 64, 64)
    model(x, torch.randint(1, 900, (2, 32)), prime=True)["loss"].backward()
    opt.step()
    tensors, meta = optimizer_to_flat(opt)
    import json
    meta = json.loads(json.dumps(meta))  # JSON-safe
    fresh = make_optimizer(model, TrainConfig())
    optimizer_from_flat(fresh, tensors, meta)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["state"].keys() == b["state"].keys()
    for pid, st in a["state"].items():
        for k, v in st.items():
            assert torch.equal(v, b["state"][pid][k])
    assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]]
