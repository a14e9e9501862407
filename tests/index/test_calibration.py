"""Retrieval similarity read against the index's matched image-report pairs, on hand-made
embeddings whose cosines are known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eclip.errors import EvaluationError
from eclip.index import calibration as cal
from eclip.index.store import EmbeddingIndex
from floats import assert_close


def _unit(angles_deg) -> np.ndarray:
    a = np.radians(np.asarray(angles_deg, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def _index(path: Path, image_angles, text_angles, text_index, **meta) -> EmbeddingIndex:
    """Images and reports as 2-D unit vectors: cos(image, report) = cos(angle difference)."""
    meta = {"weights_sha256": "w", "config_sha256": "c", "data_fingerprint": "d", **meta}
    return EmbeddingIndex(path=path, meta=meta, ids=[f"c{i}" for i in range(len(image_angles))],
                          texts=[f"t{i}" for i in range(len(text_angles))],
                          image_emb=_unit(image_angles), text_emb=_unit(text_angles),
                          text_index=np.asarray(text_index, dtype=np.int64))


def test_matched_pairs_are_each_image_with_its_own_report(tmp_path):
    # report 0 at 0 deg, report 1 at 90 deg; images at 0, 60, 90 and 180 deg
    idx = _index(tmp_path, [0, 60, 90, 180], [0, 90], [0, 0, 1, 0])
    got = cal.matched_pair_scores(idx.image_emb, idx.text_emb, idx.text_index)
    assert_close(got, [1.0, 0.5, 1.0, -1.0])


def test_matched_pairs_read_in_chunks_equal_one_pass(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 360, 37)
    idx = _index(tmp_path, angles, [0, 120, 240], rng.integers(0, 3, 37))
    whole = cal.matched_pair_scores(idx.image_emb, idx.text_emb, idx.text_index)
    monkeypatch.setattr(cal, "CHUNK_ROWS", 5)
    np.testing.assert_array_equal(
        cal.matched_pair_scores(idx.image_emb, idx.text_emb, idx.text_index), whole)


def _scale(matched, neighbours=()) -> cal.PairCalibration:
    return cal.PairCalibration(np.sort(np.asarray(matched, dtype=np.float64)),
                               np.sort(np.asarray(neighbours, dtype=np.float64)))


def test_percentile_is_the_share_of_true_pairs_at_or_below_the_score():
    c = _scale(np.linspace(0.01, 1.0, 100))  # 0.01, 0.02, ..., 1.00
    assert_close(c.percentile([0.0, 0.005, 0.505, 1.0, 2.0]),
                 [0.0, 0.0, 50.0, 100.0, 100.0])


def test_close_match_floor_is_the_fifth_percentile_of_true_pairs():
    c = _scale(np.linspace(0.01, 1.0, 100))
    assert c.floor == pytest.approx(0.05)  # 5 of the 100 true pairs are at or below it
    assert c.is_close([0.0499, 0.05, 0.9]).tolist() == [False, True, True]
    small = _scale([0.2, 0.4, 0.6])  # 5% of 3 pairs: the lowest one
    assert small.floor == pytest.approx(0.2) and small.is_close([0.2]).all()
    assert not small.is_close([0.19]).any()


def test_a_far_query_is_no_close_match_and_a_true_report_is(tmp_path):
    """Images lie within 10 deg of their own report; a query 90 deg from every report is
    farther from every image than any true pair, a query equal to a report is not."""
    idx = _index(tmp_path, [0, 10, 20, 180, 190, 200], [10, 190], [0, 0, 0, 1, 1, 1])
    far = _unit([100])
    verdict = cal.judge_hits(idx, idx.image_text_scores(far)[:, 0], far)  # 80-100 deg away
    assert verdict.no_close_match and not verdict.close and verdict.percentiles.max() == 0.0
    scores = idx.image_text_scores(idx.text_emb[0])[:, 0]
    verdict = cal.judge_hits(idx, scores, idx.text_emb[0])
    assert not verdict.no_close_match and verdict.percentiles.max() == 100.0
    assert verdict.nearest_report == pytest.approx(1.0) and verdict.best == pytest.approx(1.0)
    assert cal.pair_calibration(idx).is_close(scores).sum() == 3


def test_report_neighbours_skip_the_report_itself(tmp_path):
    # reports at 0, 10 and 90 deg: nearest others are 10, 10 and 80 deg away
    got = cal.report_neighbours(_unit([0, 10, 90]))
    assert_close(got, np.cos(np.radians([10, 10, 80])))
    assert cal.report_neighbours(_unit([0])).size == 0  # one report: no scale


def test_report_neighbours_of_a_sample_read_in_chunks_equal_all(monkeypatch):
    texts = _unit(np.random.default_rng(1).uniform(0, 360, 50))
    whole = cal.report_neighbours(texts)
    monkeypatch.setattr(cal, "CHUNK_ROWS", 7)
    assert_close(cal.report_neighbours(texts), whole)
    sample = cal.report_neighbours(texts, sample=10)
    assert len(sample) == 10 and set(np.round(sample, 6)) <= set(np.round(whole, 6))


def test_a_query_unlike_every_report_is_no_close_match_however_its_images_score(tmp_path):
    """Images score the same for both queries; only the text side tells them apart: the
    reports (0-40 deg, 10 apart) have a neighbour at cos 10 deg, the query is 30 deg off."""
    idx = _index(tmp_path, [0, 10, 20, 30, 40], [0, 10, 20, 30, 40], [0, 1, 2, 3, 4])
    c = cal.pair_calibration(idx)
    assert c.novel_floor == pytest.approx(np.cos(np.radians(10)))
    scores = np.ones(3)  # as close as the closest true pair
    assert cal.judge_hits(idx, scores, _unit([45])).like_reports  # 5 deg from a report
    odd = cal.judge_hits(idx, scores, _unit([70]))
    assert odd.close and not odd.like_reports and odd.no_close_match
    assert odd.nearest_report == pytest.approx(np.cos(np.radians(30)))
    assert not cal.judge_hits(idx, scores).no_close_match  # an image query: no text check


def test_one_report_has_no_text_scale_so_only_image_scores_count(tmp_path):
    idx = _index(tmp_path, [0, 5], [0], [0, 0])
    verdict = cal.judge_hits(idx, [1.0], _unit([170]))
    assert cal.pair_calibration(idx).novel_floor is None and not verdict.no_close_match


def test_calibration_is_cached_per_index_build(tmp_path):
    idx = _index(tmp_path / "a", [0, 30], [0], [0, 0])
    first = cal.pair_calibration(idx)
    assert cal.pair_calibration(idx) is first
    rebuilt = _index(tmp_path / "a", [0, 90], [0], [0, 0], weights_sha256="w2")
    assert cal.pair_calibration(rebuilt) is not first
    assert_close(cal.pair_calibration(rebuilt).matched, [0.0, 1.0])


def test_an_empty_index_says_what_to_do():
    with pytest.raises(EvaluationError, match="at least one case"):
        _scale([])
