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

Ceiling: the agreement of one reader's map with another reader's map of the same image
(``second reader`` scored against the first, in the models' place). Where a case has
several readings, each is scored against the mean of the others and the scores averaged.
Readings come from:

* a demo corpus: the simulator is re-run for a second, independent reader of the same film
  (same phantom and findings, a new reader seed). The corpus records everything needed
  (demo_info.json: seed, knobs, reader knobs), the case is re-drawn and checked against the
  stored film *and* the stored first reading, and nothing is written: the shipped corpus
  and its hashes stay as they are, and no build flag is needed.
* any dataset: per-reading heatmaps stored beside the averaged one as
  ``gaze/<id>/readings/*.npz`` (key ``heatmap``, the dataset contract), e.g. REFLACX images
  read by several radiologists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.memo import BoundedCache

DEFAULT_SIGMA = 0.25  # of each side, when there is no train gaze to fit the centre bias on
STREAM_SECOND_READER = 1_000_003  # far from the renderer's streams (0-4, findings from 100)
READER_CACHE = BoundedCache(64, "demo readers' gaze maps")  # 0.5 MB a case at 256 px; the demo test split has 54


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
    from eclip.data.gaze import load_heatmap, resize_heatmap

    root = Path(root)
    rows = manifest[(manifest["split"].astype(str) == split) & (manifest["gaze_path"].astype(str).str.len() > 0)]
    maps = [load_heatmap(root / p) for p in rows["gaze_path"].iloc[:limit]]
    if maps:
        shape = maps[0].shape
        maps = [m if m.shape == shape else resize_heatmap(m, shape) for m in maps]
    return fit_centre_bias(maps, f"{split}-split gaze")


# --------------------------------------------------------------------------- ceiling: readers
def ceiling_pairs(root: str | Path, row, gaze: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(one reader's map, the map it is scored against) for each reading of the case: with
    stored per-reading maps, each against the mean of the others; on a demo case, the
    simulated second reader against the stored (first) reading, exactly as a model's map is
    scored; [] when the case has one reading only."""
    stored = stored_readings(root, row, gaze.shape)
    if len(stored) >= 2:
        return leave_one_out(stored)
    second = simulated_second_reader(root, row, gaze)
    return [(second, gaze)] if second is not None else []


def stored_readings(root: str | Path, row, shape: tuple[int, int]) -> list[np.ndarray]:
    from eclip.data.gaze import load_heatmap, resize_heatmap

    folder = Path(root) / "gaze" / str(row["id"]) / "readings"
    maps = [load_heatmap(p) for p in sorted(folder.glob("*.npz"))] if folder.is_dir() else []
    return [m if m.shape == tuple(shape) else resize_heatmap(m, shape) for m in maps]


def simulated_second_reader(root: str | Path, row, gaze: np.ndarray) -> np.ndarray | None:
    """A demo case's second simulated reading (peak 1, like a stored map), or None when the
    case cannot be re-drawn or ``gaze`` is not the reading the simulator drew for it (no
    ceiling rather than a wrong one)."""
    key = (str(Path(root).resolve()), str(row["id"]), tuple(gaze.shape))
    readings = READER_CACHE.get_or_compute(key, lambda: _two_readers(root, row, gaze.shape))
    if readings is None:
        return None
    first, second = readings
    if np.abs(first - gaze / max(float(gaze.max()), 1e-12)).max() > 2e-3:  # float16-stored map
        return None
    return second


def _two_readers(root, row, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """(the stored reader's map re-simulated, a second reader's map) of a demo case."""
    from eclip.data.demo.render import STREAM_GAZE, stream
    from eclip.data.demo.scanpath import ReaderKnobs

    from .regions import redraw_demo_case

    drawn = redraw_demo_case(root, row, shape)
    if drawn is None:
        return None
    task, res = drawn
    knobs = ReaderKnobs(**task["reader"])
    return (_reading(res, stream(task["case_seed"], STREAM_GAZE), knobs),
            _reading(res, stream(task["case_seed"], STREAM_SECOND_READER), knobs))


def _reading(res, rng, knobs) -> np.ndarray:
    from eclip.data.demo.scanpath import native_shape, simulate_reading
    from eclip.data.gaze import heatmap_reflacx

    fix = simulate_reading(res.scene, res.finding_masks, rng, knobs)
    hm = heatmap_reflacx(fix, native_shape(res.film.shape[0]), out_shape=res.film.shape)
    return (hm / hm.max()).astype(np.float32)


def leave_one_out(maps: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reading i, mean of the other readings) pairs; each reading normalised to sum 1
    before averaging, as the importer averages readings."""
    norm = [np.asarray(m, np.float64) / max(float(np.sum(m)), 1e-12) for m in maps]
    return [(norm[i], np.mean(norm[:i] + norm[i + 1:], axis=0)) for i in range(len(norm))]
