"""eclip.index.typicality: kNN distance to a sample of the model's own training images as a
percentile of their leave-one-out scores, and the reference file shipped with a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.errors import EvaluationError
from eclip.index import typicality as typ
from floats import assert_close


def _sphere(rng, n, d=16, centre=None, spread=0.3):
    centre = np.ones(d) if centre is None else centre
    x = centre / np.linalg.norm(centre) + spread * rng.normal(size=(n, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_knn_distance_by_hand_and_leaving_itself_out():
    bank = np.eye(3, dtype=np.float32)
    q = np.array([[1, 0, 0]], dtype=np.float32)
    # nearest two: itself (distance 0) and an orthogonal one (distance 1)
    assert typ.knn_distance(q, bank, 2)[0] == pytest.approx(0.5)
    assert typ.knn_distance(q, bank, 2, exclude=np.array([0]))[0] == pytest.approx(1.0)


def test_training_images_spread_evenly_and_an_outlier_scores_100():
    rng = np.random.default_rng(0)
    emb = _sphere(rng, 400)
    ref = typ.fit_reference(emb[:300], k=5)
    own = np.array([ref.score(e).percentile for e in emb[:300]])
    # a training image is left out of its own neighbours: the training images spread over 0-100
    assert 40 < np.median(own) < 60 and own.min() < 5 and own.max() > 95
    held_out = np.array([ref.score(e).percentile for e in emb[300:]])
    assert 30 < np.median(held_out) < 70  # same distribution, not in the bank
    far = _sphere(rng, 1, centre=-np.ones(16))[0]
    result = ref.score(far)
    assert result.percentile == 100.0 and result.verdict == "far from every training image"
    assert result.distance > own.max() / 100  # a distance, not a percentile
    assert ref.score(emb[0]).distance > 0  # itself left out: never 0
    assert "percentile 100 against 300 of the model's training images" in result.line()


def test_a_copy_is_left_out_only_when_it_is_the_image_itself():
    rng = np.random.default_rng(1)
    emb = _sphere(rng, 50)
    ref = typ.fit_reference(emb[:40], k=3)
    assert ref.own_copy(emb[7]) == 7 and ref.own_copy(emb[45]) == -1
    nudged = emb[7] + 0.01 * rng.normal(size=16).astype(np.float32)  # another image, ~1e-3 away
    assert ref.own_copy(nudged / np.linalg.norm(nudged)) == -1


def test_the_sample_is_seeded_and_bounded_in_count_and_bytes(monkeypatch):
    assert np.array_equal(typ.sample_rows(5000, 256, seed=3), typ.sample_rows(5000, 256, seed=3))
    assert len(typ.sample_rows(5000, 256)) == typ.BYTES_MAX // 512  # float16 at D = 256
    assert len(typ.sample_rows(5000, 16)) == typ.SAMPLE_MAX and len(typ.sample_rows(30, 256)) == 30
    monkeypatch.setattr(typ, "CHUNK", 7)  # several chunks give the same answer as one
    emb = _sphere(np.random.default_rng(2), 100)
    full = typ.knn_distance(emb[:20], emb, 4)
    monkeypatch.setattr(typ, "CHUNK", 512)
    # 1 - cos of close unit vectors (~0.03): chunking moves each cosine by an ulp or so
    assert_close(typ.knn_distance(emb[:20], emb, 4), full)


def test_too_few_training_images_says_what_to_do():
    with pytest.raises(EvaluationError, match="at least 11 training images"):
        typ.fit_reference(np.eye(8, dtype=np.float32), k=10)


def test_the_shipped_file_scores_as_the_fitted_reference(tmp_path):
    emb = _sphere(np.random.default_rng(4), 60)
    ref = typ.fit_reference(emb[:40], k=3, meta={"weights_sha256": "abc"})
    path = typ.save_reference(tmp_path, ref)
    assert path.name == "train_reference.safetensors" and path.stat().st_size < 40 * 16 * 2 + 2000
    typ.TYPICALITY_CACHE.clear()
    loaded = typ.load_reference(tmp_path, "abc")
    assert typ.load_reference(tmp_path, "abc") is loaded  # one read per file version
    for e in emb[35:45]:  # training images (their copies) and others
        assert loaded.score(e) == ref.score(e)
    with pytest.raises(typ.TypicalityUnavailable, match="other weights"):
        typ.load_reference(tmp_path, "another-sha")
    with pytest.raises(typ.TypicalityUnavailable, match="holds no sample of its training images"):
        typ.load_reference(tmp_path / "nowhere")
