"""Symmetric InfoNCE (the CLIP loss) with a learnable, clamped temperature.

Under ``torch.distributed`` the features of every rank are gathered with gradients and each
rank computes the loss of its own rows against all columns (open_clip's ``local_loss`` with
``gather_with_grad``): DDP's gradient averaging then equals the loss of the global batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def logit_scale_bounds(t_min: float, t_max: float) -> tuple[float, float]:
    """logit_scale = log(1 / T); T in [t_min, t_max] -> scale in [log(1/t_max), log(1/t_min)]."""
    return math.log(1.0 / t_max), math.log(1.0 / t_min)


def clamp_logit_scale(logit_scale: torch.Tensor, t_min: float = 0.01, t_max: float = 2.0) -> None:
    """Keep the temperature in [t_min, t_max] (in place, after each optimizer step)."""
    lo, hi = logit_scale_bounds(t_min, t_max)
    with torch.no_grad():
        logit_scale.clamp_(lo, hi)


def gather_features(image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ranks' features concatenated in rank order, differentiable."""
    import warnings

    import torch.distributed.nn as dist_nn

    with warnings.catch_warnings():  # deprecated in favour of a private API; still correct
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(dist_nn.all_gather(image), 0), torch.cat(dist_nn.all_gather(text), 0)


class ClipLoss(nn.Module):
    """Symmetric cross-entropy over the image-text similarity matrix; labels = diagonal."""

    def __init__(self, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.rank, self.world_size = rank, world_size

    def get_logits(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.world_size > 1:
            all_image, all_text = gather_features(image, text)
            return logit_scale * image @ all_text.T, logit_scale * text @ all_image.T
        logits = logit_scale * image @ text.T
        return logits, logits.T

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
        per_image, per_text = self.get_logits(image, text, logit_scale)
        n = per_image.shape[0]
        labels = torch.arange(n, device=image.device) + n * self.rank * (self.world_size > 1)
        return 0.5 * (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels))
