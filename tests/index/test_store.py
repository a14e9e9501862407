"""eclip.index.store: the similarity maths of an index (no model, an index held in memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eclip.index.kept import BuildKey, identity
from eclip.index.store import EmbeddingIndex, rank_of, top_k
from floats import assert_close


def _index(n: int = 6, u: int = 4, d: int = 5, seed: int = 0) -> EmbeddingIndex:
    rng = np.random.default_rng(seed)
    unit = lambda a: (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)
    return EmbeddingIndex(path=Path("in-memory"), meta={}, ids=[f"c{i}" for i in range(n)],
                          texts=[f"report {t}" for t in range(u)], image_emb=unit(rng.normal(size=(n, d))),
                          text_emb=unit(rng.normal(size=(u, d))), text_index=np.arange(n) % u)


def test_text_scores_are_cosines_with_every_report_whatever_the_query_length():
    index = _index()
    query = 3.0 * np.asarray(index.image_emb[2])
    assert_close(index.text_scores(query), np.asarray(index.text_emb) @ index.image_emb[2], atol=1e-6)


def test_an_image_s_own_report_is_its_text_row():
    index = _index()
    assert [index.report_of(f"c{i}") for i in range(6)] == [0, 1, 2, 3, 0, 1]


def test_nearest_images_leave_the_query_image_out():
    index = _index()
    rows = np.array([0, 2, 3, 5])
    top, scores = index.nearest_images(index.image_emb[3], rows, k=2, exclude=3)
    assert 2 not in top.tolist()  # position of row 3 in rows
    assert_close(scores, np.asarray(index.image_emb)[rows] @ index.image_emb[3], atol=1e-6)
    expected = top_k(np.where(rows != 3, scores, -np.inf), 2)
    assert top.tolist() == expected.tolist()
    top_all, _ = index.nearest_images(index.image_emb[3], rows, k=1)
    assert top_all.tolist() == [2]  # nothing excluded: the image itself comes first


def test_rank_counts_the_scores_strictly_above():
    assert rank_of(np.array([0.2, 0.9, 0.5, 0.9]), 2) == 3
    assert rank_of(np.array([0.2, 0.9, 0.5, 0.9]), 1) == 1  # ties share the best rank


def test_an_in_memory_index_keeps_nothing_on_disk():
    key = identity(_index(), "k=5")
    assert isinstance(key, BuildKey) and not key.on_disk and key.extra == ("k=5",)
    assert key == identity(_index(), "k=5") and hash(key) == hash(identity(_index(), "k=5"))
