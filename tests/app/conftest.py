"""Fixtures for the app tests: the tiny dataset, a clean environment, a runs folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import BIG
from evaluate.conftest import save_micro_checkpoint
from tiny_data import make_tiny_dataset

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"


@pytest.fixture
def app_env(tiny_dataset, tmp_path, monkeypatch):
    """ECLIP_DATA -> the tiny dataset, ECLIP_RUNS -> an empty folder, no password, no model."""
    monkeypatch.setenv("ECLIP_DATA", str(tiny_dataset))
    monkeypatch.setenv("ECLIP_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("ECLIP_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("ECLIP_CHECKPOINT", "none")  # not the shipped demo checkpoint
    return {"data": Path(tiny_dataset), "runs": tmp_path / "runs"}


@pytest.fixture(scope="session")
def micro_model(tiny_dataset, tmp_path_factory):
    """Checkpoint + embedding index over the tiny dataset. The 2-D map is written as the
    index format's umap_*.npy files from a PCA (UMAP itself is tested in tests/evaluate and
    would cost ~20 s of numba compilation here)."""
    import numpy as np

    from eclip.index import build_index

    base = tmp_path_factory.mktemp("app_model")
    ckpt = save_micro_checkpoint(base / "micro", seed=0)
    idx = build_index(ckpt, tiny_dataset, cache_root=base / "index", with_umap=False,
                      progress=False, device="cpu")
    points = np.concatenate([np.asarray(idx.image_emb), np.asarray(idx.text_emb)])
    centred = points - points.mean(0)
    xy = (centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T).astype(np.float32)
    np.save(idx.path / "umap_image.npy", xy[:len(idx.image_emb)])
    np.save(idx.path / "umap_text.npy", xy[len(idx.image_emb):])
    _ship_reference(ckpt, idx, tiny_dataset)
    return {"checkpoint": Path(ckpt), "index_root": base / "index"}


def _ship_reference(ckpt: Path, idx, data: Path) -> None:
    """The checkpoint's own training-image reference (typicality), as `eclip evaluate card`
    ships it, without the card's training facts (this model's card names no training data)."""
    import numpy as np

    from eclip.data.manifest import read_manifest
    from eclip.index.typicality import fit_reference, save_reference

    train = np.flatnonzero(read_manifest(data)["split"].to_numpy() == "train")
    save_reference(ckpt, fit_reference(np.asarray(idx.image_emb)[train],
                                       meta={"weights_sha256": idx.meta["weights_sha256"]}))


@pytest.fixture(scope="session")
def compare_model(micro_model, tiny_dataset, tmp_path_factory):
    """A second micro checkpoint (other seed, so other weights) for the 'compare with'
    model, and an index folder holding both models' indexes (random 2-D maps will do)."""
    import shutil

    import numpy as np

    from eclip.index import build_index

    base = tmp_path_factory.mktemp("compare_model")
    ckpt = save_micro_checkpoint(base / "final", seed=1)
    cache = Path(shutil.copytree(micro_model["index_root"], base / "index"))
    idx = build_index(ckpt, tiny_dataset, cache_root=cache, with_umap=False, progress=False,
                      device="cpu")
    rng = np.random.default_rng(1)
    np.save(idx.path / "umap_image.npy", rng.normal(size=(len(idx.ids), 2)).astype(np.float32))
    np.save(idx.path / "umap_text.npy", rng.normal(size=(len(idx.texts), 2)).astype(np.float32))
    return {"checkpoint": Path(ckpt), "index_root": cache}


@pytest.fixture
def model_env(app_env, micro_model, monkeypatch):
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(micro_model["checkpoint"]))
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(micro_model["index_root"]))
    return {**app_env, **micro_model}


@pytest.fixture(scope="session")
def big_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("big_ds"), n=BIG, size=16)
