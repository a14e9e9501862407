"""eclip.index.typicality: kNN distance to the training split as a percentile of the
training images' own leave-one-out scores, on synthetic embeddings and a real index."""

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
    train = np.arange(300)
    ref = typ.fit_reference(emb, train, k=5)
    own = np.array([ref.score(emb[r], row=r).percentile for r in train])
    # leave-one-out: the training split scores itself uniformly over 0-100
    assert 40 < np.median(own) < 60 and own.min() < 5 and own.max() > 95
    held_out = np.array([ref.score(emb[r]).percentile for r in range(300, 400)])
    assert 30 < np.median(held_out) < 70  # same distribution, not in the bank
    far = _sphere(rng, 1, centre=-np.ones(16))[0]
    result = ref.score(far)
    assert result.percentile == 100.0 and result.verdict == "far from every training image"
    assert result.distance > own.max() / 100  # a distance, not a percentile
    assert ref.score(emb[0], row=0).distance > 0  # itself left out: never 0


def test_row_outside_the_bank_is_not_excluded():
    rng = np.random.default_rng(1)
    emb = _sphere(rng, 50)
    ref = typ.fit_reference(emb, np.arange(40), k=3)
    assert_close(ref.score(emb[45], row=45).distance, ref.score(emb[45]).distance)


def test_samples_bound_the_work(monkeypatch):
    monkeypatch.setattr(typ, "BANK_MAX", 100)
    monkeypatch.setattr(typ, "REFERENCE_MAX", 30)
    monkeypatch.setattr(typ, "CHUNK", 7)  # several chunks give the same answer as one
    emb = _sphere(np.random.default_rng(2), 500)
    ref = typ.fit_reference(emb, np.arange(500), k=4)
    assert len(ref.bank) == 100 and len(ref.scores) == 30
    assert set(ref.bank_rows) <= set(range(500))
    full = typ.knn_distance(emb[:20], ref.bank, 4)
    monkeypatch.setattr(typ, "CHUNK", 512)
    # 1 - cos of close unit vectors (~0.03): chunking moves each cosine by an ulp or so
    assert_close(typ.knn_distance(emb[:20], ref.bank, 4), full)


def test_too_few_training_images_says_what_to_do():
    with pytest.raises(EvaluationError, match="at least 11 training images"):
        typ.fit_reference(np.eye(8, dtype=np.float32), np.arange(8), k=10)


def test_reference_for_an_index_is_cached_per_index_and_split(tmp_path):
    from eclip.index import EmbeddingIndex

    emb = _sphere(np.random.default_rng(3), 60)
    index = EmbeddingIndex(path=tmp_path, meta={"created_at": "t0"}, ids=[str(i) for i in range(60)],
                           texts=[], image_emb=emb, text_emb=emb[:0], text_index=np.zeros(60, int))
    typ.TYPICALITY_CACHE.clear()
    ref = typ.reference_for(index, np.arange(40), k=3)
    assert typ.reference_for(index, np.arange(40), k=3) is ref and len(typ.TYPICALITY_CACHE) == 1
    assert typ.reference_for(index, np.arange(50), k=3) is not ref  # another training split
    index.meta["created_at"] = "t1"  # a rebuilt index
    assert typ.reference_for(index, np.arange(40), k=3) is not ref


def test_reference_is_kept_in_the_index_folder_until_the_index_is_rebuilt(tmp_path, monkeypatch):
    """A new server process reads the reference from typicality.npz instead of refitting it
    (~3.3 s at 200,000 cases); embedding files written anew make the kept one stale."""
    from eclip.index import EmbeddingIndex

    emb = _sphere(np.random.default_rng(4), 60)
    for name, arr in (("image_emb.npy", emb), ("text_emb.npy", emb[:1]), ("text_index.npy", np.zeros(60, int))):
        np.save(tmp_path / name, arr)
    index = EmbeddingIndex(path=tmp_path, meta={"created_at": "t0"}, ids=[str(i) for i in range(60)],
                           texts=["r"], image_emb=emb, text_emb=emb[:1], text_index=np.zeros(60, int))
    typ.TYPICALITY_CACHE.clear()
    first = typ.reference_for(index, np.arange(40), k=3)
    assert (tmp_path / typ.SAVED).is_file()
    typ.TYPICALITY_CACHE.clear()  # a new process: memory is empty, the folder is not
    fits = []
    real_fit = typ.fit_reference
    monkeypatch.setattr(typ, "fit_reference", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    again = typ.reference_for(index, np.arange(40), k=3)
    assert not fits and np.array_equal(again.scores, first.scores)
    assert np.array_equal(again.bank, first.bank) and again.score(emb[0], 0) == first.score(emb[0], 0)
    typ.TYPICALITY_CACHE.clear()
    typ.reference_for(index, np.arange(30), k=3)  # another training split: its own reference
    assert fits == [1]
    typ.TYPICALITY_CACHE.clear()
    np.save(tmp_path / "image_emb.npy", np.concatenate([emb, emb[:1]]))  # rebuilt in place
    typ.reference_for(index, np.arange(40), k=3)
    assert fits == [1, 1]
