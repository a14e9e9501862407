"""The embedding index: contents, fast loading, staleness, resume, UMAP caching."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import eclip.index as ix
from eclip.data.manifest import read_manifest, write_manifest
from eclip.model import load_model
from floats import assert_close


@pytest.fixture(scope="module")
def built(micro_checkpoint, tiny_dataset, tmp_path_factory):
    cache = tmp_path_factory.mktemp("index_cache")
    idx = ix.build_index(micro_checkpoint, tiny_dataset, cache_root=cache, batch_size=8, device="cpu",
                         progress=False, umap_neighbors=5)
    return idx, cache


def test_index_holds_normalised_embeddings_of_every_row_and_unique_report(built, tiny_dataset):
    idx, _ = built
    df = read_manifest(tiny_dataset)
    assert idx.ids == list(df["id"])
    assert idx.image_emb.shape == (24, 64) and idx.text_emb.shape == (3, 64)
    assert_close(np.linalg.norm(idx.image_emb, axis=1), 1.0)
    for r, row in df.iterrows():
        assert idx.texts[idx.text_index[r]] == row["findings"]
    assert idx.meta["data_fingerprint"] and len(idx.meta["weights_sha256"]) == 64


def test_index_rows_equal_direct_model_encoding(built, micro_checkpoint, tiny_dataset):
    """Guards the row order: row 5 of the index is the model's embedding of manifest row 5."""
    from eclip.data.images import load_working

    idx, _ = built
    lm = load_model(micro_checkpoint)
    df = read_manifest(tiny_dataset)
    x = lm.preprocess(load_working(Path(tiny_dataset) / df["image_path"][5]))[None]
    tok = lm.tokenizer([df["findings"][5]])
    with torch.no_grad():
        img = lm.model.encode_image(x).numpy()[0]
        txt = lm.model.encode_text(tok).numpy()[0]
    assert_close(idx.image_emb[5], img, atol=1e-5)
    assert_close(idx.text_emb[idx.text_index[5]], txt, atol=1e-5)


def test_load_index_is_fast_and_memory_mapped(built, micro_checkpoint, tiny_dataset):
    idx, cache = built
    t0 = time.perf_counter()
    again = ix.load_index(micro_checkpoint, tiny_dataset, cache)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(again.image_emb, np.memmap)
    np.testing.assert_array_equal(again.image_emb, idx.image_emb)
    np.testing.assert_array_equal(again.umap_image, idx.umap_image)
    assert again.path.parent == cache and again.path.name.startswith(idx.meta["weights_sha256"][:12])


def test_umap_is_cached_seeded_and_covers_images_and_texts(built):
    idx, _ = built
    assert idx.umap_image.shape == (24, 2) and idx.umap_text.shape == (3, 2)
    assert np.isfinite(idx.umap_image).all()
    points = np.concatenate([idx.image_emb, idx.text_emb])
    assert_close(ix.umap_2d(points, seed=0, n_neighbors=5),
                 np.concatenate([idx.umap_image, idx.umap_text]), atol=1e-5)
    assert idx.meta["umap"]["seed"] == 0


def test_missing_index_is_reported_not_built(micro_checkpoint_b, tiny_dataset, tmp_path):
    with pytest.raises(ix.IndexMissing, match="python -m eclip.index build"):
        ix.load_index(micro_checkpoint_b, tiny_dataset, tmp_path)


def test_changed_data_makes_the_index_stale(micro_checkpoint, dataset_copy, tmp_path):
    ix.build_index(micro_checkpoint, dataset_copy, cache_root=tmp_path, with_umap=False, progress=False)
    df = read_manifest(dataset_copy)
    df.loc[0, "findings"] = "A new report text."
    write_manifest(df, dataset_copy)
    with pytest.raises(ix.StaleIndex, match="stale"):
        ix.load_index(micro_checkpoint, dataset_copy, tmp_path)


def test_index_of_other_weights_is_refused(built, micro_checkpoint, micro_checkpoint_b, tiny_dataset):
    idx, _ = built
    other = {**ix.checkpoint_identity(micro_checkpoint_b), "data_fingerprint": idx.meta["data_fingerprint"]}
    with pytest.raises(ix.StaleIndex, match="weights_sha256"):
        ix.open_index(idx.path, other)


def test_changed_config_with_same_weights_is_refused(micro_checkpoint, tiny_dataset, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for name in ("model.safetensors", "config.json", "card.json"):
        (ckpt / name).write_bytes((micro_checkpoint / name).read_bytes())
    ix.build_index(ckpt, tiny_dataset, cache_root=tmp_path / "cache", with_umap=False, progress=False)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["data"]["mean"] = 0.5  # other preprocessing: old embeddings no longer valid
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ix.StaleIndex, match="config_sha256"):
        ix.load_index(ckpt, tiny_dataset, tmp_path / "cache")
    # building replaces the stale index instead of reusing it
    rebuilt = ix.build_index(ckpt, tiny_dataset, cache_root=tmp_path / "cache", with_umap=False,
                             progress=False)
    assert rebuilt.meta["config_sha256"] == ix.checkpoint_identity(ckpt)["config_sha256"]
    ix.load_index(ckpt, tiny_dataset, tmp_path / "cache")


def test_stale_index_counts_as_missing_for_callers_that_build():
    assert issubclass(ix.StaleIndex, ix.IndexMissing)


def test_interrupted_build_resumes_from_saved_chunks(micro_checkpoint, dataset_copy, tmp_path,
                                                     caplog, built):
    from eclip.errors import ImageLoadError

    victim = dataset_copy / "images" / "case010.png"
    good = victim.read_bytes()
    victim.write_bytes(good[:20])  # truncated PNG: the third chunk (rows 8-11) fails
    with pytest.raises(ImageLoadError):
        ix.build_index(micro_checkpoint, dataset_copy, cache_root=tmp_path, with_umap=False,
                       progress=False, chunk_rows=4)
    parts = sorted(p.name for p in (ix.index_dir(micro_checkpoint, dataset_copy, tmp_path) / "parts").glob("img_*"))
    assert parts == ["img_000000.npy", "img_000001.npy"]
    victim.write_bytes(good)
    with caplog.at_level(logging.INFO, logger="eclip.index"):
        idx = ix.build_index(micro_checkpoint, dataset_copy, cache_root=tmp_path, with_umap=False,
                             progress=False, chunk_rows=4)
    assert "resuming, 2 of 6 chunks" in caplog.text
    assert_close(idx.image_emb, built[0].image_emb)  # other batches: other float32 sums
    assert not (idx.path / "parts").exists()


def test_umap_added_later_without_reembedding(micro_checkpoint, tiny_dataset, tmp_path):
    idx = ix.build_index(micro_checkpoint, tiny_dataset, cache_root=tmp_path, with_umap=False,
                         progress=False)
    assert idx.umap_image is None and "umap" not in idx.meta
    again = ix.build_index(micro_checkpoint, tiny_dataset, cache_root=tmp_path, with_umap=True,
                           progress=False, umap_neighbors=5)
    assert again.umap_image.shape == (24, 2)
    assert again.meta["created_at"] == idx.meta["created_at"]  # same embedding run


def test_zero_shot_scores_through_the_index(built):
    idx, _ = built
    q = np.asarray(idx.text_emb[:2])
    scores = idx.image_text_scores(q)
    assert_close(scores, np.asarray(idx.image_emb) @ q.T)
    assert idx.image_text_scores(q, rows=np.array([3, 4])).shape == (2, 2)
