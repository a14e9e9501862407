"""A 3-D-ish chest phantom projected into a PA radiograph.

The body is a set of ellipsoids, tubes and shells with tissue-like attenuation (soft tissue
~0.20 /cm, inflated lung ~0.05 /cm, bone ~0.45 /cm). Each structure contributes its path
length times its attenuation difference to a line-integral map ``L``; the film is then made
the way a detector and its software would: transmission, scatter haze, quantum noise (worse
behind dense tissue), log, dynamic-range compression, unsharp masking and an S-shaped LUT.

Anatomy varies per case through ``Anatomy`` (sampled from a seeded generator); findings
(``findings.py``) read the intermediate ``Scene`` and add attenuation of their own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from PIL import Image
from scipy import ndimage

from .geometry import (Grid, add_curve_band, add_ellipsoid, add_shell, blur_large, ellipsoid_chord,
                       smooth_noise, smoothstep, splat)

MU_TISSUE = 0.20
MU_LUNG = 0.05
MU_BONE = 0.45
AIR_CONTRAST = MU_TISSUE - MU_LUNG  # what replacing lung with fluid adds per cm


@dataclass
class Knobs:
    """Global realism / difficulty knobs (1.0 = the defaults the corpus was tuned with)."""

    noise: float = 1.0  # quantum noise amplitude
    scatter: float = 1.0  # low-frequency haze
    severity: float = 1.0  # multiplies every finding's attenuation
    variation: float = 1.0  # spread of anatomy / exposure between cases


@dataclass
class Anatomy:
    """Per-case body geometry (cm) and acquisition settings."""

    fov: float
    angle: float
    shift_x: float
    shift_y: float
    thorax_hw: float  # inner rib-cage half width
    body_hw: float
    body_depth: float  # semi-axis along the beam
    apex_y: float
    dome_r: float  # right hemidiaphragm apex (patient right = image left)
    dome_l: float
    cp_drop: float  # how far the domes fall towards the costophrenic angles
    heart_cx: float
    heart_hw: float
    heart_hh: float
    heart_depth: float
    heart_tilt: float
    med_hw: float
    knob: float  # aortic knob size factor
    carina_y: float
    spine_x: float  # spinous-process offset from the mediastinum (patient rotation)
    scoliosis: float
    rib_top: float
    rib_step: float
    clav_y: float
    breast: float  # 0 = none
    soft: float  # subcutaneous soft-tissue excess
    vessel_scale: float
    upper_vessel: float  # >1 = upper-lobe diversion (congestion)
    exposure: float
    contrast: float
    noise: float
    scatter: float
    gamma: float
    sharpen: float

    @property
    def ctr(self) -> float:
        return self.heart_hw / self.thorax_hw


def sample_anatomy(rng: np.random.Generator, knobs: Knobs | None = None) -> Anatomy:
    """Draw a plausible adult, with inspiration, rotation and exposure that vary."""
    kv = (knobs or Knobs()).variation
    kn = knobs or Knobs()

    def n(mu, sd, lo=None, hi=None):
        v = mu + sd * kv * rng.standard_normal()
        return float(np.clip(v, lo if lo is not None else -np.inf, hi if hi is not None else np.inf))

    thorax = n(14.2, 0.9, 12.2, 16.5)
    dome_r = n(26.8, 1.1, 24.0, 29.5)
    ctr = n(0.43, 0.03, 0.36, 0.49)
    return Anatomy(
        fov=n(38.5 + (thorax - 14.2) * 1.2, 1.0, 35.0, 43.0),
        angle=n(0.0, 1.4, -4.0, 4.0),
        shift_x=n(0.0, 0.7, -2.0, 2.0),
        shift_y=n(0.0, 0.8, -2.0, 2.0),
        thorax_hw=thorax,
        body_hw=thorax + n(3.0, 0.8, 1.8, 5.0),
        body_depth=n(11.0, 1.0, 9.0, 13.5),
        apex_y=n(5.6, 0.5, 4.5, 7.0),
        dome_r=dome_r,
        dome_l=dome_r + n(1.4, 0.5, 0.3, 2.6),
        cp_drop=n(3.4, 0.5, 2.4, 4.5),
        heart_cx=n(1.6, 0.5, 0.5, 2.8),
        heart_hw=ctr * thorax,
        heart_hh=n(6.6, 0.45, 5.6, 7.6),
        heart_depth=n(6.0, 0.4, 5.2, 6.8),
        heart_tilt=n(-28.0, 5.0, -40.0, -15.0),
        med_hw=n(2.5, 0.25, 2.0, 3.1),
        knob=n(1.0, 0.15, 0.7, 1.4),
        carina_y=n(13.0, 0.7, 11.5, 14.5),
        spine_x=n(0.0, 0.4, -1.0, 1.0),
        scoliosis=n(0.0, 0.3, -1.0, 1.0),
        rib_top=n(4.6, 0.4, 3.6, 5.6),
        rib_step=n(2.35, 0.12, 2.05, 2.6),
        clav_y=n(6.6, 0.6, 5.3, 8.0),
        breast=float(rng.random() < 0.5) * n(1.0, 0.3, 0.4, 1.6),
        soft=n(0.0, 1.0, -1.0, 2.5),
        vessel_scale=n(1.0, 0.1, 0.8, 1.25),
        upper_vessel=1.0,
        exposure=n(0.0, 0.05, -0.12, 0.12),
        contrast=n(1.0, 0.07, 0.85, 1.2),
        noise=kn.noise * n(1.0, 0.25, 0.5, 1.6),
        scatter=kn.scatter * n(1.0, 0.2, 0.6, 1.5),
        gamma=n(1.0, 0.08, 0.8, 1.2),
        sharpen=n(0.9, 0.2, 0.4, 1.4),
    )


@dataclass
class Scene:
    """Intermediate maps the findings read and modify before the film is made."""

    grid: Grid
    anat: Anatomy
    L: np.ndarray  # line integral so far (tissue units)
    air_r: np.ndarray  # path length (cm) through aerated right lung (image left)
    air_l: np.ndarray
    heart: np.ndarray  # path length through the heart
    vessel_gain: np.ndarray  # 1 where lung markings show, 0 beyond a pneumothorax line
    vessel_points: dict = field(default_factory=dict)  # sigma_px -> (xs, ys, weights)
    extra_air: np.ndarray | None = None  # findings may add air (pneumothorax)
    metal: np.ndarray | None = None  # devices: kept apart so they do not set the window

    def air(self, side: str) -> np.ndarray:
        return self.air_r if side == "right" else self.air_l

    def side_sign(self, side: str) -> float:
        """Image x sign of a patient side: the patient's right is on the image left."""
        return -1.0 if side == "right" else 1.0

    def dome_y(self, x):
        return dome_y(self.anat, x)

    def lung_box(self, side: str):
        """(x_medial, x_lateral, y_top, y_bottom) of a lung field in cm."""
        a = self.anat
        s = self.side_sign(side)
        bottom = a.dome_r if side == "right" else a.dome_l
        return s * (a.med_hw + 0.5), s * (a.thorax_hw - 0.3), a.apex_y, bottom + a.cp_drop

    def hilum(self, side: str):
        a = self.anat
        s = self.side_sign(side)
        return s * (a.med_hw + 1.6 + (0.4 if side == "left" else 0.0)), a.carina_y + (2.0 if side == "right" else 1.2)


def dome_y(a: Anatomy, x):
    """Height of the diaphragm under image x (both domes; right is image left).

    Tabulated once on a fine 1-D grid and interpolated: it is called on whole images.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.size > 64:
        xt = np.linspace(-a.fov, a.fov, 1024, dtype=np.float32)
        return np.interp(x, xt, _dome_exact(a, xt)).astype(np.float32)
    return _dome_exact(a, x)


def _dome_exact(a: Anatomy, x):
    right = x < 0
    apex_x = np.where(right, -0.45 * a.thorax_hw, 0.5 * a.thorax_hw)
    top = np.where(right, a.dome_r, a.dome_l)
    wall = np.where(right, -a.thorax_hw, a.thorax_hw)
    t_lat = np.clip((x - apex_x) / (wall - apex_x), 0.0, 1.4)
    t_med = np.clip((x - apex_x) / (0.0 - apex_x), 0.0, 1.0)
    lateral = (np.abs(x) > np.abs(apex_x))
    drop = np.where(lateral, a.cp_drop * t_lat ** 2.4, 2.4 * t_med ** 2)
    return (top + drop).astype(np.float32)


def lung_q(a: Anatomy, X, Y, side: str):
    """Superellipse "inside-ness" of one lung field: > 0 inside, 0 on its outline.

    Flatter at the base than at the apex, like real lungs; the diaphragm cuts it later.
    """
    s = -1.0 if side == "right" else 1.0
    bottom = (a.dome_r if side == "right" else a.dome_l) + a.cp_drop + 1.2
    # The chest is bell-shaped: narrower at the apices than at the bases.
    widen = np.float32(0.78) + np.float32(0.22) * smoothstep(a.apex_y - 1.0, a.apex_y + 12.0, Y)
    x_med = np.float32(s * (a.med_hw - 1.0))
    x_lat = np.float32(s * (a.thorax_hw - 0.2)) * widen
    cx, ax = (x_med + x_lat) / 2, np.abs(x_lat - x_med) / 2
    cy = a.apex_y + 0.55 * (bottom - a.apex_y)
    up, down = cy - a.apex_y, bottom - cy
    dy = Y - np.float32(cy)
    v = np.where(dy < 0, np.abs(dy / np.float32(up)) ** 2.0, np.abs(dy / np.float32(down)) ** 6.0)
    u = np.abs((X - cx) / ax) ** 2.4
    return (1.0 - u - v).astype(np.float32)


def lung_extent(a: Anatomy, side: str):
    """(xmin, xmax, ymin, ymax) in cm enclosing one lung field."""
    s = -1.0 if side == "right" else 1.0
    bottom = (a.dome_r if side == "right" else a.dome_l) + a.cp_drop + 1.2
    x_med, x_lat = s * (a.med_hw - 1.0), s * (a.thorax_hw - 0.2)
    return min(x_med, x_lat), max(x_med, x_lat), a.apex_y, bottom


def lung_chord(grid: Grid, a: Anatomy, side: str):
    """Path length (cm) through one aerated lung, before heart and mediastinum are removed."""
    out = grid.zeros()
    sl = grid.box(*lung_extent(a, side))
    if sl is None:
        return out
    X, Y = grid.X[sl], grid.Y[sl]
    q = lung_q(a, X, Y, side)
    # The lungs wrap around the heart: medially only a thin slab of lung lies in front
    # of and behind it, laterally the full depth of the chest is aerated.
    depth = 7.5 * (0.35 + 0.65 * smoothstep(0.5, 9.0, np.abs(X)))
    chord = (2 * depth) * np.sqrt(np.maximum(q, 0.0))
    # Below the dome only the thin posterior recess is still aerated (behind the liver).
    d = Y - dome_y(a, X)
    above = smoothstep(0.25, -0.25, d)
    recess = 0.22 * np.clip(1.0 - d / 3.5, 0.0, 1.0) * (d > 0)
    out[sl] = chord * (above + recess)
    return out


def build_scene(a: Anatomy, size: int, rng: np.random.Generator) -> Scene:
    grid = Grid(size, a.fov, a.angle, a.shift_x, a.shift_y)
    L = body_tissue(grid, a)
    heart = heart_chord(grid, a)
    med = mediastinum_chord(grid, a)
    air_r = np.maximum(lung_chord(grid, a, "right") - heart - med, 0.0)
    air_l = np.maximum(lung_chord(grid, a, "left") - heart - med, 0.0)
    scene = Scene(grid, a, L, air_r, air_l, heart, np.ones_like(L))
    add_airways(scene)
    add_bones(scene)
    add_breasts(scene)
    scene.vessel_points = vessel_tree(scene, rng)
    return scene


def body_tissue(grid: Grid, a: Anatomy) -> np.ndarray:
    """Soft tissue of neck, shoulders and trunk as one elliptic cylinder of varying width."""
    X, Y = grid.X, grid.Y
    neck_hw = 0.42 * a.thorax_hw
    w = neck_hw + (a.body_hw + 2.5 - neck_hw) * smoothstep(-1.0, a.apex_y + 1.0, Y)
    w = np.maximum(w - 1.5 * smoothstep(a.dome_l + 6.0, a.dome_l + 14.0, Y), 1.0)
    depth = a.body_depth + 0.35 * a.soft
    q = 1.0 - (X / w) ** 2
    chord = 2.0 * depth * np.sqrt(np.maximum(q, 0.0))
    # Shoulders and arms flank the upper chest: extra tissue near the top corners.
    arm = 5.0 * smoothstep(a.body_hw - 1.0, a.body_hw + 2.0, np.abs(X)) * smoothstep(3.0, 0.0, Y - a.apex_y)
    return (MU_TISSUE * (chord + arm)).astype(np.float32)


def heart_chord(grid: Grid, a: Anatomy) -> np.ndarray:
    cy = a.dome_r - a.heart_hh * 0.42 + 1.0
    # The tilted ellipse's horizontal extent must equal 2*heart_hw (that sets the CTR).
    t = np.radians(a.heart_tilt)
    ratio = a.heart_hh / a.heart_hw
    ax = a.heart_hw / np.sqrt(np.cos(t) ** 2 + (ratio * np.sin(t)) ** 2)
    out = grid.zeros()
    add_ellipsoid(out, grid, a.heart_cx, cy, ax, ax * ratio, a.heart_depth, 1.0, a.heart_tilt)
    # Right atrium: the convex lower right heart border below the straight SVC line.
    add_ellipsoid(out, grid, -(a.med_hw - 0.6 + 0.15 * (a.heart_hw - 6.0)), a.dome_r - 2.2, 2.6, 4.0, 4.5, 1.0)
    # Left atrial appendage / pulmonary trunk shoulder on the upper left heart border.
    add_ellipsoid(out, grid, a.heart_cx + 0.1 * a.heart_hw, cy - 0.9 * a.heart_hh, 1.6, 2.6, 4.0, 1.0, 25)
    return out


def mediastinum_chord(grid: Grid, a: Anatomy) -> np.ndarray:
    X, Y = grid.X, grid.Y
    hw = a.med_hw + 0.9 * smoothstep(a.apex_y, a.carina_y + 3, Y)
    q = 1.0 - ((X - 0.3) / hw) ** 2
    col = 2 * 6.5 * np.sqrt(np.maximum(q, 0.0)) * smoothstep(a.dome_r + 2, a.dome_r - 4, Y)
    out = col.astype(np.float32)
    # Aortic knob bulges the upper left border; the descending aorta runs beside the spine.
    k = a.knob
    add_ellipsoid(out, grid, a.med_hw - 0.5 + 0.4 * k, a.carina_y - 2.2, 1.3 * k, 2.0 * k, 5.0, 1.0)
    add_curve_band(out, grid, [a.carina_y - 2.5, a.dome_l], [a.med_hw * 0.75, a.med_hw * 0.9],
                   1.2 * k, 1.0, depth=1.5, vertical=True)
    return out


def add_airways(sc: Scene) -> None:
    a, g = sc.anat, sc.grid
    L = sc.L
    # Trachea: a midline air column, slightly deviated right by the aortic knob.
    ys = np.linspace(-1.0, a.carina_y, 8)
    xs = 0.15 - 0.35 * np.exp(-((ys - (a.carina_y - 2.2)) / 1.5) ** 2)
    add_curve_band(L, g, ys, xs, 0.85, -MU_TISSUE, depth=0.85, vertical=True)
    # Main bronchi: the right one shorter and steeper.
    for side, ang, length in (("right", 62.0, 2.4), ("left", 45.0, 4.2)):
        s = sc.side_sign(side)
        t = np.linspace(0, 1, 6)
        xs = s * (0.3 + t * length * np.sin(np.radians(ang)))
        ys = a.carina_y + t * length * np.cos(np.radians(ang))
        add_curve_band(L, g, xs, ys, 0.6, -MU_TISSUE * 0.8, depth=0.7)
    # Gastric air bubble under the left dome.
    add_ellipsoid(L, g, 0.45 * a.thorax_hw + 1.0, a.dome_l + 2.2, 2.4, 1.4, 2.0, -MU_TISSUE, -10)


# The rib cage and spine are drawn once, for a canonical body, on a fine grid; each case
# samples them through its own scaling (chest width, rib spacing) and spine curve. That is
# ~5x cheaper than drawing 44 ribs and 60 vertebral parts per case.
CANON = SimpleNamespace(thorax_hw=14.2, rib_top=4.6, rib_step=2.35, spine_x=0.0, scoliosis=0.0,
                        apex_y=5.6, fov=50.0)


@functools.lru_cache(maxsize=1)
def bone_templates():
    g = Grid(640, 56.0, 0.0, 0.0, 4.0)  # x in [-28, 28] cm, y in [-4, 52] cm
    sc = SimpleNamespace(anat=CANON, grid=g)
    ribs, spine = g.zeros(), g.zeros()
    add_ribs(ribs, sc, -1.0)
    add_ribs(ribs, sc, 1.0)
    add_spine(spine, sc)
    return g, Image.fromarray(ribs, mode="F"), spine


def _canonical(a: Anatomy, x, y):
    """Case cm -> canonical-body cm (chest width and rib spacing normalised)."""
    return (np.asarray(x) * (CANON.thorax_hw / a.thorax_hw),
            CANON.rib_top + (np.asarray(y) - a.rib_top) * (CANON.rib_step / a.rib_step))


def _sample_ribs(sc: Scene) -> np.ndarray:
    """The rib template under this case's (affine) pixel -> canonical mapping, by PIL's
    affine resampler (one C call, ~3x faster than map_coordinates)."""
    a, g = sc.anat, sc.grid
    tg, ribs_img, _ = bone_templates()
    # Output pixel index (c, r) -> cm is affine, cm -> canonical is affine, canonical ->
    # template index is affine: read the composite off three pixels.
    c = np.array([0.0, 1.0, 0.0])
    r = np.array([0.0, 0.0, 1.0])
    half, k = g.fov_cm / 2, g.cm_per_px
    u, v = (c + 0.5) * k - half, (r + 0.5) * k - half
    X = g._c * u + g._s * v - g.shift_x
    Y = -g._s * u + g._c * v + half - g.shift_y
    tc, tr = tg.to_pixel(*_canonical(a, X, Y))
    co = (tc[1] - tc[0], tc[2] - tc[0], tr[1] - tr[0], tr[2] - tr[0])
    # PIL samples continuous coordinates (index + 0.5) at output pixel centres.
    off_c = tc[0] + 0.5 - 0.5 * (co[0] + co[1])
    off_r = tr[0] + 0.5 - 0.5 * (co[2] + co[3])
    out = ribs_img.transform((g.size, g.size), Image.Transform.AFFINE,
                             (co[0], co[1], off_c, co[2], co[3], off_r),
                             resample=Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.float32).copy()


def _sample_spine(sc: Scene, acc: np.ndarray) -> None:
    """The spine template along this case's (possibly scoliotic) midline: only a column
    of the image is sampled."""
    a, g = sc.anat, sc.grid
    tg, _, spine = bone_templates()
    sl = g.box(-7.5, 7.5, -3.0, a.fov + 3.0)
    X, Y = g.X[sl], g.Y[sl]
    shift = a.spine_x * 0.3 + a.scoliosis * 1.5 * np.sin(np.pi * (Y - a.apex_y) / 22.0)
    _, yc = _canonical(a, X, Y)  # vertebrae follow the rib spacing; width is not scaled
    cols, rows = tg.to_pixel(X - shift, yc)
    vals = ndimage.map_coordinates(spine, [rows.ravel(), cols.ravel()], order=1, mode="constant",
                                   cval=0.0, prefilter=False)
    acc[sl] += vals.reshape(X.shape).astype(np.float32)


def add_bones(sc: Scene) -> None:
    a, g = sc.anat, sc.grid
    bone = _sample_ribs(sc)
    _sample_spine(sc, bone)
    for side in ("right", "left"):
        s = sc.side_sign(side)
        # Clavicle: a gentle S from the sternal notch out over the apex to the acromion.
        t = np.linspace(0.0, 1.0, 16)
        xs = s * (1.6 + t * (a.thorax_hw + 1.0))
        ys = a.clav_y + 1.0 - 3.4 * t + 0.5 * np.sin(2 * np.pi * t) + 0.9 * t ** 3
        add_curve_band(bone, g, xs, ys, 0.75, MU_BONE - MU_TISSUE, depth=1.0, shell=0.25)
        # Humeral head and scapular neck at the top corners.
        add_ellipsoid(bone, g, s * (a.thorax_hw + 4.2), a.clav_y + 0.4, 2.6, 2.8, 2.6,
                      (MU_BONE - MU_TISSUE) * 0.35)
        add_ellipsoid(bone, g, s * (a.thorax_hw + 1.2), a.clav_y + 3.5, 1.2, 3.5, 0.6,
                      (MU_BONE - MU_TISSUE) * 0.8, s * 25)
    sc.L += bone


def add_spine(bone, sc: Scene) -> None:
    a, g = sc.anat, sc.grid
    mu = MU_BONE - MU_TISSUE
    step = a.rib_step
    y = a.rib_top - 2.5
    while y < a.fov + 2:
        xc = a.spine_x * 0.3 + a.scoliosis * 1.5 * np.sin(np.pi * (y - a.apex_y) / 22.0)
        hw = 1.6 + 0.035 * y
        h = step * 0.8
        # Vertebral body (trabecular bone) with a denser cortical rim, then a disc gap.
        add_shell(bone, g, xc, y + h / 2, hw, h / 2, 1.6, 0.3, mu * 0.22)
        for s in (-1.0, 1.0):  # pedicles: small dense rings at the body's upper corners
            add_shell(bone, g, xc + s * (hw - 0.45), y + 0.35 * h, 0.38, 0.5, 0.7, 0.15, mu * 0.45)
        add_ellipsoid(bone, g, xc + a.spine_x, y + 0.8 * h, 0.35, 0.6, 1.2, mu * 0.3)
        y += step


def add_ribs(bone, sc: Scene, s: float) -> None:
    a, g = sc.anat, sc.grid
    mu = MU_BONE - MU_TISSUE
    t = np.linspace(0.0, 1.0, 24)
    for i in range(11):
        y0 = a.rib_top + i * a.rib_step * (1.0 + 0.025 * i)
        wall = min(a.thorax_hw * (0.62 + 0.1 * i) if i < 4 else a.thorax_hw, a.thorax_hw) + 0.6
        xs = s * (1.6 + t * (wall - 1.6))
        rise = 1.5 + 0.08 * i
        ys = y0 - rise * np.sin(np.pi * t * 0.6) + (3.4 + 0.15 * i) * t ** 2.5
        # Denser where the beam runs along the rib (laterally), fading where it turns
        # down out of this simple y = f(x) description.
        fade = (0.8 + 0.7 * t ** 4) * smoothstep(1.0, 0.86, t)
        add_curve_band(bone, g, xs, ys, 0.68, mu, depth=0.6, shell=0.2, fade=fade)
        # Anterior rib: from the lateral wall down and in, fading into cartilage.
        y_lat = ys[-4] + 0.6
        xa = s * (wall - 0.3 - t * (wall - 0.3 - (3.0 + 0.25 * i)))
        ya = y_lat + t * (4.0 + 0.15 * i) + 0.9 * np.sin(np.pi * t)
        fa = ((1.0 - t) ** 1.2 * 0.9 + 0.1) * smoothstep(0.0, 0.12, t)
        add_curve_band(bone, g, xa, ya, 0.8, mu * 0.6, depth=0.35, shell=0.15, fade=fa)


def add_breasts(sc: Scene) -> None:
    a, g = sc.anat, sc.grid
    for s in (-1.0, 1.0):  # pectoral muscles over the upper lateral lung fields
        add_ellipsoid(sc.L, g, s * 0.75 * a.thorax_hw, a.clav_y + 4.5, 8.0, 4.5, 2.0,
                      MU_TISSUE * 0.3, s * 35)
    if a.breast <= 0:
        return
    for s in (-1.0, 1.0):
        # Only the curved inferolateral margin is sharp; upwards the breast thins gradually
        # into the chest wall, so no upper outline shows.
        cx, cy = s * 0.62 * a.thorax_hw, a.dome_r - 0.5
        ax, ay = 7.5 * a.breast ** 0.3, 5.5 * a.breast ** 0.3
        sl = g.box(cx - ax, cx + ax, cy - ay, cy + ay)
        if sl is None:
            continue
        chord = ellipsoid_chord(g.X[sl], g.Y[sl], cx, cy, ax, ay, 1.6 * a.breast, s * 15)
        chord = np.minimum(chord, np.float32(1.2 * a.breast))  # flat-topped: no inner ring
        sc.L[sl] += np.float32(MU_TISSUE * 0.8) * chord * smoothstep(cy - ay, cy + 0.3 * ay, g.Y[sl])


def vessel_tree(sc: Scene, rng: np.random.Generator) -> dict:
    """Branching pulmonary vessels from each hilum, as points grouped by blur width.

    Grown level by level with arrays (one row per branch) rather than recursively: a case
    has ~1,000 branches and Python recursion was the slowest part of the render.
    """
    a = sc.anat
    xs0, ys0, angs, reaches, radii = [], [], [], [], []
    for side in ("right", "left"):
        hx, hy = sc.hilum(side)
        s = sc.side_sign(side)
        x_med, x_lat, y_top, y_bot = sc.lung_box(side)
        n_main = 12
        deg = np.linspace(-80, 86, n_main) + rng.normal(0, 5, n_main)
        rad = np.radians(deg)
        dx, dy = np.cos(rad), np.sin(rad)
        reach_x = abs(x_lat - hx) / np.maximum(np.abs(dx), 1e-3)
        reach_y = np.where(dy > 0, y_bot - hy, hy - y_top) / np.maximum(np.abs(dy), 1e-3)
        r0 = 0.5 * a.vessel_scale * (1.0 + 0.18 * dy)
        r0 = np.where(-dy > 0.2, r0 * a.upper_vessel, r0)
        # Main branches leave from along a vertically elongated hilum, not one point.
        xs0.append(hx + s * dx * rng.uniform(0.3, 1.2, n_main))
        ys0.append(hy + dy * 1.2 + rng.normal(0, 0.5, n_main))
        angs.append(np.arctan2(dy, s * dx))
        reaches.append(0.8 * np.minimum(reach_x, reach_y))
        radii.append(r0)
    x, y, ang = np.concatenate(xs0), np.concatenate(ys0), np.concatenate(angs)
    reach, r = np.concatenate(reaches), np.concatenate(radii)
    px = sc.grid.cm_per_px
    pts_x, pts_y, pts_w, pts_s = [], [], [], []
    for depth in range(6):
        m = len(x)
        if m == 0:
            break
        length = reach * (0.3 if depth == 0 else 0.45) * rng.uniform(0.75, 1.2, m)
        bend = rng.normal(0, 0.25, m)
        bend = np.where(np.abs(bend) < 1e-3, 1e-3, bend)
        n = np.maximum((length / 0.07).astype(int), 2)
        idx = np.repeat(np.arange(m), n)
        t = (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
        b, a0, ln = bend[idx], ang[idx], length[idx]
        pts_x.append(x[idx] + ln * (np.sin(a0 + b * t) - np.sin(a0)) / b)
        pts_y.append(y[idx] - ln * (np.cos(a0 + b * t) - np.cos(a0)) / b)
        rr = r[idx] * (1.0 - 0.25 * t)
        pts_w.append(AIR_CONTRAST * np.pi * rr ** 2 * (ln / n[idx]) / px ** 2)
        pts_s.append(np.repeat(np.maximum(0.45 * r / px, 0.5), n))
        # Children: two per branch, thinner, splaying off the end direction.
        end_ang = ang + bend
        ex = x + length * (np.sin(end_ang) - np.sin(ang)) / bend
        ey = y - length * (np.cos(end_ang) - np.cos(ang)) / bend
        rem = reach - length
        keep = (r >= 0.06) & (rem >= 0.6)
        k = int(keep.sum())
        spread = np.radians(rng.uniform(10, 30, (2, k)))
        x = np.tile(ex[keep], 2)
        y = np.tile(ey[keep], 2)
        ang = np.concatenate([end_ang[keep] - spread[0], end_ang[keep] + spread[1]])
        reach = np.tile(rem[keep], 2)
        r = np.tile(r[keep], 2) * rng.uniform(0.68, 0.82, 2 * k)
    X, Y, W, S = (np.concatenate(v) for v in (pts_x, pts_y, pts_w, pts_s))
    classes = np.array([0.6, 1.1, 2.0, 3.4])
    which = np.abs(S[:, None] - classes[None, :]).argmin(1)
    return {float(c): (X[which == i], Y[which == i], W[which == i])
            for i, c in enumerate(classes) if np.any(which == i)}


def lung_markings(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """Vessels and fine interstitial texture, visible only where there is aerated lung."""
    air = sc.air_r + sc.air_l
    vis = smoothstep(0.5, 4.0, air) * sc.vessel_gain
    acc = sc.grid.zeros()
    for sigma, (xs, ys, ws) in sc.vessel_points.items():
        acc += splat(sc.grid, xs, ys, ws, sigma)
    texture = smooth_noise(rng, sc.grid.size, 2.0) * np.float32(0.05)
    return (acc + texture) * vis


def make_film(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """Line integrals -> processed 8-bit-ready film in [0, 1]."""
    a = sc.anat
    L = sc.L - np.float32(AIR_CONTRAST) * (sc.air_r + sc.air_l) + lung_markings(sc, rng)
    if sc.extra_air is not None:
        L = L - sc.extra_air
    if sc.metal is not None:
        L = L + sc.metal
    L = np.maximum(L, 0.0)
    beam = np.exp(-L)  # transmitted intensity
    # Scatter: a blurred copy of the primary beam adds a haze that lifts dense regions.
    scat = blur_large(beam, 24.0 * sc.grid.size / 256)
    beam = beam + np.float32(0.12 * a.scatter) * scat
    # Quantum noise: variance ~ 1/photons, so relative noise is largest behind dense tissue.
    photons = np.float32(4.0e4 / max(a.noise, 1e-3) ** 2)
    noise = rng.standard_normal(beam.shape, dtype=np.float32)
    beam = np.maximum(beam + noise * np.sqrt(beam / photons), 1e-5)
    D = -np.log(beam)
    # Detector blur, then the vendor-style processing: compress large-scale density
    # differences, boost detail, window, S-curve.
    D = ndimage.gaussian_filter(D, 0.5)
    base = blur_large(D, 18.0 * sc.grid.size / 256)
    D = D - np.float32(0.6) * base
    detail = D - ndimage.gaussian_filter(D, 2.0 * sc.grid.size / 256)
    D = D + np.float32(a.sharpen) * detail
    # Auto-windowing ignores metal, as detector software does (a pacemaker must not
    # darken the whole film).
    sample = D if sc.metal is None else D[sc.metal < 0.02]
    lo, hi = np.percentile(sample, [0.5, 99.2])
    p = (D - lo) / max(hi - lo, 1e-6)
    p = (p - 0.5 - a.exposure) * a.contrast
    film = 1.0 / (1.0 + np.exp(-4.2 * p))
    film = (film - film.min()) / max(float(film.max() - film.min()), 1e-6)
    return np.clip(film ** a.gamma, 0.0, 1.0).astype(np.float32)
