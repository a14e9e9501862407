"""One renderer per supported finding.

A ``Finding`` (kind, side, severity, zone, ...) comes from a report's MeSH term
(``mesh.py``). Some findings change the anatomy before the scene is built (``prepare``:
a big heart, volume loss, upper-lobe vessel diversion); every finding then draws itself on
the ``Scene`` (``render``) — mostly by replacing aerated lung with fluid or tissue, which is
what makes real opacities visible — and returns a boolean mask of where it is.

Sides are the PATIENT's: "right" is drawn on the image left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy import ndimage

from .geometry import Grid, sample_polyline, smooth_noise, smoothstep, splat
from .phantom import MU_LUNG, Anatomy, Scene, dome_y, lung_extent, lung_q

MU_METAL = 12.0
MU_CALCIUM = 1.2


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of RENDERERS
    side: str = ""  # "right" | "left" | "bilateral" | "" (renderer picks)
    severity: float = 0.8  # ~0.35 borderline .. 1.4 severe
    zone: str = ""  # "base" | "upper" | "middle" | "lingula" | "hilum" | "retrocardiac" | ""
    count: int = 1
    subtype: str = ""  # devices: ett, ngt, line, pacemaker, sternotomy, clips
    label: str = ""  # CheXpert label used as the mask key
    mesh: str = ""  # the MeSH term it came from


def sides_of(f: Finding, rng: np.random.Generator, default_bilateral: float = 0.0) -> list[str]:
    if f.side == "bilateral":
        return ["right", "left"]
    if f.side in ("right", "left"):
        return [f.side]
    if rng.random() < default_bilateral:
        return ["right", "left"]
    return ["right" if rng.random() < 0.5 else "left"]


# ----------------------------------------------------------------------------- helpers


def line_map(grid: Grid, xs, ys, radius: float, mu: float, sigma_px: float = 0.5) -> np.ndarray:
    """Line integral of a thin tube (cm radius) along a polyline, splatted and blurred."""
    px, py, _ = sample_polyline(xs, ys, 0.04)
    w = np.full(px.shape, mu * np.pi * radius ** 2 * 0.04 / grid.cm_per_px ** 2)
    return splat(grid, px, py, w, sigma_px)


def replace_air(sc: Scene, side: str, frac: np.ndarray) -> None:
    """Fill a fraction of the aerated lung with fluid/tissue and hide its vessels there."""
    frac = np.clip(frac, 0.0, 1.0).astype(np.float32)
    if side == "right":
        sc.air_r = sc.air_r * (1.0 - frac)
    else:
        sc.air_l = sc.air_l * (1.0 - frac)
    sc.vessel_gain = sc.vessel_gain * (1.0 - 0.8 * frac)


def lung_region(sc: Scene, side: str, min_air: float = 0.8) -> np.ndarray:
    return sc.air(side) > min_air


def zone_centre(sc: Scene, side: str, zone: str, rng: np.random.Generator):
    """A point (cm) inside the named zone of one lung, jittered."""
    a = sc.anat
    x_med, x_lat, y_top, y_bot = sc.lung_box(side)
    s = sc.side_sign(side)
    dome = float(dome_y(a, np.array([x_med + 0.55 * (x_lat - x_med)]))[0])
    hx, hy = sc.hilum(side)
    width = abs(x_lat - x_med)
    frac = rng.uniform(0.35, 0.75)
    x = x_med + frac * (x_lat - x_med)
    if zone == "upper":
        y = y_top + rng.uniform(2.0, 5.5)
    elif zone in ("middle", "lingula"):
        x = s * (a.heart_hw * 0.9 + rng.uniform(0.5, 2.5)) + (a.heart_cx if s > 0 else 0.0)
        y = hy + rng.uniform(3.5, 6.0)
    elif zone == "hilum":
        x, y = hx + s * rng.uniform(0.3, 1.5), hy + rng.uniform(-1.0, 1.5)
    elif zone == "retrocardiac":
        x, y = s * rng.uniform(2.5, 4.5) + a.heart_cx * 0.5, dome - rng.uniform(1.5, 3.5)
    elif zone == "base":
        y = dome - rng.uniform(1.5, 4.5)
    else:  # anywhere in the lung
        y = y_top + rng.uniform(0.2, 0.85) * (dome - y_top)
    x = float(np.clip(x, min(x_med, x_lat) + 0.1 * width, max(x_med, x_lat) - 0.1 * width))
    return x, float(y)


def gaussian_blob(grid: Grid, cx, cy, sx, sy, angle_deg=0.0) -> np.ndarray:
    X, Y = grid.X - np.float32(cx), grid.Y - np.float32(cy)
    if angle_deg:
        c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
        X, Y = np.float32(c) * X + np.float32(s) * Y, -np.float32(s) * X + np.float32(c) * Y
    return np.exp(-0.5 * ((X / np.float32(sx)) ** 2 + (Y / np.float32(sy)) ** 2)).astype(np.float32)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, iterations=px)


# ----------------------------------------------------------------------------- prepare hooks


def prepare(a: Anatomy, f: Finding) -> Anatomy:
    """Anatomy changes a finding implies, applied before the scene is built."""
    if f.kind == "cardiomegaly":
        ctr = 0.49 + 0.13 * f.severity
        return replace(a, heart_hw=ctr * a.thorax_hw, heart_hh=a.heart_hh * (1 + 0.12 * f.severity))
    if f.kind == "atelectasis" and f.zone in ("", "base"):
        lift = 0.7 * f.severity
        if f.side in ("right", "bilateral"):
            a = replace(a, dome_r=a.dome_r - lift)
        if f.side in ("left", "bilateral"):
            a = replace(a, dome_l=a.dome_l - lift)
        return a
    if f.kind == "edema":
        return replace(a, upper_vessel=max(a.upper_vessel, 1.0 + 0.6 * f.severity))
    return a


# ----------------------------------------------------------------------------- renderers


def render_cardiomegaly(sc: Scene, f: Finding, rng) -> np.ndarray:
    """The heart was enlarged in ``prepare``; its silhouette above the diaphragm is the mask."""
    return (sc.heart > 1.5) & (sc.grid.Y < sc.dome_y(sc.grid.X) + 0.3)


def render_effusion(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Fluid layering at the base: blunts the costophrenic angle, meniscus higher laterally."""
    a = sc.anat
    mask = np.zeros(sc.L.shape, bool)
    for side in sides_of(f, rng, default_bilateral=0.3):
        s = sc.side_sign(side)
        x_med, x_lat, _, _ = sc.lung_box(side)
        wall = s * a.thorax_hw
        cp = float(dome_y(a, np.array([wall * 0.97]))[0])
        height = (2.0 + 5.5 * f.severity ** 1.3) * rng.uniform(0.85, 1.15)
        t = np.clip((sc.grid.X - x_med) / (x_lat - x_med), 0.0, 1.2)
        # Meniscus: nearly level medially, curving up steeply against the lateral wall;
        # small effusions only blunt the angle, larger ones cover the dome.
        meniscus = cp - height * (0.55 + 0.45 * t ** 3)
        soft = 0.7 + 0.5 * f.severity  # the fluid layer thins towards its top
        frac = smoothstep(meniscus - soft, meniscus + 0.4, sc.grid.Y)
        # Beside the spine the fluid layer is thinner (posterior gutter seen en face).
        frac *= 0.8 + 0.2 * t.clip(0, 1)
        before = sc.air(side).copy()
        replace_air(sc, side, frac * 0.97)
        mask |= (frac > 0.35) & (before > 0.3)
    return mask


def render_atelectasis(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Plate-like (discoid) bands above the diaphragm; larger ones collapse a wedge."""
    mask = np.zeros(sc.L.shape, bool)
    for side in sides_of(f, rng, default_bilateral=0.25):
        frac = np.zeros(sc.L.shape, np.float32)
        n_bands = 1 + int(rng.random() < 0.5 * f.severity) + int(f.severity > 1.1)
        for _ in range(n_bands):
            cx, cy = zone_centre(sc, side, f.zone or "base", rng)
            length = rng.uniform(2.5, 4.0) * (0.8 + 0.3 * f.severity)
            thick = rng.uniform(0.22, 0.4) * (0.8 + 0.4 * f.severity)
            ang = rng.uniform(-18, 18)
            # A disc seen edge-on: it fills only part of the lung's depth.
            frac = np.maximum(frac, 0.5 * gaussian_blob(sc.grid, cx, cy, length / 2, thick * 1.3, ang))
        if f.severity >= 1.0:  # lower-lobe collapse: a triangular density beside the heart
            a = sc.anat
            s = sc.side_sign(side)
            cx = s * (a.heart_hw * 0.6) + (a.heart_cx * 0.5 if s > 0 else 0)
            dome = float(dome_y(a, np.array([cx]))[0])
            frac = np.maximum(frac, 0.55 * gaussian_blob(sc.grid, cx, dome - 2.5, 2.2, 3.0, s * 20))
        region = lung_region(sc, side, 0.3)
        replace_air(sc, side, frac * region)
        mask |= (frac > 0.3) & region
    return mask


def render_opacity(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Ill-defined airspace opacity; consolidation is denser and shows air bronchograms."""
    mask = np.zeros(sc.L.shape, bool)
    dense = f.kind == "consolidation"
    for side in sides_of(f, rng, default_bilateral=0.15):
        for _ in range(max(f.count, 1)):
            cx, cy = zone_centre(sc, side, f.zone, rng)
            size = (2.2 + 1.8 * f.severity) * rng.uniform(0.8, 1.2)
            env = gaussian_blob(sc.grid, cx, cy, size * rng.uniform(0.8, 1.3), size, rng.uniform(-30, 30))
            coarse = np.clip(smooth_noise(rng, sc.grid.size, rng.uniform(5.0, 9.0)), -2, 2)
            level = (0.8 if dense else 0.55) * (0.6 + 0.4 * min(f.severity, 1.4))
            frac = level * env ** 0.8 * (0.78 + 0.22 * coarse)
            if dense:
                frac *= 1.0 - 0.3 * bronchograms(sc, side, cx, cy, size, rng)
            region = lung_region(sc, side, 0.3)
            replace_air(sc, side, frac * region)
            mask |= (frac > 0.2) & region
    return mask


def bronchograms(sc: Scene, side: str, cx, cy, size, rng) -> np.ndarray:
    """Air-filled bronchi running out from the hilar side of a consolidation and
    branching once (normalised to peak 1)."""
    hx, hy = sc.hilum(side)
    away = np.arctan2(cy - hy, cx - hx)
    acc = sc.grid.zeros()
    for _ in range(int(rng.integers(2, 4))):
        ang = away + rng.normal(0, 0.35)
        x0, y0 = cx - 0.6 * size * np.cos(ang), cy - 0.6 * size * np.sin(ang)
        t = np.linspace(0, 1.2 * size, 10)
        curve = np.cumsum(rng.normal(0, 0.04, 10))
        xs = x0 + t * np.cos(ang + curve)
        ys = y0 + t * np.sin(ang + curve)
        acc += line_map(sc.grid, xs, ys, 0.09, 1.0, 0.6)
        j = int(rng.integers(3, 7))  # one side branch
        ba = ang + rng.choice([-1, 1]) * rng.uniform(0.4, 0.8)
        tb = np.linspace(0, 0.5 * size, 5)
        acc += line_map(sc.grid, xs[j] + tb * np.cos(ba), ys[j] + tb * np.sin(ba), 0.07, 1.0, 0.6)
    m = float(acc.max())
    return np.clip(acc / m, 0, 1) if m > 0 else acc


def render_nodule(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Round soft-tissue nodule (< 3 cm) or mass (>= 3 cm), slightly lobulated."""
    mask = np.zeros(sc.L.shape, bool)
    is_mass = f.subtype == "mass"
    for _ in range(max(f.count, 1)):
        side = sides_of(f, rng)[int(rng.integers(0, 2)) if f.side == "bilateral" else 0]
        cx, cy = zone_centre(sc, side, f.zone, rng)
        r = (1.6 + 0.6 * f.severity) if is_mass else (0.45 + 0.45 * f.severity)
        r *= rng.uniform(0.85, 1.15)
        chord = sc.grid.zeros()
        for k in range(3 if is_mass else 2):
            dx, dy = (rng.normal(0, 0.25 * r, 2) if k else (0.0, 0.0))
            rk = r * (1.0 if k == 0 else rng.uniform(0.5, 0.75))
            X, Y = sc.grid.X - np.float32(cx + dx), sc.grid.Y - np.float32(cy + dy)
            chord = np.maximum(chord, 2 * np.sqrt(np.maximum(rk * rk - X * X - Y * Y, 0.0)))
        region = lung_region(sc, side, 0.5)
        # A nodule replaces lung: its contrast is the lung it displaces (<= aerated path).
        air = sc.air(side)
        frac = np.where(air > 0, np.minimum(chord * 1.4 / np.maximum(air, 1e-3), 1.0), 0.0)
        replace_air(sc, side, frac * region)
        mask |= (chord > 0.15) & region
    return dilate(mask, 1)


def render_granuloma(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Small, very dense, sharply marginated calcified foci (hilar nodes when zone=hilum)."""
    mask = np.zeros(sc.L.shape, bool)
    for _ in range(max(f.count, 1)):
        side = sides_of(f, rng)[0] if f.side != "bilateral" else ("right", "left")[int(rng.integers(0, 2))]
        cx, cy = zone_centre(sc, side, f.zone, rng)
        r = rng.uniform(0.16, 0.3) * (1.3 if f.zone == "hilum" else 1.0) * (0.8 + 0.25 * f.severity)
        sl = sc.grid.box(cx - r, cx + r, cy - r, cy + r, pad_px=2)
        if sl is None:
            continue
        X, Y = sc.grid.X[sl] - np.float32(cx), sc.grid.Y[sl] - np.float32(cy)
        chord = 2 * np.sqrt(np.maximum(r * r - X * X - Y * Y, 0.0))
        # Partial-volume: at 256 px a 3 mm focus is ~2 px, so keep a minimum footprint.
        if chord.max() <= 0:
            chord = 2 * r * np.exp(-(X * X + Y * Y) / (2 * (sc.grid.cm_per_px * 0.6) ** 2))
        sc.L[sl] += np.float32(MU_CALCIUM - MU_LUNG) * chord.astype(np.float32) * 1.8
        m = np.zeros(sc.L.shape, bool)
        m[sl] = chord > 0.02
        mask |= dilate(m, 1)
    return mask


def render_edema(sc: Scene, f: Finding, rng) -> np.ndarray:
    """Perihilar (bat-wing) haze, bilateral, with septal Kerley B lines at the bases;
    upper-lobe vessel diversion was set in ``prepare``."""
    mask = np.zeros(sc.L.shape, bool)
    level = 0.15 + 0.32 * f.severity
    for side in ("right", "left"):
        hx, hy = sc.hilum(side)
        s = sc.side_sign(side)
        env = gaussian_blob(sc.grid, hx + s * 1.5, hy + 0.5, 3.2 + 1.2 * f.severity, 4.0 + 1.0 * f.severity)
        fluffy = 1.0 + 0.35 * smooth_noise(rng, sc.grid.size, 4.0)
        frac = level * np.clip(env * fluffy, 0, 1.2)
        region = lung_region(sc, side, 0.3)
        replace_air(sc, side, frac * region)
        mask |= (frac > 0.12) & region
        mask |= kerley_lines(sc, side, f.severity, rng)
    return mask


def kerley_lines(sc: Scene, side: str, severity: float, rng) -> np.ndarray:
    """Short thin horizontal lines reaching the lateral pleura in the lower zones."""
    a = sc.anat
    s = sc.side_sign(side)
    wall = s * (a.thorax_hw - 0.35)
    dome = float(dome_y(a, np.array([wall * 0.9]))[0])
    acc = sc.grid.zeros()
    for _ in range(int(3 + 5 * severity)):
        y = dome - rng.uniform(0.8, 6.0)
        length = rng.uniform(1.0, 2.0)
        acc += line_map(sc.grid, [wall, wall - s * length], [y, y + rng.normal(0, 0.1)], 0.06, 1.4, 0.45)
    acc *= lung_region(sc, side, 0.2)
    sc.L += acc
    return dilate(acc > 0.01, 1)


def render_pneumothorax(sc: Scene, f: Finding, rng) -> np.ndarray:
    """The lung falls away from the chest wall: a thin visceral pleural line with no
    markings beyond it, apical on an erect film; larger ones extend down the lateral wall."""
    a = sc.anat
    mask = np.zeros(sc.L.shape, bool)
    for side in sides_of(f, rng):
        hx, hy = sc.hilum(side)
        s = sc.side_sign(side)
        shrink = (0.12 + 0.25 * f.severity) * rng.uniform(0.85, 1.15)
        xmin, xmax, ymin, ymax = lung_extent(a, side)
        sl = sc.grid.box(xmin, xmax, ymin, ymax)
        X, Y = sc.grid.X[sl], sc.grid.Y[sl]
        # Collapsed lung = the lung shrunk towards the hilum, most at the apex and not at
        # all below y_stop, so the gap tapers smoothly down the lateral wall.
        y_stop = hy + (ymax - hy) * min(1.0, 0.1 + 0.6 * f.severity)
        k = 1.0 - shrink * smoothstep(y_stop, a.apex_y + 2.0, Y)
        q_orig = lung_q(a, X, Y, side)
        q_coll = lung_q(a, hx + (X - hx) / k, hy + (Y - hy) / k, side)
        air = sc.air(side)[sl]
        lateral = (s * (X - hx) > -0.5) | (Y < hy - 4.0)  # lung stays tethered at the hilum
        space = (q_orig > 0) & (q_coll < 0) & (air > 0.3) & lateral
        sc.vessel_gain[sl] = np.where(space, 0.0, sc.vessel_gain[sl])
        extra = np.where(space, MU_LUNG * air * 0.45, 0.0).astype(np.float32)
        sc.extra_air = sc.extra_air if sc.extra_air is not None else sc.grid.zeros()
        sc.extra_air[sl] += extra
        # Visceral pleural line: only where the lung has actually separated from the wall.
        gap = smoothstep(0.01, 0.04, 1.0 - k)
        line = np.exp(-(q_coll / 0.03) ** 2) * (air > 0.3) * (q_coll > -0.2) * lateral * gap
        sc.L[sl] += np.float32(0.3) * line.astype(np.float32)
        m = np.zeros(sc.L.shape, bool)
        m[sl] = space | (line > 0.3)
        mask |= m
    return mask


# ----------------------------------------------------------------------------- devices


def render_device(sc: Scene, f: Finding, rng) -> np.ndarray:
    draw = DEVICE_DRAWERS.get(f.subtype, draw_line)
    acc = draw(sc, f, rng)
    sc.metal = acc if sc.metal is None else sc.metal + acc
    return dilate(acc > 0.03, 1)


def draw_ett(sc: Scene, f, rng) -> np.ndarray:
    """Endotracheal tube: tip a few cm above the carina, with a radio-opaque stripe."""
    a = sc.anat
    tip = a.carina_y - rng.uniform(2.5, 5.5)
    ys = np.linspace(-2.0, tip, 10)
    xs = 0.15 + rng.normal(0, 0.05) + 0.1 * np.sin(ys / 4)
    acc = line_map(sc.grid, xs - 0.45, ys, 0.05, 1.0, 0.5) + line_map(sc.grid, xs + 0.45, ys, 0.05, 1.0, 0.5)
    acc += line_map(sc.grid, xs + 0.2, ys, 0.09, MU_METAL, 0.5)
    return acc


def draw_ngt(sc: Scene, f, rng) -> np.ndarray:
    """Enteric tube down the oesophagus, through the hiatus, tip in the stomach."""
    a = sc.anat
    ys = np.array([-2.0, a.carina_y, a.dome_l - 2, a.dome_l + 1.5, a.dome_l + 3.0])
    xs = np.array([0.3, 0.8, 1.8, 3.5, 5.5]) + rng.normal(0, 0.2, 5)
    return line_map(sc.grid, xs, ys, 0.12, MU_METAL * 0.6, 0.6)


def draw_line(sc: Scene, f, rng) -> np.ndarray:
    """Central venous catheter: subclavian or jugular entry, tip at the cavo-atrial junction."""
    a = sc.anat
    side = f.side if f.side in ("right", "left") else ("right" if rng.random() < 0.65 else "left")
    s = sc.side_sign(side)
    svc_x = -(a.med_hw - 0.4)
    tip_y = a.carina_y + rng.uniform(3.0, 5.5)
    if rng.random() < 0.5:  # subclavian
        xs = [s * (a.thorax_hw + 2.0), s * 7.0, s * 3.5, svc_x * 0.9 if s < 0 else 0.5, svc_x, svc_x + 0.2]
        ys = [a.clav_y + 1.8, a.clav_y + 1.2, a.clav_y + 2.2, a.carina_y - 2.5, a.carina_y + 1, tip_y]
    else:  # internal jugular
        xs = [s * 3.2, s * 2.8, svc_x * 0.8 if s < 0 else 0.0, svc_x, svc_x + 0.2]
        ys = [-2.0, a.clav_y, a.carina_y - 3.0, a.carina_y + 1, tip_y]
    px, py, _ = sample_polyline(xs, ys, 0.3)
    px = ndimage.gaussian_filter1d(px, 2, mode="nearest")
    py = ndimage.gaussian_filter1d(py, 2, mode="nearest")
    return line_map(sc.grid, px, py, 0.11, MU_METAL * 0.55, 0.55)


def draw_pacemaker(sc: Scene, f, rng) -> np.ndarray:
    """Generator in the upper chest (usually left) with leads into the right heart."""
    a = sc.anat
    side = f.side if f.side in ("right", "left") else ("left" if rng.random() < 0.85 else "right")
    s = sc.side_sign(side)
    gx, gy = s * (0.55 * a.thorax_hw + rng.uniform(-1, 1)), a.clav_y + rng.uniform(1.8, 3.2)
    X, Y = sc.grid.X - np.float32(gx), sc.grid.Y - np.float32(gy)
    q = np.abs(X / 2.2) ** 2.6 + np.abs(Y / 1.9) ** 2.6
    # Titanium can (dense rim, lighter inside) with a denser connector block on top.
    acc = (np.float32(0.9) * (q < 1.0) + np.float32(0.5) * ((q < 1.0) & (q > 0.7))).astype(np.float32)
    acc += np.float32(1.2) * ((np.abs(X) < 1.0) & (Y > -2.3) & (Y < -1.4))
    acc = ndimage.gaussian_filter(acc, 0.6)
    ra = (-(a.med_hw - 0.8), a.dome_r - 5.0)
    rv = (a.heart_cx + 0.45 * a.heart_hw, a.dome_r - 1.2)
    for tip, extra in ((ra, 0.0), (rv, 0.5))[: 1 + int(rng.random() < 0.8)]:
        xs = [gx - s * 1.5, s * 4.0, -(a.med_hw - 0.5), -(a.med_hw - 0.6) + extra, tip[0]]
        ys = [gy - 0.5, a.clav_y + 1.0 + extra, a.carina_y, a.carina_y + 3.0, tip[1]]
        px, py, _ = sample_polyline(xs, ys, 0.3)
        px = ndimage.gaussian_filter1d(px, 2.5, mode="nearest")
        py = ndimage.gaussian_filter1d(py, 2.5, mode="nearest")
        acc += line_map(sc.grid, px, py, 0.12, MU_METAL * 0.7, 0.5)
    return acc


def draw_sternotomy(sc: Scene, f, rng) -> np.ndarray:
    """Median sternotomy wires: a column of small twisted loops over the mediastinum."""
    a = sc.anat
    n = int(rng.integers(5, 8))
    ys = np.linspace(a.clav_y + 2.0, a.dome_r - 2.5, n) + rng.normal(0, 0.3, n)
    pts_x, pts_y = [], []
    t = np.linspace(0, 2 * np.pi, 40)
    for y in ys:
        x0 = rng.normal(0.2, 0.25)
        w, h = rng.uniform(0.5, 0.8), rng.uniform(0.25, 0.4)
        tilt = np.radians(rng.normal(0, 12))
        ex, ey = w * np.cos(t), h * np.sin(t)
        pts_x.append(x0 + ex * np.cos(tilt) - ey * np.sin(tilt))
        pts_y.append(y + ex * np.sin(tilt) + ey * np.cos(tilt))
        pts_x.append(x0 + np.zeros(6) + np.linspace(-0.05, 0.05, 6))
        pts_y.append(y + np.linspace(0, 0.7, 6))  # the twisted end
    acc = sc.grid.zeros()
    for xs, ys_ in zip(pts_x, pts_y):
        acc += line_map(sc.grid, xs, ys_, 0.07, MU_METAL, 0.45)
    return acc


def draw_clips(sc: Scene, f, rng) -> np.ndarray:
    """Surgical clips: a cluster of short dense bars (e.g. cholecystectomy, axilla)."""
    a = sc.anat
    s = -1.0 if f.side != "left" else 1.0
    if f.zone == "abdomen" or rng.random() < 0.5:
        cx, cy = s * rng.uniform(3, 7), a.dome_r + rng.uniform(2.0, 4.0)
    else:
        cx, cy = s * (a.thorax_hw - rng.uniform(0.5, 2.0)), a.clav_y + rng.uniform(2, 5)
    acc = sc.grid.zeros()
    for _ in range(int(rng.integers(2, 6))):
        x, y = cx + rng.normal(0, 0.8), cy + rng.normal(0, 0.8)
        ang = rng.uniform(0, np.pi)
        acc += line_map(sc.grid, [x, x + 0.6 * np.cos(ang)], [y, y + 0.6 * np.sin(ang)], 0.08, MU_METAL, 0.5)
    return acc


DEVICE_DRAWERS: dict[str, Callable] = {
    "ett": draw_ett,
    "ngt": draw_ngt,
    "line": draw_line,
    "pacemaker": draw_pacemaker,
    "sternotomy": draw_sternotomy,
    "clips": draw_clips,
}

RENDERERS: dict[str, Callable[[Scene, Finding, np.random.Generator], np.ndarray]] = {
    "cardiomegaly": render_cardiomegaly,
    "effusion": render_effusion,
    "atelectasis": render_atelectasis,
    "opacity": render_opacity,
    "consolidation": render_opacity,
    "nodule": render_nodule,
    "granuloma": render_granuloma,
    "edema": render_edema,
    "pneumothorax": render_pneumothorax,
    "device": render_device,
}
# Drawing order: big fluid/air changes first, then focal lesions, then metal on top.
ORDER = ("cardiomegaly", "edema", "effusion", "atelectasis", "opacity", "consolidation",
         "pneumothorax", "nodule", "granuloma", "device")
