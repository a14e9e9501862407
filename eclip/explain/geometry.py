"""Model-input grid <-> stored image: undo the model's resize + centre crop."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def crop_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(resized_h, resized_w, top, left) of eclip.model.preprocess.resize_centre_crop:
    shorter side to ``size``, then a centred ``size`` x ``size`` crop."""
    scale = size / min(height, width)
    nh, nw = max(size, round(height * scale)), max(size, round(width * scale))
    return nh, nw, (nh - size) // 2, (nw - size) // 2


def to_image_grid(model_map: np.ndarray | torch.Tensor, height: int, width: int, size: int) -> np.ndarray:
    """A map over the model input (any resolution, covering the SxS crop) -> HxW of the
    stored image: upsample to SxS, paste into the resized frame, resize to HxW."""
    m = torch.as_tensor(np.asarray(model_map, dtype=np.float32))[None, None]
    m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)
    nh, nw, top, left = crop_geometry(height, width, size)
    canvas = torch.zeros(1, 1, nh, nw)
    canvas[..., top:top + size, left:left + size] = m
    out = F.interpolate(canvas, size=(height, width), mode="bilinear", align_corners=False)
    return out[0, 0].numpy().astype(np.float32)


def unit_max(m: np.ndarray) -> np.ndarray:
    """>= 0, max 1 (a map with no positive value stays all zero)."""
    m = np.nan_to_num(np.maximum(np.asarray(m, dtype=np.float32), 0.0))
    top = float(m.max()) if m.size else 0.0
    return m / top if top > 0 else m
