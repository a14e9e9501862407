"""Floors and a ceiling for gaze agreement: what a map scores without looking at the image,
and what a second radiologist scores against the first.

Floors (scored exactly like a model's map):

* ``uniform``: one value everywhere. It points nowhere, so it scores chance by definition
  (CC 0, NSS 0, AUC 0.5, KL to a uniform map).
* ``centre``: a Gaussian centre-bias map. Readers look near the middle of a film whatever it
  shows, so a map that only knows "the middle" already earns CC and AUC-Judd; a model must
  beat it to claim it follows the gaze. Its centre and spread are fitted on the *train*
  split's gaze maps (first and second moments of their mean), never on the split scored;
  without train gaze it sits on the image centre with a quarter of each side as sigma.

Ceiling: the agreement of one reader's map with another reader's map of the same image,
in the models' place. It reads the per-reading maps stored beside the gaze map as
``gaze/<id>/readings/*.npz`` (key ``heatmap``, the dataset contract):

* when the gaze map is one reader's reading (it equals one of the stored readings, as in
  a demo corpus: build-demo stores the reading its gaze map holds and a second, independent
  reader's), every other reading is scored against the gaze map, exactly as a model's map;
* when the gaze map is the mean of the readings (REFLACX images read by several
  radiologists), each reading is scored against the mean of the others, scores averaged.

An image with fewer than two readings has no ceiling; ``missing_readings`` says why and
what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.data.demo_info import outdated_demo
from eclip.data.gaze import load_heatmap, load_readings, resize_heatmap

DEFAULT_SIGMA = 0.25  # of each side, when there is no train gaze to fit the centre bias on
SAME_READING = 2e-3  # peak-1 maps stored as float16 (resolution ~5e-4 near the peak)
READINGS = "second readings (gaze/<id>/readings/)"


@dataclass(frozen=True)
class CentreBias:
    centre: tuple[float, float]  # (row, col) as fractions of the height / width
    sigma: tuple[float, float]  # (row, col) standard deviations, fractions of height / width
    source: str  # how it was made, as the page says it ("fitted on 394 train-split gaze maps")

    def map(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        rows = ((np.arange(h) + 0.5) / h - self.centre[0]) / self.sigma[0]
        cols = ((np.arange(w) + 0.5) / w - self.centre[1]) / self.sigma[1]
        return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2)).astype(np.float32)


IMAGE_CENTRE = CentreBias((0.5, 0.5), (DEFAULT_SIGMA, DEFAULT_SIGMA),
                          "on the image centre, sigma a quarter of each side (no train gaze to fit it on)")


def fit_centre_bias(gaze_maps: list[np.ndarray], source: str = "train gaze") -> CentreBias:
    """Centre and spread of the mean of ``gaze_maps`` (each normalised to sum 1, all one
    shape); the image centre when there are none."""
    maps = [np.maximum(np.asarray(g, np.float64), 0) for g in gaze_maps]
    maps = [g / g.sum() for g in maps if g.sum() > 0]
    if not maps:
        return IMAGE_CENTRE
    mean = np.mean(maps, axis=0)
    h, w = mean.shape
    return CentreBias(*_moments(mean.sum(1), h, mean.sum(0), w), f"fitted on {len(maps)} {source} maps")


def _moments(p_rows: np.ndarray, h: int, p_cols: np.ndarray, w: int):
    r, c = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    mr, mc = float((p_rows * r).sum()), float((p_cols * c).sum())
    sr = float(np.sqrt((p_rows * (r - mr) ** 2).sum()))
    sc = float(np.sqrt((p_cols * (c - mc) ** 2).sum()))
    return (mr, mc), (max(sr, 1e-3), max(sc, 1e-3))


def uniform_map(shape: tuple[int, int]) -> np.ndarray:
    return np.ones(shape, np.float32)


def floor_maps(bias: CentreBias, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    return {"uniform": uniform_map(shape), "centre": bias.map(shape)}


def train_centre_bias(root: str | Path, manifest, split: str = "train", limit: int = 400) -> CentreBias:
    """The centre bias fitted on up to ``limit`` gaze maps of ``split``. Measured on the
    demo's 394 train maps: 5 s to load all on the loaded 2-core CPU, and the moments fitted
    on the first 200 differ from those on all by < 0.005."""
    root = Path(root)
    rows = manifest[(manifest["split"].astype(str) == split) & (manifest["gaze_path"].astype(str).str.len() > 0)]
    maps = [load_heatmap(root / p) for p in rows["gaze_path"].iloc[:limit]]
    if maps:
        shape = maps[0].shape
        maps = [m if m.shape == shape else resize_heatmap(m, shape) for m in maps]
    return fit_centre_bias(maps, f"{split}-split gaze")


# --------------------------------------------------------------------------- ceiling: readers
def ceiling_pairs(root: str | Path, row, gaze: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(one reader's map, the map it is scored against) for each stored reading of the case
    (see the module docstring); [] when the case has fewer than two readings."""
    stored = load_readings(root, str(row["id"]), gaze.shape)
    if len(stored) < 2:
        return []
    held = [i for i, m in enumerate(stored) if same_reading(m, gaze)]
    if held:  # the gaze map is that one reading: the others are scored against it, like a model
        return [(m, gaze) for i, m in enumerate(stored) if i not in held]
    return leave_one_out(stored)


def same_reading(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two maps are one reading (each scaled to peak 1; float16-stored)."""
    pa, pb = float(np.max(a)), float(np.max(b))
    return pa > 0 and pb > 0 and float(np.abs(a / pa - b / pb).max()) <= SAME_READING


def missing_readings(root: str | Path) -> str:
    """Why a dataset's images have no ceiling, and what to do about it."""
    return outdated_demo(root, READINGS) or (
        f"no image has {READINGS}: the ceiling needs images read by several radiologists "
        "(REFLACX, imported with import-mimic --reflacx)")


def leave_one_out(maps: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reading i, mean of the other readings) pairs; each reading normalised to sum 1
    before averaging, as the importer averages readings."""
    norm = [np.asarray(m, np.float64) / max(float(np.sum(m)), 1e-12) for m in maps]
    return [(norm[i], np.mean(norm[:i] + norm[i + 1:], axis=0)) for i in range(len(norm))]
