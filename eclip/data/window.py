"""Window/level for a radiograph a viewer re-windows: presets and a linear VOI window.

A projection radiograph has no Hounsfield units, so the CT habit of fixed lung/bone windows
(e.g. -600/1500) means nothing on a CR or DX file: its values depend on the detector and the
exposure. The presets here are therefore quantiles of the image's own brightness, chosen to
match what each CT window is for: "lung" spreads the dark (air-filled) half of the film over
the whole grey range, "mediastinum" the brighter soft tissue, "bone" a wide window up to the
very brightest values (as CT's bone window is wide), so ribs show over the lungs and dense bone
is not clipped. It once mapped the 75th percentile to black: three quarters of a real CR chest
film (pydicom-data's RG1_UNCR) went black, ribs over the lungs with it.
They are computed on displayed brightness, so a MONOCHROME1 file (high values display dark)
gets the same-looking window as a MONOCHROME2 one.

``Windowable`` holds what re-windowing needs at working size: the values before VOI (the
modality-LUT output for a DICOM, grey levels for PNG/JPEG) and the image as stored (its own
VOI LUT or window), which the "as stored" choice shows unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eclip.data.images import LoadedImage, to_working
from eclip.data.manifest import WORKING_SIZE
from eclip.errors import DataError

AS_STORED = "as stored"
# (low, high) quantiles of displayed brightness each preset maps to black and white.
PRESETS: dict[str, tuple[float, float]] = {
    "lung": (0.01, 0.60),
    "mediastinum": (0.40, 0.98),
    "bone": (0.20, 0.999),
}
CHOICES = (AS_STORED, *PRESETS)


@dataclass(frozen=True)
class Window:
    """A DICOM VOI window in the image's own value units."""

    center: float
    width: float


def apply_window(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Linear VOI (PS3.3 C.11.2.1.2.1: the ramp spans c - 0.5 -/+ (w - 1) / 2) to float32
    [0, 1]; ``invert`` for MONOCHROME1, applied after the window as the standard requires."""
    if not window.width >= 1:
        raise DataError(f"window width must be at least 1, got {window.width}; widen the window.")
    out = np.asarray(values, dtype=np.float32) - np.float32(window.center - 0.5 - (window.width - 1) / 2)
    out *= np.float32(1.0 / max(window.width - 1, 1e-6))
    np.clip(out, 0.0, 1.0, out=out)
    return 1.0 - out if invert else out


def preset_window(values: np.ndarray, name: str, invert: bool = False) -> Window:
    """The window of preset ``name`` for these values (see PRESETS)."""
    if name not in PRESETS:
        raise DataError(f"unknown window preset {name!r}; choose one of {', '.join(PRESETS)}.")
    lo_q, hi_q = PRESETS[name]
    if invert:  # bright on screen = low values
        lo_q, hi_q = 1.0 - hi_q, 1.0 - lo_q
    lo, hi = np.quantile(np.asarray(values, dtype=np.float64), [lo_q, hi_q])
    width = max(float(hi - lo), 1.0)
    return Window(center=float(lo + hi) / 2 + 0.5, width=width + 1.0)


def value_range(values: np.ndarray) -> tuple[float, float]:
    """(lowest, highest) value: the bounds a level slider needs."""
    arr = np.asarray(values)
    return float(arr.min()), float(arr.max())


@dataclass(frozen=True)
class Windowable:
    values: np.ndarray  # float32 HxW at working size, before VOI
    stored: np.ndarray  # float32 HxW [0, 1]: the image as its file asks to be shown
    invert: bool  # MONOCHROME1
    stored_window: Window | None  # the file's own linear window, when it has one

    def render(self, window: Window | None) -> np.ndarray:
        """The image under ``window``; None shows it as stored."""
        return self.stored if window is None else apply_window(self.values, window, self.invert)

    def preset(self, name: str) -> Window | None:
        return None if name == AS_STORED else preset_window(self.values, name, self.invert)


def windowable(loaded: LoadedImage, size: int = WORKING_SIZE) -> Windowable:
    """What re-windowing ``loaded`` needs, resized so the longer side is ``size``."""
    stored = to_working(loaded.pixels, size)
    meta = loaded.meta
    if loaded.values is None:  # PNG/JPEG, colour DICOM: re-window the grey levels shown
        top = float(2 ** (meta.bits_stored or 8) - 1)
        return Windowable(stored * np.float32(top), stored, False, None)
    window = None
    if meta.voi_source == "window" and meta.voi_function in (None, "LINEAR"):
        window = Window(meta.window_center, meta.window_width)
    return Windowable(_resized_values(loaded.values, size), stored,
                      meta.photometric == "MONOCHROME1", window)


def _resized_values(values: np.ndarray, size: int) -> np.ndarray:
    """Resize values of any range with the same filter as images (through [0, 1])."""
    lo, hi = value_range(values)
    span = hi - lo if hi > lo else 1.0
    unit = to_working((np.asarray(values, dtype=np.float32) - np.float32(lo)) / np.float32(span), size)
    return unit * np.float32(span) + np.float32(lo)
