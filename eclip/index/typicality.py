"""How far an image is from what the model knows: its k-nearest-neighbour distance in the
image-embedding space to the training split, read as a percentile of the training images'
own (leave-one-out) kNN distances.

Percentile 50 is as close to the training images as a typical training image is to the
others; 100 is farther than every one of them. A training image scored here is left out of
its own neighbours, so the training split itself spreads evenly over 0-100.

Cost: the reference distances need REFERENCE_MAX x BANK_MAX dot products, computed once per
index and kept in ``TYPICALITY_CACHE``; on the 2,000-case demo corpus (1,6xx training
images, D = 256) that is ~0.1 s, and scoring one image afterwards ~1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eclip.errors import EvaluationError
from eclip.index import kept
from eclip.io import sha256_text
from eclip.memo import BoundedCache

K = 10
BANK_MAX = 50_000  # training images searched for neighbours (a seeded sample beyond this)
REFERENCE_MAX = 4_000  # training images whose own scores form the percentile scale
CHUNK = 512  # query rows per matrix product: 512 x 50,000 float32 = 100 MB at most
UNUSUAL, FAR = 90.0, 99.0  # percentile bands named by ``Typicality.verdict``
TYPICALITY_CACHE = BoundedCache(8, "typicality references")


@dataclass(frozen=True)
class Typicality:
    distance: float  # mean cosine distance (1 - similarity) to the k nearest training images
    percentile: float  # share (0-100) of training images whose own distance is smaller
    k: int
    n_reference: int

    @property
    def verdict(self) -> str:
        if self.percentile >= FAR:
            return "far from every training image"
        return "unusual" if self.percentile >= UNUSUAL else "typical"


@dataclass(frozen=True)
class TypicalityReference:
    bank: np.ndarray  # [M, D] L2-normalised training embeddings
    bank_rows: np.ndarray  # [M] their rows in the index
    scores: np.ndarray  # [R] sorted leave-one-out kNN distances of reference images
    k: int

    def score(self, embedding: np.ndarray, row: int | None = None) -> Typicality:
        """Typicality of one L2-normalised embedding; ``row``: its index row, when it is
        one of the dataset's images (left out of its own neighbours)."""
        exclude = np.array([_bank_position(self.bank_rows, row)])
        dist = float(knn_distance(np.atleast_2d(embedding), self.bank, self.k, exclude)[0])
        below = np.searchsorted(self.scores, dist, side="left")
        ties = np.searchsorted(self.scores, dist, side="right") - below
        pct = 100.0 * (below + ties / 2) / len(self.scores)
        return Typicality(dist, float(pct), self.k, len(self.scores))


def _bank_position(bank_rows: np.ndarray, row: int | None) -> int:
    if row is None:
        return -1
    hit = np.flatnonzero(bank_rows == row)
    return int(hit[0]) if hit.size else -1


def knn_distance(queries: np.ndarray, bank: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance of each query to its ``k`` nearest bank rows; ``exclude[i]`` is
    a bank position query i may not count (itself), or -1."""
    queries = np.asarray(queries, dtype=np.float32)
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), CHUNK):
        sims = queries[start:start + CHUNK] @ np.asarray(bank, dtype=np.float32).T
        if exclude is not None:
            skip = exclude[start:start + CHUNK]
            hit = skip >= 0
            sims[np.flatnonzero(hit), skip[hit]] = -np.inf
        kk = min(k, sims.shape[1] - (0 if exclude is None else 1))
        top = -np.partition(-sims, kk - 1, axis=1)[:, :kk]
        out[start:start + CHUNK] = 1.0 - top.mean(axis=1)
    return out


def fit_reference(image_emb: np.ndarray, train_rows: np.ndarray, k: int = K,
                  seed: int = 0) -> TypicalityReference:
    """The training bank and the sorted leave-one-out scores of (a sample of) it."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    if len(train_rows) < k + 1:
        raise EvaluationError(f"typicality needs at least {k + 1} training images, this index "
                              f"has {len(train_rows)}; build the index over a dataset with a "
                              "'train' split.")
    rng = np.random.default_rng(seed)
    bank_rows = np.sort(_sample(rng, train_rows, BANK_MAX))
    bank = np.asarray(image_emb[bank_rows], dtype=np.float32)
    ref = np.sort(_sample(rng, np.arange(len(bank_rows)), REFERENCE_MAX))
    scores = np.sort(knn_distance(bank[ref], bank, k, exclude=ref))
    return TypicalityReference(bank, bank_rows, scores, k)


def _sample(rng: np.random.Generator, items: np.ndarray, limit: int) -> np.ndarray:
    return items if len(items) <= limit else rng.choice(items, size=limit, replace=False)


SAVED = "typicality.npz"


def reference_for(index, train_rows: np.ndarray, k: int = K) -> TypicalityReference:
    """``fit_reference`` of an EmbeddingIndex, computed once per index build and training
    split: kept in memory and in the index folder (``typicality.npz``: at 200,000 cases the
    reference took ~3.3 s of every server process's first page)."""
    rows = np.asarray(train_rows, dtype=np.int64)
    key = kept.identity(index, sha256_text(rows.tobytes(), 16), k, BANK_MAX, REFERENCE_MAX)
    return TYPICALITY_CACHE.get_or_compute(key, lambda: _load_or_fit(index, rows, k, key))


def _load_or_fit(index, rows: np.ndarray, k: int, key: tuple) -> TypicalityReference:
    def fit() -> dict[str, np.ndarray]:
        ref = fit_reference(index.image_emb, rows, k)
        return {"bank_rows": ref.bank_rows, "scores": ref.scores}

    got = kept.load_or_compute(index, SAVED, key, fit)
    bank = np.asarray(index.image_emb[got["bank_rows"]], dtype=np.float32)  # ~0.05 s at 50,000
    return TypicalityReference(bank, got["bank_rows"], got["scores"], k)
