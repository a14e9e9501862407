"""What keeps the index's searches fast at MIMIC scale (benchmarks/app_scale.py measures it):
top-k search without a full sort, a thinned map whose selections still cover every point, the
nearest report without a float64 copy, the retrieval calibration kept with the index. No
timings here: each test checks the result the fast path must give."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.index import projection, store
from floats import assert_close


# --------------------------------------------------------------------------- top-k search
@pytest.mark.parametrize("k", [1, 5, 37, 499, 500])
def test_top_k_equals_a_stable_full_sort_ties_included(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 40, 500).astype(np.float32)  # many ties, also at the cut
    np.testing.assert_array_equal(store.top_k(scores, k), np.argsort(-scores, kind="stable")[:k])


def test_top_k_of_more_than_there_is_and_of_none():
    scores = np.array([0.1, 0.3, 0.2], np.float32)
    np.testing.assert_array_equal(store.top_k(scores, 10), [1, 2, 0])
    assert store.top_k(scores, 0).size == 0


def _index(n=400, d=16, seed=0) -> store.EmbeddingIndex:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return store.EmbeddingIndex(path=None, meta={}, ids=[f"c{i}" for i in range(n)], texts=["t"],
                          image_emb=emb, text_emb=emb[:1], text_index=np.zeros(n, np.int64))


@pytest.mark.parametrize("share", [0.05, 0.9])  # gathered first / scored whole, then picked
def test_scores_of_selected_rows_match_whatever_the_path(share):
    idx = _index()
    rows = np.sort(np.random.default_rng(1).choice(len(idx), int(share * len(idx)), replace=False))
    q = np.random.default_rng(2).standard_normal((2, 16))
    expect = idx.image_emb[rows] @ (q / np.linalg.norm(q, axis=1, keepdims=True)).T.astype(np.float32)
    assert_close(idx.image_text_scores(q, rows), expect)


# --------------------------------------------------------------------------- the thinned map
def test_thin_rows_keeps_small_maps_whole():
    np.testing.assert_array_equal(projection.thin_rows(["a", "b"] * 50, 1000), np.arange(100))


def test_thin_rows_is_seeded_proportional_and_keeps_rare_groups():
    groups = np.array(["common"] * 190_000 + ["rare"] * 400 + ["mid"] * 9_600)
    rows = projection.thin_rows(groups, 20_000)
    assert np.array_equal(rows, np.unique(rows))  # sorted, no repeats
    kept = dict(zip(*np.unique(groups[rows], return_counts=True)))
    assert kept["common"] == 190_000 * 20_000 // 200_000
    assert kept["rare"] == projection.MIN_PER_GROUP  # 40 by proportion: raised to the floor
    assert kept["mid"] == 9_600 * 20_000 // 200_000
    np.testing.assert_array_equal(rows, projection.thin_rows(groups, 20_000))
    assert not np.array_equal(rows, projection.thin_rows(groups, 20_000, seed=1))


def test_box_and_lasso_select_every_point_inside_drawn_or_not():
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), -1).reshape(-1, 2)
    box = projection.rows_in_regions(grid, boxes=[([5.5, 2.5], [1.5, 3.5])])
    assert set(map(tuple, grid[box])) == {(x, y) for x in (3, 4, 5) for y in (2, 3)}
    # a triangle (lasso): x >= 1, y >= 1, x + y <= 7 (its long side is x + y = 7.1)
    tri = projection.rows_in_regions(grid, lassos=[([0.9, 6.2, 0.9], [0.9, 0.9, 6.2])])
    assert set(map(tuple, grid[tri])) == {(x, y) for x in range(10) for y in range(10)
                                          if x >= 1 and y >= 1 and x + y <= 7}
    both = projection.rows_in_regions(grid, boxes=[([5.5, 2.5], [1.5, 3.5])],
                                      lassos=[([0.9, 6.2, 0.9], [0.9, 0.9, 6.2])])
    np.testing.assert_array_equal(both, np.union1d(box, tri))
    assert projection.rows_in_regions(grid).size == 0


def test_nearest_report_is_found_without_a_float64_copy_of_the_reports():
    """A typed retrieval query is checked against every report of the index: at 200,000
    reports a float64 copy of them cost 0.3 s per query (float32 in place: 0.05 s)."""
    import tracemalloc

    from eclip.index.calibration import nearest_similarity

    rng = np.random.default_rng(0)
    texts = rng.standard_normal((20_000, 256)).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    query = texts[[123]] + 0.01
    tracemalloc.start()
    best = nearest_similarity(query, texts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    expect = (texts @ (query[0] / np.linalg.norm(query[0]))).max()
    assert_close(best[0], expect)  # float32 dot products summed in another order
    assert peak < texts.nbytes / 4  # old: a float64 copy, twice the matrix itself


# --------------------------------------------------------------------------- retrieval calibration
def _index_on_disk(path, seed: int = 0):
    """A small complete index in the on-disk format (random unit rows), opened memory-mapped."""
    from eclip.index.store import (
        INDEX_VERSION,
        open_index,
        save_npy,
        write_list,
        write_meta,
    )

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    save_npy(path / "image_emb.npy", _unit_rows(rng.standard_normal((40, 8))))
    save_npy(path / "text_emb.npy", _unit_rows(rng.standard_normal((30, 8))))
    save_npy(path / "text_index.npy", rng.integers(0, 30, 40))
    write_list(path / "ids.json", [f"c{i}" for i in range(40)])
    write_list(path / "texts.json", [f"t{i}" for i in range(30)])
    write_meta(path, {"weights_sha256": "w", "config_sha256": "c", "data_fingerprint": "d",
                      "version": INDEX_VERSION})
    return open_index(path)


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def _no_recompute(monkeypatch, cal):
    def refuse(*_a, **_k):
        raise AssertionError("the calibration was computed again")
    monkeypatch.setattr(cal, "report_neighbours", refuse)


def test_retrieval_calibration_is_kept_with_the_index_for_the_next_process(tmp_path, monkeypatch):
    """At 200,000 cases a server's first retrieval spent ~30 s calibrating; a new process
    (an empty memory cache) reads what the first one kept in the index folder."""
    from eclip.index import calibration as cal
    from eclip.index.store import open_index

    first = cal.pair_calibration(_index_on_disk(tmp_path / "idx"))
    assert (tmp_path / "idx" / cal.SAVED).is_file()
    cal._CACHE.clear()
    _no_recompute(monkeypatch, cal)
    monkeypatch.chdir(tmp_path)  # the same build reopened, its folder named another way
    again = cal.pair_calibration(open_index("idx"))
    np.testing.assert_array_equal(again.matched, first.matched)
    np.testing.assert_array_equal(again.neighbours, first.neighbours)


def test_a_kept_calibration_is_not_used_for_another_build_in_the_same_folder(tmp_path):
    from eclip.index import calibration as cal

    old = cal.pair_calibration(_index_on_disk(tmp_path / "idx", seed=0))
    cal._CACHE.clear()
    rebuilt = _index_on_disk(tmp_path / "idx", seed=1)  # same meta, new embedding files
    fresh = cal.pair_calibration(rebuilt)
    expect = np.sort(cal.matched_pair_scores(rebuilt.image_emb, rebuilt.text_emb, rebuilt.text_index))
    assert_close(fresh.matched, expect)
    assert not np.array_equal(fresh.matched, old.matched)
