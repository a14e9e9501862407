"""Where a map's mass sits: inside the lung fields, or outside them (border, shoulders, the
air around the body), with the lung fields taken from the most honest source available.

* a corpus built by ``eclip.data.demo`` records how every film was drawn (seed, knobs,
  report): the case is re-rendered, checked against the stored film pixel for pixel, and
  its lung fields are read off the phantom geometry (both lungs plus the mediastinum
  between them, where cardiomegaly lives);
* an imported image whose dataset outlines the lungs (EGD-CXR's anatomy boxes, written by
  ``import-mimic --egd`` as ``lungs/<id>.npz``) gets those;
* any other image gets a conservative heuristic: the central region inside a
  ``CENTRAL_MARGIN`` band on every side (larger than real lung fields, so it flags less).

A map is flagged when most of its mass lies outside the region *and* more of it than an
even spread would put there (a flat map is diffuse, not misplaced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.errors import EclipError
from eclip.evaluate.saliency import border_band, mass_fraction
from eclip.memo import BoundedCache

CENTRAL_MARGIN = 0.1  # 10 % of each side: PA lung fields lie well inside it
FLAG_OUTSIDE = 0.5  # "mostly outside"
_FILM_TOLERANCE = 1.01 / 255  # the stored PNG is the film quantised to 8 bits
LUNG_CACHE = BoundedCache(512, "lung-field masks")


@dataclass(frozen=True)
class Region:
    mask: np.ndarray  # bool HxW
    source: str  # "phantom" | "annotation" | "heuristic"
    description: str  # what the page says the region is


@dataclass(frozen=True)
class Placement:
    outside: float  # share of the map's mass outside the region (NaN: map without mass)
    area_outside: float  # share of the image outside it (what an even spread would put there)
    flagged: bool


def central_region(shape: tuple[int, int], margin: float = CENTRAL_MARGIN) -> Region:
    return Region(~border_band(shape, margin), "heuristic",
                  f"a central-region heuristic (not real lung fields): the image inside a "
                  f"{margin:.0%} margin on every side")


def placement(saliency: np.ndarray, region: Region) -> Placement:
    """How much of the map lies outside ``region``, and whether that earns a flag."""
    outside = 1.0 - mass_fraction(saliency, region.mask)
    area = 1.0 - float(region.mask.mean())
    flagged = bool(np.isfinite(outside) and outside > FLAG_OUTSIDE and outside > area)
    return Placement(outside, area, flagged)


def lung_region(root: str | Path, row, shape: tuple[int, int]) -> Region:
    """The lung fields of manifest ``row`` (phantom geometry for a verified demo case, the
    imported anatomy boxes for a real one), else the central-region heuristic."""
    mask = demo_lung_fields(root, row, shape)
    if mask is not None:
        return Region(mask, "phantom", "both lungs and the mediastinum between them, re-drawn from the "
                      "simulated phantom that made this film")
    mask = imported_lung_fields(root, row, shape)
    if mask is not None:
        return Region(mask, "annotation", "both lungs and the mediastinum between them, from the "
                      "dataset's anatomy boxes (EGD-CXR bounding_boxes.csv)")
    return central_region(shape)


def imported_lung_fields(root: str | Path, row, shape: tuple[int, int]) -> np.ndarray | None:
    """Lung fields an importer wrote from annotated anatomy (lungs/<id>.npz), else None."""
    from eclip.data.gaze.regions import load_lung_fields

    return load_lung_fields(root, str(row["id"]), shape)


def demo_lung_fields(root: str | Path, row, shape: tuple[int, int]) -> np.ndarray | None:
    """Bool HxW lung fields of a demo case, or None when the case cannot be re-drawn
    exactly (not a demo corpus, another report pool, a resized film...)."""
    root = Path(root)
    if str(row.get("source", "")) != "demo" or not (root / "demo_info.json").is_file():
        return None
    key = (str(root.resolve()), str(row["id"]), tuple(shape))
    return LUNG_CACHE.get_or_compute(key, lambda: _redraw_lungs(root, row, shape))


def _demo_task(root: Path, case_id: str) -> dict | None:
    from eclip.data.demo.build import plan_tasks
    from eclip.data.demo.phantom import Knobs
    from eclip.data.demo.scanpath import ReaderKnobs

    info = json.loads((root / "demo_info.json").read_text())
    tasks = LUNG_CACHE.get_or_compute(("tasks", str(root.resolve())), lambda: plan_tasks(
        root, info["n"], info["seed"], info["gaze_fraction"], info["size"], Knobs(**info["knobs"]),
        ReaderKnobs(**info["reader"])))
    return next((t for t in tasks if t["id"] == case_id), None)


def _redraw_lungs(root: Path, row, shape: tuple[int, int]) -> np.ndarray | None:
    drawn = redraw_demo_case(root, row, shape)
    return None if drawn is None else _lung_mask(drawn[1].scene)


def redraw_demo_case(root: str | Path, row, shape: tuple[int, int]):
    """(build task, rendered case) of a demo case re-drawn from demo_info.json and checked
    against the stored film pixel for pixel; None when it cannot be re-drawn exactly (not a
    demo corpus, another report pool, a resized film...): nothing rather than a wrong one."""
    from eclip.data.demo.mesh import plan_from_mesh
    from eclip.data.demo.phantom import Knobs
    from eclip.data.demo.render import STREAM_PLAN, render_case, stream
    from eclip.data.images import load_working

    root = Path(root)
    if str(row.get("source", "")) != "demo" or not (root / "demo_info.json").is_file():
        return None
    try:
        task = _demo_task(root, str(row["id"]))
    except (EclipError, OSError, KeyError, TypeError, ValueError):  # e.g. no report pool here
        return None
    if task is None or task["report"].uid != row.get("patient_key") or tuple(shape) != (task["size"],) * 2:
        return None
    seed = task["case_seed"]
    plan = plan_from_mesh(list(task["report"].mesh), stream(seed, STREAM_PLAN))
    res = render_case(plan, seed, task["size"], Knobs(**task["knobs"]))
    stored = load_working(root / row["image_path"])
    if stored.shape != res.film.shape or np.abs(stored - res.film).max() > _FILM_TOLERANCE:
        return None
    return task, res


def _lung_mask(scene) -> np.ndarray:
    from eclip.data.demo.phantom import lung_chord
    from eclip.data.gaze.regions import fill_rows

    lungs = (lung_chord(scene.grid, scene.anat, "right") > 0) | (lung_chord(scene.grid, scene.anat, "left") > 0)
    return fill_rows(lungs)  # each row filled between its outermost lung pixels: mediastinum and heart


# --------------------------------------------------------------------------- ground truth
def truth_region(root: str | Path, row, shape: tuple[int, int]) -> np.ndarray | None:
    """Bool HxW union of the case's ground-truth lesion masks (``mask_path``: one bool array
    per drawn label), on the stored image grid; None for a case without masks. These are what
    the pointing game and the thresholded map's IoU are scored against."""
    from eclip.data.gaze import resize_heatmap

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
