"""Training with a frozen Hugging Face text trunk (``model.lock_text``): each distinct text's pooled
trunk output is computed once and kept, only the projection runs each step, and the losses see
what ``encode_text`` gives, gradients included. A trunk that trains is never cached."""

from pathlib import Path

import pytest
import torch

from eclip.config import load_config
from eclip.model import get_tokenizer
from eclip.model.eclip import build_model
from eclip.model.text_features import frozen_trunk, hf_text_tower
from tests.floats import assert_close

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo20k-eclip-rn-local.toml"
REPORTS = ["Heart size is normal. No pleural effusion.", "Small left pleural effusion.",
           "Cardiomegaly. Mild pulmonary edema.", "No acute cardiopulmonary abnormality."]


@pytest.fixture(scope="module")
def built():
    cfg = load_config(CONFIG)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.method)
    return model, get_tokenizer(model.arch_cfg)


def trunk_rows(model) -> list[int]:
    """Grows by the number of rows of every call of the trunk."""
    rows: list[int] = []
    hf_text_tower(model.clip).transformer.register_forward_hook(lambda mod, args, kw, out: rows.append(
        kw["input_ids"].shape[0]), with_kwargs=True)
    return rows


def test_the_locked_minilm_trunk_is_frozen_and_in_eval_mode_while_training(built):
    model, _ = built
    assert model.training and frozen_trunk(hf_text_tower(model.clip))


def test_cached_text_equals_encode_text_and_each_text_passes_the_trunk_once(built):
    model, tok = built
    rows = trunk_rows(model)
    tokens = tok(REPORTS + REPORTS[:2])  # two repeats in one batch
    got = model._loss_text(tokens)
    assert_close(got.detach(), model.encode_text(tokens).detach(), atol=1e-5)
    rows.clear()
    again = model._loss_text(tok([REPORTS[3], "Right upper lobe pneumonia.", REPORTS[0]]))
    assert rows == [1]  # only the one new text went through the trunk
    assert_close(again[0].detach(), got[3].detach(), atol=1e-6)


def test_gradients_reach_the_projection_as_through_encode_text(built):
    model, tok = built
    tokens = tok(REPORTS)
    weights = torch.linspace(-1, 1, 4 * model.encode_text(tokens).shape[1]).reshape(4, -1)
    proj = [p for p in hf_text_tower(model.clip).proj.parameters()]
    grads = []
    for encode in (model._loss_text, lambda t: model.encode_text(t, normalize=True)):
        model.zero_grad()
        (encode(tokens) * weights).sum().backward()
        grads.append([p.grad.clone() for p in proj])
    for cached, direct in zip(*grads):
        assert cached.abs().sum() > 0
        assert_close(cached, direct, atol=1e-5)


def test_a_trunk_that_trains_is_not_cached(built):
    model, tok = built
    text = hf_text_tower(model.clip)
    layer = next(iter(text.transformer.parameters()))
    layer.requires_grad_(True)
    try:
        assert not frozen_trunk(text)
        rows = trunk_rows(model)
        tokens = tok(REPORTS)
        model._loss_text(tokens)
        model._loss_text(tokens)
        assert rows == [4, 4]  # through the trunk every time
    finally:
        layer.requires_grad_(False)


def test_warming_encodes_each_text_once_in_length_batches_and_matches_encode_text():
    cfg = load_config(CONFIG)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.method)
    tok = get_tokenizer(model.arch_cfg)
    rows = trunk_rows(model)
    texts = REPORTS + REPORTS[:2] + ["Right upper lobe pneumonia."]
    assert model.warm_text_cache(tok(texts), progress=False) == 5  # five distinct texts
    assert sum(rows) == 5
    rows.clear()
    got = model._loss_text(tok(REPORTS))
    assert rows == []  # every text was kept: no trunk pass during a step
    assert_close(got.detach(), model.encode_text(tok(REPORTS)).detach(), atol=1e-5)
    assert model.warm_text_cache(tok(REPORTS), progress=False) == 0


def test_a_trunk_that_trains_is_not_warmed(built):
    model, tok = built
    text = hf_text_tower(model.clip)
    text.transformer.train()
    try:
        assert model.warm_text_cache(tok(REPORTS)) == 0
    finally:
        text.transformer.eval()
