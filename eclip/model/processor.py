"""The heatmap processor: turns (image, gaze heatmap) into an "expert image".

Patches of the heatmap-weighted image ask (queries) which patches of the plain image
(keys = values) to attend to; the attended tokens are projected and a transposed conv
paints them back to an image the unchanged image encoder can take. Used only in training.
"""

from __future__ import annotations

import torch
from torch import nn

from eclip.errors import ModelError

MODES = ("mha", "mask")


def normalise_heatmap(heatmap: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """[B,1,H,W] or [B,H,W] -> [B,C,H,W] scaled so each image's max is 1.

    Per-image max (the reference divides by the batch max) keeps a weak reading from being
    washed out by a strong one in the same batch.
    """
    if heatmap.dim() == 3:
        heatmap = heatmap.unsqueeze(1)
    peak = heatmap.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return (heatmap / peak).expand(-1, channels, -1, -1)


class HeatmapProcessor(nn.Module):
    def __init__(self, patch_size: int = 16, width: int = 256, heads: int = 8,
                 mode: str = "mha", channels: int = 3):
        super().__init__()
        if mode not in MODES:
            raise ModelError(f"processor mode {mode!r} unknown; use one of {MODES}")
        if width % heads:
            raise ModelError(f"processor width {width} must be divisible by heads {heads}")
        self.patch_size, self.width, self.mode = patch_size, width, mode
        # One patch embedding shared by queries and keys/values; no positional embedding.
        self.patch_embed = nn.Conv2d(channels, width, kernel_size=patch_size, stride=patch_size)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.proj = nn.Linear(width, width)
        self.unpatch = nn.ConvTranspose2d(width, channels, kernel_size=patch_size, stride=patch_size)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B,C,H,W] -> [B, N, width] patch tokens."""
        return self.patch_embed(x).flatten(2).transpose(1, 2)

    def forward(self, image: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
        b, c, h, w = image.shape
        if h % self.patch_size or w % self.patch_size:
            raise ModelError(
                f"image {h}x{w} is not divisible by the processor patch size {self.patch_size}; "
                "set model.processor.patch_size to a divisor of the image size"
            )
        weighted = normalise_heatmap(heatmap.to(image.dtype), c) * image
        if self.mode == "mask":  # ablation: no attention, the masked image is the expert image
            return weighted
        query = self.tokens(weighted)
        key_value = self.tokens(image)
        attended, _ = self.attn(query, key_value, key_value, need_weights=False)
        out = self.proj(attended)  # [B, N, width]
        grid = out.transpose(1, 2).reshape(b, self.width, h // self.patch_size, w // self.patch_size)
        return self.unpatch(grid)
