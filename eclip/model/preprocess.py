"""Grey radiograph -> model input: resize + centre crop, grey -> RGB, normalise.

The evaluation transform of the reference (training augmentation lives in eclip.train).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MEAN, STD = 0.58, 0.26


def resize_centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """[C,H,W] -> [C,size,size]: shorter side to ``size`` (antialiased), then centre crop."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, top:top + size, left:left + size]


def normalise(x: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """[1,H,W] grey in [0,1] -> [3,H,W] normalised."""
    # repeat, not expand().contiguous(): the latter is ~50x slower on small multi-threaded tensors
    return ((x - mean) / std).repeat(3, 1, 1)


def preprocess(pixels: np.ndarray, size: int, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """float32 HxW in [0,1] -> FloatTensor[3,size,size]."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32))
    if x.dim() == 3:  # HxWxC colour input: average to grey
        x = x.mean(-1)
    return normalise(resize_centre_crop(x[None], size), mean, std)


class Preprocess:
    """Picklable callable bound to one image size (lm.preprocess)."""

    def __init__(self, size: int, mean: float = MEAN, std: float = STD):
        self.size, self.mean, self.std = size, mean, std

    def __call__(self, pixels: np.ndarray) -> torch.Tensor:
        return preprocess(pixels, self.size, self.mean, self.std)
