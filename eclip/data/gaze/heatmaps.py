"""Fixations -> heatmaps on the stored image's grid, and heatmap files (see ``eclip.data.gaze`` for the conventions)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr

from eclip.data.manifest import save_array_npz
from eclip.errors import GazeFormatError
from eclip.data.gaze.fixations import EGD_SIGMA, FIXATION_COLUMNS, SHOWN_COLUMNS, _check_shape

def _axis_profiles(centres: np.ndarray, sigmas: np.ndarray, n_native: int, n_out: int,
                   boundary: str, lo: np.ndarray | None = None,
                   hi: np.ndarray | None = None) -> np.ndarray:
    """(K, n_out): per fixation, the mean over each working pixel's native footprint of a
    unit-mass 1-D Gaussian. ``boundary='reflect'`` folds the mass beyond the image edges
    back (scipy's default mode); ``'clip'`` drops mass outside [lo, hi) (default: image)."""
    scale = n_out / n_native
    edges = np.arange(n_out + 1, dtype=np.float64) / scale - 0.5
    c, sg = centres[:, None], sigmas[:, None]
    if boundary == "reflect":
        # The mirror-extended signal is symmetric about -0.5 and periodic with 2N, so the
        # fold-back is a sum over images of the centre; a few periods cover 8 sigma.
        period = 2.0 * n_native
        reps = int(np.ceil(8.0 * float(np.max(sigmas)) / period)) + 1
        cdf = np.zeros((len(centres), n_out + 1))
        for m in range(-reps, reps + 1):
            for img in (c + m * period, -1.0 - c + m * period):
                cdf += ndtr((edges[None, :] - img) / sg)
        mass = np.diff(cdf, axis=1)
    elif boundary == "clip":
        lo = np.full(len(centres), -0.5) if lo is None else np.maximum(lo, -0.5)
        hi = np.full(len(centres), n_native - 0.5) if hi is None else np.minimum(hi, n_native - 0.5)
        a = np.clip(edges[None, :-1], lo[:, None], hi[:, None])
        b = np.clip(edges[None, 1:], lo[:, None], hi[:, None])
        mass = np.maximum(ndtr((b - c) / sg) - ndtr((a - c) / sg), 0.0)
    else:
        raise ValueError(f"unknown boundary {boundary!r}")
    return mass * scale  # mass per native pixel of the footprint


def _check_fixations(fix: pd.DataFrame, cols: Sequence[str]) -> None:
    if not isinstance(fix, pd.DataFrame):
        raise GazeFormatError(f"fixations must be a DataFrame, got {type(fix).__name__}.")
    missing = [c for c in cols if c not in fix.columns]
    if missing:
        raise GazeFormatError(f"fixations lack column(s) {missing}; "
                              f"expected {list(FIXATION_COLUMNS)}.")
    if len(fix) == 0:
        raise GazeFormatError("no fixations: cannot draw a heatmap from an empty reading.")
    vals = fix[list(cols)].to_numpy(dtype=float)
    if not np.all(np.isfinite(vals)):
        raise GazeFormatError(f"fixations contain NaN/inf in {list(cols)}; read them with the "
                              "read_*_fixations functions, which drop such rows.")


def heatmap_egd(fix: pd.DataFrame, native_shape: tuple[int, int],
                out_shape: tuple[int, int] | None = None, sigma: float = EGD_SIGMA) -> np.ndarray:
    """EGD-CXR recipe: +1 per fixation, Gaussian ``sigma`` native pixels, mirror boundary.

    Computed directly on ``out_shape`` (default: native); each value is the mean over the
    working pixel's footprint of the native-resolution heatmap.
    """
    _check_fixations(fix, ("x", "y"))
    H, W = _check_shape(native_shape, "native_shape")
    h, w = _check_shape(out_shape if out_shape is not None else native_shape, "out_shape")
    if not sigma > 0:
        raise GazeFormatError(f"sigma must be > 0, got {sigma!r}.")
    k = len(fix)
    sig = np.full(k, float(sigma))
    px = _axis_profiles(fix["x"].to_numpy(float), sig, W, w, "reflect")
    py = _axis_profiles(fix["y"].to_numpy(float), sig, H, h, "reflect")
    return (py.T @ px).astype(np.float32)


def heatmap_reflacx(fix: pd.DataFrame, native_shape: tuple[int, int],
                    out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """REFLACX recipe: duration-weighted Gaussians of sigma = 1 degree, drawn over the shown
    region (``shown_*`` columns; whole image if absent), normalised to sum 1 on ``out_shape``."""
    _check_fixations(fix, FIXATION_COLUMNS)
    H, W = _check_shape(native_shape, "native_shape")
    h, w = _check_shape(out_shape if out_shape is not None else native_shape, "out_shape")
    weights = fix["duration"].to_numpy(float)
    if np.any(weights <= 0) or np.any(fix[["ppd_x", "ppd_y"]].to_numpy(float) <= 0):
        raise GazeFormatError("fixations need duration > 0 and pixels-per-degree > 0.")
    shown = {c: fix[c].to_numpy(float) - 0.5 for c in SHOWN_COLUMNS if c in fix.columns}
    px = _axis_profiles(fix["x"].to_numpy(float), fix["ppd_x"].to_numpy(float), W, w, "clip",
                        shown.get("shown_xmin"), shown.get("shown_xmax"))
    py = _axis_profiles(fix["y"].to_numpy(float), fix["ppd_y"].to_numpy(float), H, h, "clip",
                        shown.get("shown_ymin"), shown.get("shown_ymax"))
    hm = py.T @ (px * weights[:, None])
    total = hm.sum()
    if not total > 0:
        raise GazeFormatError("heatmap is empty: every fixation lies outside its shown region.")
    return (hm / total).astype(np.float32)


# ----------------------------------------------------------------------------- utilities


def _check_heatmap(hm, what: str = "heatmap") -> np.ndarray:
    arr = np.asarray(hm, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise GazeFormatError(f"{what} must be a non-empty 2-D array, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise GazeFormatError(f"{what} contains NaN or inf.")
    if np.any(arr < 0):
        raise GazeFormatError(f"{what} has negative values; heatmaps are non-negative.")
    return arr


def average_heatmaps(heatmaps: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of several readings of one image, each first normalised to sum 1 (so a long
    reading does not outweigh a short one). Result sums to 1."""
    if len(heatmaps) == 0:
        raise GazeFormatError("average_heatmaps needs at least one heatmap.")
    arrays = [_check_heatmap(hm, f"heatmap {i}") for i, hm in enumerate(heatmaps)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise GazeFormatError(f"heatmaps to average differ in shape: {sorted(shapes)}; "
                              "resize them to the stored image's shape first.")
    acc = np.zeros(arrays[0].shape)
    for i, a in enumerate(arrays):
        s = a.sum()
        if not s > 0:
            raise GazeFormatError(f"heatmap {i} is all zeros; it cannot be normalised.")
        acc += a / s
    return (acc / len(arrays)).astype(np.float32)


def resize_heatmap(hm: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Resize with the module's pixel-centre convention: exact area averaging when
    shrinking both axes, bilinear otherwise. Values stay densities (a constant map stays
    constant); renormalise afterwards if you need sum 1."""
    from PIL import Image

    arr = _check_heatmap(hm)
    h, w = _check_shape(out_shape, "out_shape")
    if arr.shape == (h, w):
        return arr.astype(np.float32)
    if h <= arr.shape[0] and w <= arr.shape[1]:
        out = _overlap_matrix(arr.shape[0], h) @ arr @ _overlap_matrix(arr.shape[1], w).T
        return out.astype(np.float32)
    img = Image.fromarray(arr.astype(np.float32), mode="F")
    out = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.maximum(np.asarray(out, dtype=np.float32), 0.0)


def _overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of exact area averaging along one axis (PIL's BOX filter is
    exact only for integer factors): the share of output pixel j's footprint covered by
    input pixel i."""
    s = n_out / n_in
    j = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    overlap = np.minimum((j + 1) / s, i + 1) - np.maximum(j / s, i)
    return np.clip(overlap, 0.0, None) * s


def save_heatmap(path: str | os.PathLike, hm: np.ndarray, durable: bool = True) -> Path:
    """Store as compressed .npz, key "heatmap", float16 (the dataset contract), atomically.

    The map is scaled to peak 1 before the cast: a sum-to-1 map at 256 px has tails near
    1e-6, below float16's normal range, while every consumer (the heatmap processor, the
    gaze-agreement metrics) is invariant to a global scale. Renormalise after loading if a
    sum-to-1 distribution is needed.
    """
    arr = _check_heatmap(hm)
    peak = float(arr.max())
    if peak > 0:
        arr = arr / peak
    half = arr.astype(np.float16)
    save_array_npz(path, durable=durable, heatmap=half)
    return Path(path)


def load_heatmap(path: str | os.PathLike) -> np.ndarray:
    """Load a stored heatmap as float32; ``GazeFormatError`` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise GazeFormatError(f"{path}: heatmap file not found.")
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
            if "heatmap" not in data.files:
                raise GazeFormatError(f"{path}: no 'heatmap' array (found {data.files}); "
                                      "heatmaps are saved with save_heatmap().")
            arr = data["heatmap"]
    except GazeFormatError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types for broken files
        raise GazeFormatError(f"{path}: not a readable .npz heatmap: {exc}") from exc
    return _check_heatmap(arr, f"{path}: heatmap").astype(np.float32)


# ----------------------------------------------------------------------------- one map per reading
READINGS = "readings"  # gaze/<id>/readings/<reading>.npz beside the averaged gaze/<id>.npz


def readings_dir(root: str | os.PathLike, image_id: str) -> Path:
    """Where each reading's own map of ``image_id`` is kept (the gaze-agreement ceiling's input)."""
    return Path(root) / "gaze" / str(image_id) / READINGS


def save_readings(root: str | os.PathLike, image_id: str, readings: dict[str, np.ndarray],
                  durable: bool = True) -> None:
    """``gaze/<id>/readings/<name>.npz`` (key ``heatmap``, as ``save_heatmap``) for each
    reading, replacing what an earlier import or build left for the image."""
    folder = readings_dir(root, image_id)
    for old in folder.glob("*.npz") if folder.is_dir() else ():
        old.unlink()
    for name, hm in readings.items():
        path = folder / f"{name}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_heatmap(path, hm, durable=durable)


def load_readings(root: str | os.PathLike, image_id: str, shape: tuple[int, int]) -> list[np.ndarray]:
    """Each stored reading's map of ``image_id`` (peak 1, on ``shape``'s grid), in name order;
    [] when the image has none."""
    folder = readings_dir(root, image_id)
    maps = [load_heatmap(p) for p in sorted(folder.glob("*.npz"))] if folder.is_dir() else []
    return [m if m.shape == tuple(shape) else resize_heatmap(m, shape) for m in maps]
