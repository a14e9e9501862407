"""Ground-truth regions that ship with the public gaze sets, rasterised onto the stored image grid.

REFLACX ``main_data/<reading id>/anomaly_location_ellipses.csv`` (one file per reading, written
by ``create_main_table.py`` in github.com/ricbl/eyetracking): ``xmin, ymin, xmax, ymax`` (native
DICOM pixels: the box the ellipse is inscribed in), ``certainty`` (1 "Unlikely" ... 5
"Consistent with"), then one True/False column per REFLACX label of the reading's phase (an
ellipse may carry several). We keep ellipses of certainty >= 3 ("Possibly" or higher), the cut
the dataset's own inter-rater analysis uses (``interrater.py``: ``certainty > 2``).

EGD-CXR ``bounding_boxes.csv``: ``dicom_id, bbox_name, x1, x2, y1, y2`` (native pixels). These
outline *anatomy* (cardiac silhouette, clavicles, costophrenic angles, lung zones, left/right
lung, mediastinum...; the dataset's validation counts fixations per anatomy), not findings, so
they are never lesion truth: the two lung boxes give the image's lung fields instead (both lungs
and the mediastinum between them, as the demo's phantom lung fields).

Rasterising follows ``eclip.data.gaze``'s pixel-centre convention: a working pixel belongs to a
shape when its centre, mapped to native coordinates ((q + 0.5) / s - 0.5), lies inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from eclip.data.manifest import save_array_npz
from eclip.errors import GazeFormatError

ELLIPSE_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "certainty")
MIN_CERTAINTY = 3  # "Possibly" or higher, as REFLACX's inter-rater analysis
EGD_BOX_COLUMNS = ("dicom_id", "bbox_name", "x1", "x2", "y1", "y2")
LUNG_BOXES = ("right lung", "left lung")
LUNG_DIR = "lungs"
LUNG_KEY = "lung_fields"  # the array in lungs/<id>.npz


class Shape(NamedTuple):
    """One annotated shape in native pixel coordinates; a NamedTuple so a Job's signature
    (JSON) changes when an annotation does."""

    kind: str  # "ellipse" (inscribed in the box) | "box"
    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def read_reflacx_ellipses(path: str | Path) -> list[Shape]:
    """One Shape per (ellipse, label it carries) of a reading, certainty >= MIN_CERTAINTY."""
    df = _read_csv(path, ELLIPSE_COLUMNS, "REFLACX anomaly_location_ellipses.csv")
    labels = [c for c in df.columns if c not in ELLIPSE_COLUMNS]
    kept = df[pd.to_numeric(df["certainty"], errors="coerce") >= MIN_CERTAINTY]
    return [Shape("ellipse", label, *_corners(rec, "xmin", "ymin", "xmax", "ymax", path))
            for rec in kept.to_dict("records") for label in labels if _is_true(rec[label])]


def read_egd_boxes(path: str | Path) -> dict[str, list[Shape]]:
    """dicom_id -> its anatomy boxes (label = bbox_name, lower case)."""
    df = _read_csv(path, EGD_BOX_COLUMNS, "EGD-CXR bounding_boxes.csv")
    out: dict[str, list[Shape]] = {}
    for rec in df.to_dict("records"):
        corners = _corners(rec, "x1", "y1", "x2", "y2", path)
        out.setdefault(str(rec["dicom_id"]).strip(), []).append(
            Shape("box", str(rec["bbox_name"]).strip().lower(), *corners))
    return out


def _read_csv(path, columns: Sequence[str], what: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise GazeFormatError(f"{path}: cannot read the {what}: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise GazeFormatError(f"{path}: the {what} lacks column(s) {missing} (found "
                              f"{list(df.columns)}); pass the dataset's own file.")
    return df


def _corners(rec: dict, x0: str, y0: str, x1: str, y1: str, path) -> tuple[float, ...]:
    vals = [float(rec[k]) for k in (x0, y0, x1, y1)]
    if not np.all(np.isfinite(vals)):
        raise GazeFormatError(f"{path}: a shape has a blank or non-numeric coordinate {vals}.")
    # REFLACX draws from any corner; the box is the same either way
    return min(vals[0], vals[2]), min(vals[1], vals[3]), max(vals[0], vals[2]), max(vals[1], vals[3])


def _is_true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


# ----------------------------------------------------------------------------- rasterising
def shape_mask(shape: Shape, native: tuple[int, int], out_shape: tuple[int, int]) -> np.ndarray:
    """Bool ``out_shape`` mask of the working pixels whose centre lies inside ``shape``."""
    (H, W), (h, w) = native, out_shape
    ys = (np.arange(h) + 0.5) * H / h - 0.5
    xs = (np.arange(w) + 0.5) * W / w - 0.5
    if shape.kind == "box":
        inside_y = (ys >= shape.ymin) & (ys <= shape.ymax)
        inside_x = (xs >= shape.xmin) & (xs <= shape.xmax)
        return inside_y[:, None] & inside_x[None, :]
    cy, cx = (shape.ymin + shape.ymax) / 2, (shape.xmin + shape.xmax) / 2
    ry, rx = max((shape.ymax - shape.ymin) / 2, 1e-9), max((shape.xmax - shape.xmin) / 2, 1e-9)
    return ((ys[:, None] - cy) / ry) ** 2 + ((xs[None, :] - cx) / rx) ** 2 <= 1.0


def label_masks(shapes: Sequence[Shape], native, out_shape) -> dict[str, np.ndarray]:
    """Per label, the union of its shapes (over every reading of the image)."""
    out: dict[str, np.ndarray] = {}
    for s in shapes:
        mask = shape_mask(s, native, out_shape)
        out[s.label] = out[s.label] | mask if s.label in out else mask
    return out


def lung_fields(boxes: Sequence[Shape], native, out_shape) -> np.ndarray | None:
    """Both lung boxes with every row filled between its outermost lung pixels (the
    mediastinum and heart); None unless both lungs are outlined."""
    lungs = [b for b in boxes if b.label in LUNG_BOXES]
    if {b.label for b in lungs} != set(LUNG_BOXES):
        return None
    return fill_rows(np.any([shape_mask(b, native, out_shape) for b in lungs], axis=0))


def fill_rows(mask: np.ndarray) -> np.ndarray:
    """Each row filled between its first and last True pixel."""
    cols = np.arange(mask.shape[1])
    first = np.where(mask.any(1), mask.argmax(1), mask.shape[1])
    last = np.where(mask.any(1), mask.shape[1] - 1 - mask[:, ::-1].argmax(1), -1)
    return (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])


def npz_key(label: str) -> str:
    """An .npz member name: REFLACX's "High lung volume / emphysema" holds a slash."""
    return label.replace("/", "-")


def save_regions(out: Path, image_id: str, shapes: Sequence[Shape], native, out_shape) -> dict:
    """Write ``masks/<id>.npz`` (one bool mask per finding label, the demo's lesion-mask form)
    and ``lungs/<id>.npz`` (the anatomy boxes' lung fields); returns the manifest fields
    (``mask_path``) to set. Paths a previous import left for this id are replaced."""
    out = Path(out)
    lesions = label_masks([s for s in shapes if s.kind == "ellipse"], native, out_shape)
    lesions = {npz_key(k): v for k, v in sorted(lesions.items()) if v.any()}
    _write_or_remove(out / f"masks/{image_id}.npz", lesions)
    save_lung_fields(out, image_id, lung_fields([s for s in shapes if s.kind == "box"], native, out_shape))
    return {"mask_path": f"masks/{image_id}.npz" if lesions else ""}


def _write_or_remove(path: Path, arrays: dict[str, np.ndarray], durable: bool = True) -> None:
    """Write ``arrays``, or remove what an earlier import of the image left there."""
    if arrays:
        save_array_npz(path, durable=durable, **arrays)
    else:
        path.unlink(missing_ok=True)


def lungs_path(root: str | Path, image_id: str) -> Path:
    """``lungs/<id>.npz``: one bool array ``LUNG_KEY`` on the stored image's grid, both lungs
    and the mediastinum between them (importers with anatomy outlines, and build-demo)."""
    return Path(root) / LUNG_DIR / f"{image_id}.npz"


def save_lung_fields(root: str | Path, image_id: str, mask: np.ndarray | None, durable: bool = True) -> None:
    """Write the image's lung fields, or remove an earlier file when ``mask`` is None."""
    arrays = {LUNG_KEY: np.asarray(mask, bool)} if mask is not None else {}
    _write_or_remove(lungs_path(root, image_id), arrays, durable)


def load_lung_fields(root: str | Path, image_id: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The stored lung-field mask of ``image_id`` if present and on ``shape``'s grid."""
    path = lungs_path(root, image_id)
    if not path.is_file():
        return None
    with np.load(path) as z:
        mask = z[LUNG_KEY].astype(bool) if LUNG_KEY in z.files else None
    return mask if mask is not None and mask.shape == tuple(shape) and mask.any() else None
