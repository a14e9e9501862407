"""Projection primitives for the simulated radiograph.

Everything is measured in centimetres on the detector plane: x grows towards the image right
(the patient's LEFT on a PA film), y grows downwards from the top of the field. A ``Grid``
holds the (possibly rotated) physical coordinates of every pixel; primitives return line
integrals (path length x attenuation) either on the whole grid or on a small bounding box so
that thin structures (ribs, vessels, wires) stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from eclip.memo import BoundedCache


@dataclass
class Grid:
    """Pixel -> centimetre mapping with an in-plane rotation about the image centre."""

    size: int
    fov_cm: float
    angle_deg: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    def __post_init__(self) -> None:
        n = self.size
        self.cm_per_px = self.fov_cm / n
        c = np.float32(np.cos(np.radians(self.angle_deg)))
        s = np.float32(np.sin(np.radians(self.angle_deg)))
        self._c, self._s = float(c), float(s)
        self._half = self.fov_cm / 2.0
        idx = (np.arange(n, dtype=np.float32) + 0.5) * np.float32(self.cm_per_px)
        u = idx[None, :] - np.float32(self._half)
        v = idx[:, None] - np.float32(self._half)
        self.X = (c * u + s * v - np.float32(self.shift_x)).astype(np.float32)
        self.Y = (-s * u + c * v + np.float32(self._half - self.shift_y)).astype(np.float32)

    def to_pixel(self, x, y):
        """Physical cm -> (col, row) in pixels (floats); inverse of the grid mapping."""
        x = np.asarray(x, dtype=np.float64) + self.shift_x
        y = np.asarray(y, dtype=np.float64) - self._half + self.shift_y
        u = self._c * x - self._s * y
        v = self._s * x + self._c * y
        return (u + self._half) / self.cm_per_px - 0.5, (v + self._half) / self.cm_per_px - 0.5

    def box(self, xmin: float, xmax: float, ymin: float, ymax: float, pad_px: int = 2):
        """Pixel slices (rows, cols) covering a physical rectangle, clipped to the image."""
        cols, rows = self.to_pixel([xmin, xmax, xmin, xmax], [ymin, ymin, ymax, ymax])
        r0 = max(int(np.floor(rows.min())) - pad_px, 0)
        r1 = min(int(np.ceil(rows.max())) + pad_px + 1, self.size)
        c0 = max(int(np.floor(cols.min())) - pad_px, 0)
        c1 = min(int(np.ceil(cols.max())) + pad_px + 1, self.size)
        if r0 >= r1 or c0 >= c1:
            return None
        return (slice(r0, r1), slice(c0, c1))

    def zeros(self) -> np.ndarray:
        return np.zeros((self.size, self.size), dtype=np.float32)


def ellipsoid_chord(X, Y, cx, cy, ax, ay, depth, angle_deg=0.0):
    """Path length through an ellipsoid (semi-axes ax, ay in plane, ``depth`` along the
    beam) centred at (cx, cy), optionally rotated in plane. Whole-array version."""
    dx = X - np.float32(cx)
    dy = Y - np.float32(cy)
    if angle_deg:
        c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
        dx, dy = np.float32(c) * dx + np.float32(s) * dy, -np.float32(s) * dx + np.float32(c) * dy
    q = 1.0 - (dx / np.float32(ax)) ** 2 - (dy / np.float32(ay)) ** 2
    return np.float32(2.0 * depth) * np.sqrt(np.maximum(q, 0.0))


def add_ellipsoid(acc, grid: Grid, cx, cy, ax, ay, depth, mu, angle_deg=0.0) -> None:
    """acc += mu * chord of the ellipsoid, evaluated only inside its bounding box."""
    r = max(ax, ay)
    sl = grid.box(cx - r, cx + r, cy - r, cy + r)
    if sl is None:
        return
    acc[sl] += np.float32(mu) * ellipsoid_chord(grid.X[sl], grid.Y[sl], cx, cy, ax, ay, depth, angle_deg)


def add_shell(acc, grid, cx, cy, ax, ay, depth, thick, mu, angle_deg=0.0) -> None:
    """A hollow ellipsoid (cortical bone around marrow): outer chord minus inner chord."""
    add_ellipsoid(acc, grid, cx, cy, ax, ay, depth, mu, angle_deg)
    add_ellipsoid(acc, grid, cx, cy, ax - thick, ay - thick, depth - thick, -mu * 0.75, angle_deg)


def smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def add_curve_band(acc, grid: Grid, xs, ys, radius, mu, depth=None, shell=0.0,
                   fade=None, vertical=False) -> None:
    """A bony (or air) tube following the polyline (xs, ys).

    The curve is a function y = f(x) (or x = f(y) when ``vertical``), sampled at strictly
    monotone xs. Its cross-section is an ellipse ``radius`` wide in the image plane and
    ``depth`` (semi-axis, default = radius) along the beam; with ``shell`` > 0 the inside is
    hollow, so the projected edges come out brighter (cortex) than the middle (marrow), as
    ribs and clavicles do. ``fade`` (one value per vertex) scales density along the curve.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    fade = None if fade is None else np.asarray(fade, dtype=np.float64)
    if xs[0] > xs[-1]:
        xs, ys = xs[::-1], ys[::-1]
        fade = None if fade is None else fade[::-1]
    depth = radius if depth is None else depth
    if vertical:
        sl = grid.box(ys.min() - radius, ys.max() + radius, xs.min(), xs.max())
    else:
        sl = grid.box(xs.min(), xs.max(), ys.min() - radius, ys.max() + radius)
    if sl is None:
        return
    X, Y = (grid.Y[sl], grid.X[sl]) if vertical else (grid.X[sl], grid.Y[sl])
    inside = ((X >= xs[0]) & (X <= xs[-1])).astype(np.float32)
    yc = np.interp(X, xs, ys).astype(np.float32)
    slope = np.gradient(ys, xs)
    cosang = (1.0 / np.sqrt(1.0 + np.interp(X, xs, slope) ** 2)).astype(np.float32)
    d2 = ((Y - yc) * cosang) ** 2
    k = np.float32(2.0 * depth / radius)
    chord = k * np.sqrt(np.maximum(np.float32(radius * radius) - d2, 0.0))
    if shell > 0:
        ri = radius - shell
        chord = chord - np.float32(0.8) * k * np.sqrt(np.maximum(np.float32(ri * ri) - d2, 0.0))
    val = np.float32(mu) * chord * inside
    if fade is not None:
        val *= np.interp(X, xs, fade).astype(np.float32)
    acc[sl] += val


def splat(grid: Grid, xs, ys, weights, sigma_px: float) -> np.ndarray:
    """Accumulate weighted points (cm) bilinearly, then blur with a Gaussian.

    Sampling a line densely and blurring gives a tube with a smooth profile: a cheap way
    to draw hundreds of vessels, wires or septal lines at once.
    """
    n = grid.size
    cols, rows = grid.to_pixel(xs, ys)
    c0 = np.floor(cols).astype(np.int64)
    r0 = np.floor(rows).astype(np.int64)
    fc, fr = cols - c0, rows - r0
    w = np.asarray(weights, dtype=np.float64)
    # The four bilinear corners in one bincount call.
    rr = np.concatenate([r0, r0, r0 + 1, r0 + 1])
    cc = np.concatenate([c0, c0 + 1, c0, c0 + 1])
    ww = np.concatenate([w * (1 - fr) * (1 - fc), w * (1 - fr) * fc, w * fr * (1 - fc), w * fr * fc])
    ok = (rr >= 0) & (rr < n) & (cc >= 0) & (cc < n)
    out = np.bincount(rr[ok] * n + cc[ok], weights=ww[ok], minlength=n * n)
    img = out.reshape(n, n).astype(np.float32)
    if sigma_px > 0:
        img = ndimage.gaussian_filter(img, sigma_px, mode="constant", truncate=3.0)
    return img


def sample_polyline(xs, ys, step_cm: float):
    """Points every ``step_cm`` along a polyline, with the fraction travelled (0..1)."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    seg = np.hypot(np.diff(xs), np.diff(ys))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    if total <= 0:
        return xs[:1], ys[:1], np.zeros(1)
    t = np.arange(0.0, total, step_cm)
    return np.interp(t, cum, xs), np.interp(t, cum, ys), t / total


def smooth_noise(rng: np.random.Generator, size: int, sigma_px: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ~sigma_px.

    Drawn at a coarse resolution, smoothed and upsampled linearly: only the low
    frequencies are kept, for a fraction of the cost of filtering a full-size field.
    """
    coarse = max(int(size / max(sigma_px, 1.0)) + 3, 4)
    field = rng.standard_normal((coarse, coarse), dtype=np.float32)
    field = ndimage.gaussian_filter(field, 0.8, mode="wrap")
    up = upsample_linear(field, size, size)
    up -= up.mean()
    std = up.std()
    return (up / std if std > 0 else up).astype(np.float32)


def blur_large(img: np.ndarray, sigma: float, factor: int = 4) -> np.ndarray:
    """Gaussian blur with a wide kernel, done at 1/factor resolution (it is smooth anyway)
    and brought back with separable linear interpolation (two small matrix products)."""
    h, w = img.shape
    if h % factor or w % factor:
        return ndimage.gaussian_filter(img, sigma, mode="nearest")
    small = img.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / factor, mode="nearest")
    return upsample_linear(small, h, w)


def upsample_linear(small: np.ndarray, h: int, w: int) -> np.ndarray:
    return (_interp_matrix(h, small.shape[0]) @ small.astype(np.float32)
            @ _interp_matrix(w, small.shape[1]).T).astype(np.float32)


_INTERP_CACHE = BoundedCache(64, "interpolation matrices")


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights with pixel-centre alignment."""
    return _INTERP_CACHE.get_or_compute((n_out, n_in), lambda: _build_interp_matrix(n_out, n_in))


def _build_interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = pos - i0
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), i0] += 1 - f
    m[np.arange(n_out), i1] += f
    return m
