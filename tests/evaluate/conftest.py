"""Fixtures for index and evaluation tests: tiny random-init checkpoints saved through
``save_model`` (the real checkpoint format) and a MIMIC-CXR-JPG fixture imported with the
real importer."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]


def save_micro_checkpoint(out: Path, seed: int) -> Path:
    import torch

    from eclip.config import Config, to_dict
    from eclip.model import build_model, save_model

    cfg = Config()
    cfg.model.arch = "eclip-vit-micro"
    torch.manual_seed(seed)
    model = build_model(cfg.model, cfg.method)
    return save_model(out, model, to_dict(cfg), {"steps": 0, "seed": seed}, dtype="float32")


@pytest.fixture(scope="session")
def micro_checkpoint(tmp_path_factory) -> Path:
    return save_micro_checkpoint(tmp_path_factory.mktemp("ckpt") / "micro-a", seed=0)


@pytest.fixture(scope="session")
def micro_checkpoint_b(tmp_path_factory) -> Path:
    return save_micro_checkpoint(tmp_path_factory.mktemp("ckpt") / "micro-b", seed=1)


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may modify."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "ds"))


def _load_formats():
    path = TESTS_DIR / "data" / "formats.py"
    spec = importlib.util.spec_from_file_location("eclip_test_formats", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mimic_dataset(tmp_path_factory) -> Path:
    """MIMIC-CXR-JPG tables + JPEGs + report texts (exact public layout), imported with
    ``python -m eclip.data import-mimic``: the path a real user takes."""
    from eclip.data.__main__ import main as data_main

    formats = _load_formats()
    raw = tmp_path_factory.mktemp("mimic_raw")
    formats.write_mimic(raw)
    out = tmp_path_factory.mktemp("mimic_ds")
    rc = data_main(["-q", "import-mimic", "--root", str(raw), "--out", str(out),
                    "--workers", "1", "--no-progress"])
    assert rc == 0
    return out
