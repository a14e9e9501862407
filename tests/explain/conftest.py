"""Tiny real models (random init, saved and re-loaded through the checkpoint API)."""

from __future__ import annotations

import pytest
import torch

from eclip.config import Config, to_dict
from eclip.model import build_model, load_model, save_model


def make_lm(root, arch: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model({"arch": arch})
    cfg = to_dict(Config())
    cfg["model"]["arch"] = arch
    save_model(root, model, cfg, dtype="float32")
    return load_model(root)


@pytest.fixture(scope="session")
def vit_lm(tmp_path_factory):
    return make_lm(tmp_path_factory.mktemp("vit_micro"), "eclip-vit-micro")


@pytest.fixture(scope="session")
def rn_lm(tmp_path_factory):
    return make_lm(tmp_path_factory.mktemp("rn_tiny"), "eclip-rn-tiny")
