"""A map drawn over its radiograph as a plain RGB image (the explain CLI's PNG; the app draws
its own interactive overlays)."""

from __future__ import annotations

import numpy as np


def overlay_rgb(pixels: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 HxWx3: the grey image with the map in red/yellow on top."""
    grey = np.repeat(np.clip(pixels, 0, 1)[..., None], 3, axis=2)
    colour = np.stack([np.ones_like(heat), heat, np.zeros_like(heat)], axis=2)
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    return np.round(255 * ((1 - weight) * grey + weight * colour)).astype(np.uint8)
