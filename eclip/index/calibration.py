"""How close is close: retrieval scores read against the index's own image-report pairs.

A raw cosine similarity means little on its own. Each hit is placed among the similarities
of every image of the index with *its own* report (the matched pairs), because that answers
a reader's question, "is this as close as a real report is to its own image?": percentile 50
is as close as a typical true pair. Non-matching pairs would be a poor scale: a top-k hit is
the maximum over thousands of images, so it tops that distribution whatever the query says.

"No close match" has two causes, and a typed query needs both checks:

* no hit reaches ``FLOOR_PERCENTILE`` (5) of the matched pairs: every hit is farther apart
  than 95% of true pairs;
* the query is unlike every report of the index: its text similarity to the nearest report
  is below ``NOVEL_PERCENTILE`` (1) of the reports' similarities to their own nearest other
  report. Image scores cannot catch this. Under the shipped demo-eclip model over the
  2,000-case demo, true pairs span 0.16-0.43 (5th-95th percentile), and the best image of
  "xyzzy" scores 0.380 (percentile 89) against 0.317 (79) for "Small left pleural
  effusion.". On the text side all 16 nonsense queries tried had a nearest report at
  0.23-0.55, the 1% floor is 0.58, and 25 of 28 finding sentences were at 0.59-0.92 (the
  three below were device words the model does not tie to its reports: "ET tube" 0.41,
  "Support devices in place." 0.42, "Pacemaker." 0.44).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eclip.errors import EvaluationError
from eclip.index import kept
from eclip.index.store import EmbeddingIndex
from eclip.memo import BoundedCache

FLOOR_PERCENTILE = 5.0  # a hit below this percentile of matched pairs is not close
NOVEL_PERCENTILE = 1.0  # a query less like any report than this: unlike the index's reports
NEIGHBOUR_SAMPLE = 2000  # reports whose nearest neighbour sets the text scale (seeded sample)
CHUNK_ROWS = 65536  # bounds the memory-mapped rows read at once (65536 x 512 float32 = 128 MiB)

_CACHE = BoundedCache(8, "retrieval calibration")
# Kept beside the index: at 200,000 cases the calibration took ~30 s of a server's first
# retrieval (the 2,000 sampled reports against every report), once per index and process.
SAVED = "calibration.npz"


def _percentile_of(reference: np.ndarray, scores) -> np.ndarray:
    """Percent of ``reference`` (sorted) at or below each score, 0-100."""
    below = np.searchsorted(reference, np.asarray(scores, dtype=np.float64), side="right")
    return 100.0 * below / len(reference)


def _floor_of(reference: np.ndarray, percentile: float) -> float:
    """The smallest reference value at or above ``percentile``: a score is at or above the
    percentile exactly when it is at least this value (so floors and percentiles agree)."""
    k = max(math.ceil(percentile / 100.0 * len(reference)), 1)
    return float(reference[k - 1])


@dataclass(frozen=True)
class PairCalibration:
    """The scales of one index: sorted matched-pair image-report similarities, and sorted
    report-to-nearest-other-report text similarities (empty with fewer than two reports)."""

    matched: np.ndarray
    neighbours: np.ndarray
    floor_percentile: float = FLOOR_PERCENTILE
    novel_percentile: float = NOVEL_PERCENTILE

    def __post_init__(self):
        if len(self.matched) == 0:
            raise EvaluationError("the index has no image-report pairs to calibrate against; "
                                  "rebuild it over a dataset with at least one case.")

    def percentile(self, scores) -> np.ndarray:
        """Percent of matched pairs whose similarity is at or below each score (0-100)."""
        return _percentile_of(self.matched, scores)

    @property
    def floor(self) -> float:
        """The lowest image-report similarity counted as close."""
        return _floor_of(self.matched, self.floor_percentile)

    def is_close(self, scores) -> np.ndarray:
        return self.percentile(scores) >= self.floor_percentile

    @property
    def novel_floor(self) -> float | None:
        """The lowest query-to-nearest-report similarity of a query like the index's reports
        (None when the index has a single report, so there is no scale)."""
        return _floor_of(self.neighbours, self.novel_percentile) if len(self.neighbours) else None

    def is_like_reports(self, nearest: float) -> bool:
        floor = self.novel_floor
        return floor is None or nearest >= floor


@dataclass(frozen=True)
class Verdict:
    """What a page says about one query's hits."""

    calibration: PairCalibration
    percentiles: np.ndarray  # each hit among the matched pairs
    best: float  # the best hit's similarity
    close: bool  # some hit reaches the floor percentile of matched pairs
    nearest_report: float | None  # typed queries: text similarity to the closest report

    @property
    def like_reports(self) -> bool:
        return self.nearest_report is None or self.calibration.is_like_reports(self.nearest_report)

    @property
    def no_close_match(self) -> bool:
        return not (self.close and self.like_reports)


def matched_pair_scores(image_emb: np.ndarray, text_emb: np.ndarray,
                        text_index: np.ndarray) -> np.ndarray:
    """Cosine similarity of each image with its own report: [N], in row order. The index
    stores L2-normalised rows, so this is a row-wise dot product (read in chunks, as the
    arrays are memory-mapped)."""
    text_index = np.asarray(text_index)
    out = np.empty(len(text_index), dtype=np.float64)
    for start in range(0, len(text_index), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        img = np.asarray(image_emb[rows], dtype=np.float64)
        txt = np.asarray(text_emb[text_index[rows]], dtype=np.float64)
        out[rows] = np.einsum("nd,nd->n", img, txt)
    return out


def nearest_similarity(queries: np.ndarray, text_emb: np.ndarray,
                       skip: np.ndarray | None = None) -> np.ndarray:
    """Each query's cosine similarity to its most similar row of ``text_emb`` [Q]; with
    ``skip``, query q ignores row ``skip[q]`` (itself, when the queries are index rows)."""
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    q = (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    best = np.full(len(q), -np.inf)
    for start in range(0, len(text_emb), CHUNK_ROWS):
        # float32 over the stored matrix in place: a float64 copy of 200,000 reports took
        # 0.3 s of every retrieval query (0.05 s this way); products are kept as float64
        sims = (q @ np.asarray(text_emb[start:start + CHUNK_ROWS], dtype=np.float32).T).astype(np.float64)
        if skip is not None:
            own = np.flatnonzero((skip >= start) & (skip < start + sims.shape[1]))
            sims[own, skip[own] - start] = -np.inf
        best = np.maximum(best, sims.max(axis=1))
    return best


def report_neighbours(text_emb: np.ndarray, sample: int = NEIGHBOUR_SAMPLE) -> np.ndarray:
    """Each report's similarity to its nearest *other* report, for a seeded sample of at most
    ``sample`` reports (each against all): the scale of "like a report of this index"."""
    n = len(text_emb)
    if n < 2:
        return np.empty(0)
    rows = np.arange(n) if n <= sample else np.sort(
        np.random.default_rng(0).choice(n, sample, replace=False))
    return nearest_similarity(np.asarray(text_emb[rows]), text_emb, skip=rows)


def pair_calibration(index: EmbeddingIndex) -> PairCalibration:
    """The calibration of an ``EmbeddingIndex``, cached per index build (its folder and the
    weights, config and data hashes its meta.json records) in memory and in the index folder
    (``calibration.npz``), so it is computed once per index, not once per server process."""
    key = kept.identity(index)
    return _CACHE.get_or_compute(key, lambda: PairCalibration(**kept.load_or_compute(
        index, SAVED, key, lambda: {
            "matched": np.sort(matched_pair_scores(index.image_emb, index.text_emb, index.text_index)),
            "neighbours": np.sort(report_neighbours(index.text_emb))})))


def judge_hits(index: EmbeddingIndex, scores, query_emb: np.ndarray | None = None) -> Verdict:
    """The verdict on a query's hits (their ``scores``); ``query_emb`` for a typed query,
    which is also checked against the index's reports."""
    cal = pair_calibration(index)
    scores = np.asarray(scores, dtype=np.float64)
    nearest = None if query_emb is None else float(nearest_similarity(query_emb, index.text_emb)[0])
    return Verdict(calibration=cal, percentiles=cal.percentile(scores),
                   best=float(scores.max()) if scores.size else float("nan"),
                   close=bool(cal.is_close(scores).any()), nearest_report=nearest)
