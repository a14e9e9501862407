"""Where a map's mass sits: inside the lung fields, or outside them (border, shoulders, the
air around the body), with the lung fields read from the dataset folder.

* an image whose dataset outlines the lungs has ``lungs/<id>.npz`` (both lungs plus the
  mediastinum between them, where cardiomegaly lives): EGD-CXR's anatomy boxes, written by
  ``import-mimic --egd``, or the phantom that drew a demo film, written by ``build-demo``;
* any other image gets a conservative heuristic: the central region inside a
  ``CENTRAL_MARGIN`` band on every side (larger than real lung fields, so it flags less),
  and the region's description says what is missing and how to get it.

A map is flagged when most of its mass lies outside the region *and* more of it than an
even spread would put there (a flat map is diffuse, not misplaced).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.data.demo_info import outdated_demo
from eclip.data.gaze import resize_heatmap
from eclip.data.gaze.regions import load_lung_fields
from eclip.evaluate.saliency import border_band, mass_fraction

CENTRAL_MARGIN = 0.1  # 10 % of each side: PA lung fields lie well inside it
FLAG_OUTSIDE = 0.5  # "mostly outside"
LUNGS = "lung fields (lungs/<id>.npz)"
# what to do when a dataset has no lung fields (a demo corpus says its own rebuild command)
GET_LUNGS = ("import the dataset with its anatomy outlines (import-mimic --egd) to score against "
             "real lung fields")


@dataclass(frozen=True)
class Region:
    mask: np.ndarray  # bool HxW
    source: str  # "phantom" (a simulated film's) | "annotation" (a dataset's outlines) | "heuristic"
    description: str  # what the page says the region is


@dataclass(frozen=True)
class Placement:
    outside: float  # share of the map's mass outside the region (NaN: map without mass)
    area_outside: float  # share of the image outside it (what an even spread would put there)
    flagged: bool


def central_region(shape: tuple[int, int], margin: float = CENTRAL_MARGIN, why: str = "") -> Region:
    return Region(~border_band(shape, margin), "heuristic",
                  f"a central-region heuristic (not real lung fields): the image inside a "
                  f"{margin:.0%} margin on every side" + (f". {why}" if why else ""))


def placement(saliency: np.ndarray, region: Region) -> Placement:
    """How much of the map lies outside ``region``, and whether that earns a flag."""
    outside = 1.0 - mass_fraction(saliency, region.mask)
    area = 1.0 - float(region.mask.mean())
    flagged = bool(np.isfinite(outside) and outside > FLAG_OUTSIDE and outside > area)
    return Placement(outside, area, flagged)


def lung_region(root: str | Path, row, shape: tuple[int, int]) -> Region:
    """The lung fields of manifest ``row`` stored in the dataset (``lungs/<id>.npz``), else
    the central-region heuristic with what is missing and what to do."""
    mask = load_lung_fields(root, str(row["id"]), shape)
    if mask is None:
        return central_region(shape, why=missing_lungs(root))
    if _simulated(row):
        return Region(mask, "phantom", "both lungs and the mediastinum between them, from the simulated "
                      "phantom that drew this film (stored by build-demo)")
    return Region(mask, "annotation", "both lungs and the mediastinum between them, from the "
                  "dataset's anatomy boxes (EGD-CXR bounding_boxes.csv)")


def missing_lungs(root: str | Path) -> str:
    """Why an image of ``root`` has no lung fields, and what to do about it."""
    return outdated_demo(root, LUNGS) or f"No {LUNGS} for this image: {GET_LUNGS}."


def _simulated(row) -> bool:
    return str(row.get("source", "")) == "demo" or str(row.get("simulated", "")).strip() in ("1", "1.0", "True")


# --------------------------------------------------------------------------- ground truth
def truth_region(root: str | Path, row, shape: tuple[int, int]) -> np.ndarray | None:
    """Bool HxW union of the case's ground-truth lesion masks (``mask_path``: one bool array
    per drawn label), on the stored image grid; None for a case without masks. These are what
    the pointing game and the thresholded map's IoU are scored against."""
    rel = str(row.get("mask_path", "") or "")
    if not rel or rel == "nan":
        return None
    with np.load(Path(root) / rel) as z:
        union = np.any([z[k].astype(bool) for k in z.files], axis=0) if z.files else None
    if union is None or not union.any():
        return None
    if union.shape != tuple(shape):
        union = resize_heatmap(union.astype(np.float32), shape) >= 0.5
    return union
