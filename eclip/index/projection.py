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
