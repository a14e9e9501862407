"""A simulated radiologist reading one film: fixations with durations.

The reading follows the usual pattern: a brief global view near the centre, then a
systematic search (airway; both lungs from apex to base; heart, hila and mediastinum;
domes and costophrenic angles; bones), with the order, coverage and positions varying
between readings. Findings the reader notices pull in a dwell of extra, longer fixations
(and sometimes a return visit at the end); some findings are missed, small ones more
often. Fixations last ~0.2-0.4 s (gamma, mean ~0.3 s); the eye tracker adds ~0.3 degree
of noise. Positions are in "native" image pixels (``NATIVE_SCALE`` x the stored image),
like REFLACX's, so the REFLACX heatmap recipe (sigma = 1 degree) applies unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from .findings import Finding
from .phantom import Scene, dome_y

NATIVE_SCALE = 8  # a 256 px film stands for a 2048 px detector image


@dataclass
class ReaderKnobs:
    """Behaviour knobs: raise ``miss`` / ``noise_deg`` to make gaze less informative."""

    miss: float = 1.0  # multiplies each finding's miss probability
    dwell: float = 1.0  # multiplies the number of dwell fixations on a noticed finding
    noise_deg: float = 0.3  # eye-tracker position noise (degrees)
    skip_region: float = 0.12  # chance a search region is skipped


def search_targets(sc: Scene, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    """Named points (cm) of a systematic search, in reading order."""
    a = sc.anat
    t: list[tuple[str, float, float]] = [("airway", 0.2, a.clav_y + 0.5), ("airway", 0.2, a.carina_y)]
    lungs = []
    for side in ("right", "left"):
        x_med, x_lat, y_top, _ = sc.lung_box(side)
        xc = x_med + 0.55 * (x_lat - x_med)
        base = float(dome_y(a, np.array([xc]))[0])
        ys = np.linspace(y_top + 1.5, base - 1.5, 4)
        lungs.append([(f"lung_{side}", xc + rng.normal(0, 1.0), float(y)) for y in ys])
    if rng.random() < 0.5:  # one lung then the other
        t += lungs[0] + lungs[1]
    else:  # compare side to side, zone by zone
        for right, left in zip(*lungs):
            t += [right, left]
    hr, hl = sc.hilum("right"), sc.hilum("left")
    cy = a.dome_r - 3.0
    t += [("mediastinum", 0.5, a.carina_y - 2.0), ("hilum", *hr), ("hilum", *hl),
          ("heart", a.heart_cx, cy), ("heart", a.heart_cx + a.heart_hw * 0.8, cy + 1.0),
          ("heart", -a.med_hw - 0.5, cy)]
    for side in ("right", "left"):
        s = sc.side_sign(side)
        xd = s * 0.45 * a.thorax_hw
        t.append(("diaphragm", xd, float(dome_y(a, np.array([xd]))[0])))
        xc = s * (a.thorax_hw - 1.0)
        t.append(("cp_angle", xc, float(dome_y(a, np.array([xc]))[0]) - 0.5))
    t += [("bones", -a.thorax_hw * 0.7, a.clav_y), ("bones", a.thorax_hw * 0.7, a.clav_y),
          ("bones", -a.thorax_hw + 1.0, a.carina_y + 2), ("bones", a.thorax_hw - 1.0, a.carina_y + 2),
          ("bones", a.spine_x * 0.3, a.dome_r - 6)]
    return t


def miss_probability(f: Finding) -> float:
    if f.kind in ("device", "cardiomegaly"):
        return 0.04
    if f.kind == "granuloma":
        return 0.35
    if f.kind == "nodule":
        return 0.25 if f.subtype != "mass" else 0.05
    return float(np.clip(0.3 - 0.2 * f.severity, 0.03, 0.3))


def _mask_points(mask: np.ndarray, n: int, rng) -> np.ndarray:
    """n (row, col) points inside a mask, favouring its interior (distance-weighted)."""
    rr, cc = np.nonzero(mask)
    r0, c0 = rr.min(), cc.min()
    crop = np.pad(mask[r0:rr.max() + 1, c0:cc.max() + 1], 1)  # EDT on the bounding box only
    dist = ndimage.distance_transform_edt(crop)[1:-1, 1:-1]
    w = dist[rr - r0, cc - c0] + 0.5
    pick = rng.choice(len(rr), size=n, p=w / w.sum())
    pts = np.stack([rr[pick] + 0.0, cc[pick] + 0.0], 1)
    return pts + rng.uniform(-0.5, 0.5, (n, 2))


def simulate_reading(sc: Scene, finding_masks: list[tuple[Finding, np.ndarray]],
                     rng: np.random.Generator, knobs: ReaderKnobs | None = None) -> pd.DataFrame:
    """Fixations (x, y in native pixels; duration, start in s; ppd_x, ppd_y)."""
    k = knobs or ReaderKnobs()
    size = sc.grid.size
    native = size * NATIVE_SCALE
    ppd = rng.uniform(68.0, 84.0)  # native pixels per degree of visual angle

    # (col, row) in stored pixels, duration, and a tag for the dwell insertion.
    fix: list[tuple[float, float, float]] = []

    def add(col, row, dur_scale=1.0):
        fix.append((col, row, float(np.clip(rng.gamma(4.0, 0.075) * dur_scale, 0.1, 1.5))))

    centre_c, centre_r = sc.grid.to_pixel(0.0, sc.anat.carina_y + 3.0)
    for _ in range(int(rng.integers(2, 4))):  # global impression
        add(centre_c + rng.normal(0, size * 0.06), centre_r + rng.normal(0, size * 0.06))

    noticed = []
    for f, m in finding_masks:
        if m.any() and rng.random() >= min(miss_probability(f) * k.miss, 0.95):
            noticed.append((f, m))
    targets = search_targets(sc, rng)
    tcols, trows = sc.grid.to_pixel([t[1] for t in targets], [t[2] for t in targets])
    # Each noticed finding is dwelt on right after the search target nearest to it.
    dwell_after: dict[int, list] = {}
    for f, m in noticed:
        rr, cc = np.nonzero(m)
        d = (tcols - cc.mean()) ** 2 + (trows - rr.mean()) ** 2
        dwell_after.setdefault(int(np.argmin(d)), []).append((f, m))
    jitter = size * 0.035
    for i, (name, _, _) in enumerate(targets):
        skip = k.skip_region * (3.0 if name == "bones" else 1.0)
        if rng.random() >= skip:
            for _ in range(1 + int(rng.random() < 0.35)):
                add(tcols[i] + rng.normal(0, jitter), trows[i] + rng.normal(0, jitter))
        for f, m in dwell_after.get(i, []):
            n = int(max(2, round((6 + rng.poisson(4 + 5 * min(f.severity, 1.4))) * k.dwell)))
            for r, c in _mask_points(m, n, rng):
                add(c, r, 1.35)
    for _finding, m in noticed:  # some findings are looked at again before reporting
        if rng.random() < 0.6:
            for r, c in _mask_points(m, int(rng.integers(2, 5)), rng):
                add(c, r, 1.2)

    arr = np.array(fix, dtype=float)
    noise = rng.normal(0, k.noise_deg * ppd / NATIVE_SCALE, (len(arr), 2))
    x = np.clip((arr[:, 0] + noise[:, 0] + 0.5) * NATIVE_SCALE - 0.5, 0, native - 1)
    y = np.clip((arr[:, 1] + noise[:, 1] + 0.5) * NATIVE_SCALE - 0.5, 0, native - 1)
    dur = arr[:, 2]
    gaps = rng.uniform(0.02, 0.06, len(arr))
    start = rng.uniform(0.3, 1.0) + np.concatenate([[0.0], np.cumsum(dur[:-1] + gaps[:-1])])
    return pd.DataFrame({
        "x": np.round(x, 1), "y": np.round(y, 1), "duration": np.round(dur, 3),
        "start": np.round(start, 3), "ppd_x": np.round(np.full(len(arr), ppd), 2),
        "ppd_y": np.round(np.full(len(arr), ppd * rng.uniform(0.98, 1.02)), 2),
    })


def native_shape(size: int) -> tuple[int, int]:
    return size * NATIVE_SCALE, size * NATIVE_SCALE
