"""Two models' indexes of the same cases, side by side: one 2-D map fitted onto the other,
and the cases whose neighbourhoods changed most between the two embedding spaces.

Two UMAPs of different embeddings come out in arbitrary orientation, scale and position,
so the compare model's map is moved onto the active one by the similarity transform
(rotation or reflection, uniform scale, shift) that best fits its image points onto theirs
(orthogonal Procrustes). The maps themselves are not changed otherwise.

Neighbourhood change of a case = 1 - |kNN_A ∩ kNN_B| / k, its k nearest cases (cosine, in
each model's full image-embedding space, not on the 2-D map) under model A and model B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eclip.errors import EvaluationError

# Exact kNN costs N^2 D: 2,000 cases took 0.9 s and 10,000 took 14 s on 2 cores under a load
# of 17 (others' jobs running). Above this, neighbourhoods are measured within a seeded
# sample of this many cases (NaN elsewhere).
NEIGHBOUR_MAX = 10_000
_CHUNK = 2048  # rows of the similarity matrix held at once (8 MiB per 1,000 columns)


@dataclass(frozen=True)
class Similarity:
    """x -> scale * (x - source_mean) @ rotation + target_mean."""
    rotation: np.ndarray  # [2, 2] orthogonal (a reflection allowed: UMAP's handedness is arbitrary)
    scale: float
    source_mean: np.ndarray
    target_mean: np.ndarray
    residual: float  # RMS distance after the fit, as a fraction of the target's RMS spread

    def apply(self, points: np.ndarray) -> np.ndarray:
        moved = self.scale * (np.asarray(points, np.float64) - self.source_mean) @ self.rotation
        return (moved + self.target_mean).astype(np.float32)


def procrustes_fit(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity transform that moves ``source`` [N, d] closest (least squares) onto
    ``target`` [N, d], row i onto row i."""
    x, y = _paired_points(source, target)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    u, s, vt = np.linalg.svd(xc.T @ yc)
    rotation = u @ vt
    norm = float((xc ** 2).sum())
    scale = float(s.sum() / norm) if norm > 0 else 1.0
    spread = float(np.sqrt((yc ** 2).sum(axis=1).mean())) or 1.0
    rms = float(np.sqrt(((scale * xc @ rotation - yc) ** 2).sum(axis=1).mean()))
    return Similarity(rotation, scale, mx, my, rms / spread)


def _paired_points(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise EvaluationError(f"Procrustes needs two maps of the same cases, row for row; got "
                              f"shapes {x.shape} and {y.shape}. Rebuild both indexes over the "
                              "same dataset.")
    return x, y


def nearest_neighbours(emb: np.ndarray, k: int) -> np.ndarray:
    """[N, k] row indices of each row's k most cosine-similar other rows (self excluded),
    best first, from L2-normalised embeddings. Ties at the k-th place go either way.

    Through torch: its matmul and topk are ~3x faster than numpy's product and argpartition
    on 2 cores, and numpy's product would wake OpenBLAS's spinning pool beside torch's."""
    import torch

    emb_t = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))
    n = len(emb_t)
    k = max(min(k, n - 1), 0)
    out = np.empty((n, k), np.int64)
    for start in range(0, n, _CHUNK):
        sims = emb_t[start:start + _CHUNK] @ emb_t.T
        rows = torch.arange(start, min(start + _CHUNK, n))
        sims[rows - start, rows] = -torch.inf  # a case is not its own neighbour
        out[start:start + len(rows)] = torch.topk(sims, k, dim=1).indices.numpy()
    return out


def neighbours_of(emb: np.ndarray, row: int, k: int) -> np.ndarray:
    """Row indices of one case's k most cosine-similar other cases, best first."""
    sims = np.asarray(emb, np.float32) @ np.asarray(emb[row], np.float32)
    sims[row] = -np.inf
    return np.argsort(-sims, kind="stable")[:k]


def neighbourhood_change(emb_a: np.ndarray, emb_b: np.ndarray, k: int = 10,
                         max_cases: int = NEIGHBOUR_MAX, seed: int = 0) -> np.ndarray:
    """[N] share of each case's k nearest cases under model A that are not among its k
    nearest under model B (0: same neighbours, 1: none in common). Above ``max_cases`` rows
    the neighbourhoods are taken within a seeded sample and the other rows are NaN."""
    a, b = np.asarray(emb_a), np.asarray(emb_b)
    if len(a) != len(b):
        raise EvaluationError(f"the two indexes hold {len(a)} and {len(b)} cases; neighbourhoods "
                              "can only be compared over the same cases (same dataset).")
    rows = np.arange(len(a))
    if len(a) > max_cases:
        rows = np.sort(np.random.default_rng(seed).choice(len(a), max_cases, replace=False))
    change = np.full(len(a), np.nan)
    change[rows] = 1.0 - _overlap(nearest_neighbours(a[rows], k), nearest_neighbours(b[rows], k))
    return change


def _overlap(nn_a: np.ndarray, nn_b: np.ndarray) -> np.ndarray:
    """Per row, the share of nn_a's entries that also appear in nn_b's row."""
    if nn_a.shape[1] == 0:
        return np.ones(len(nn_a))
    shared = (nn_a[:, :, None] == nn_b[:, None, :]).any(axis=2)
    return shared.mean(axis=1)


def most_changed(change: np.ndarray, top: int) -> np.ndarray:
    """Row indices of the ``top`` largest changes, largest first (NaN rows never)."""
    change = np.asarray(change, np.float64)
    ok = np.flatnonzero(~np.isnan(change))
    order = ok[np.argsort(-change[ok], kind="stable")]
    return order[:top]
