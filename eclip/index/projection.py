"""The 2-D map of an index: one joint, seeded UMAP of images and unique reports.

Images and reports are fitted together so the modality gap stays visible on the map. The
coordinates are stored next to the embeddings (``umap_image.npy``, ``umap_text.npy``) and
the settings in meta.json, so the map is computed once and can be added to an index later
without re-embedding. Large sets are fitted on a seeded sample (UMAP cost grows faster
than linearly) and the rest is placed with ``transform``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from eclip.index.store import EmbeddingIndex, save_npy, write_meta


def compute_umap(idx: EmbeddingIndex, seed: int = 0, n_neighbors: int = 15,
                 fit_max: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """One joint 2-D UMAP of images and unique reports, seeded, stored next to the index.

    Above ``fit_max`` points the map is fitted on a seeded subsample and the rest is
    placed with ``transform`` (UMAP cost grows faster than linearly)."""
    points = np.concatenate([np.asarray(idx.image_emb), np.asarray(idx.text_emb)]).astype(np.float32)
    t0 = time.perf_counter()
    coords = umap_2d(points, seed=seed, n_neighbors=n_neighbors, fit_max=fit_max)
    n = len(idx.image_emb)
    save_npy(idx.path / "umap_image.npy", coords[:n])
    save_npy(idx.path / "umap_text.npy", coords[n:])
    meta = dict(idx.meta, umap={"seed": seed, "n_neighbors": n_neighbors, "fit_max": fit_max,
                                "seconds": round(time.perf_counter() - t0, 3)})
    write_meta(idx.path, meta)
    idx.meta, idx.umap_image, idx.umap_text = meta, coords[:n], coords[n:]
    return coords[:n], coords[n:]


def umap_2d(points: np.ndarray, seed: int = 0, n_neighbors: int = 15, fit_max: int = 50_000) -> np.ndarray:
    """Seeded 2-D UMAP coordinates [N, 2] of ``points`` (zeros for fewer than 4 points)."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.cwd() / ".cache" / "numba"))
    import umap

    n = len(points)
    if n < 4:  # UMAP needs a few neighbours; a trivial layout is honest for tiny sets
        return np.zeros((n, 2), np.float32)
    k = max(2, min(n_neighbors, n - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.1, metric="euclidean",
                        random_state=seed, init="random" if n < 50 else "spectral")
    with warnings.catch_warnings():  # umap warns that a seed disables its parallelism
        warnings.filterwarnings("ignore", message=".*random_state.*|.*n_jobs.*")
        return _fit_umap(reducer, points, seed, fit_max)


def _fit_umap(reducer, points: np.ndarray, seed: int, fit_max: int) -> np.ndarray:
    """Fit on all points, or above ``fit_max`` on a seeded sample and transform the rest."""
    n = len(points)
    if n <= fit_max:
        return reducer.fit_transform(points).astype(np.float32)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=fit_max, replace=False))
    reducer.fit(points[fit_rows])
    coords = np.empty((n, 2), np.float32)
    for start in range(0, n, 20_000):
        coords[start:start + 20_000] = reducer.transform(points[start:start + 20_000])
    coords[fit_rows] = reducer.embedding_
    return coords


# --------------------------------------------------------------------------- drawing the map
MIN_PER_GROUP = 300  # a rare finding keeps this many points (or all it has) on a thinned map


def thin_rows(groups, max_points: int, seed: int = 0, min_per_group: int = MIN_PER_GROUP) -> np.ndarray:
    """Sorted rows to draw when a map of ``len(groups)`` points is thinned to about
    ``max_points``: all of them when they fit, else a seeded sample of each group in
    proportion to its size, and at least ``min_per_group`` of every group so that rare
    findings stay visible (so the total can pass ``max_points`` by a little).

    A browser draws 200,000 WebGL points, but the figure's JSON (coordinates, ids, hover
    text) grows with every point: at 200k cases + reports it was ~9 MB per page run."""
    groups = np.asarray(groups)
    n = len(groups)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    quota = np.minimum(counts, np.maximum(min_per_group, counts * max_points // n))
    keep = [np.sort(rng.choice(np.flatnonzero(inverse == g), size=int(q), replace=False))
            for g, q in enumerate(quota)]
    return np.sort(np.concatenate(keep))


def rows_in_box(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Boolean [N]: points inside the rectangle spanned by ``xs`` and ``ys`` (either order)."""
    (x0, x1), (y0, y1) = sorted(xs[:2]), sorted(ys[:2])
    x, y = xy[:, 0], xy[:, 1]
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def rows_in_lasso(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Boolean [N]: points inside the closed polygon ``xs``, ``ys`` (even-odd rule, as
    plotly's lasso). One vectorised pass per edge: ~100 edges x 200k points in ~0.1 s."""
    px, py = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    inside = np.zeros(len(xy), bool)
    for x0, y0, x1, y1 in zip(px, py, np.roll(px, -1), np.roll(py, -1)):
        crosses = (y0 > y) != (y1 > y)  # the edge spans the point's height
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def rows_in_regions(xy: np.ndarray, boxes=(), lassos=()) -> np.ndarray:
    """Sorted rows of ``xy`` inside any of the boxes or lassos, each an (xs, ys) pair: a
    selection on a thinned map covers every point in the region, drawn or not."""
    hit = np.zeros(len(xy), bool)
    for xs, ys in boxes:
        hit |= rows_in_box(xy, xs, ys)
    for xs, ys in lassos:
        if len(xs) >= 3:
            hit |= rows_in_lasso(xy, xs, ys)
    return np.flatnonzero(hit)
