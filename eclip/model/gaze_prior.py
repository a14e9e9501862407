"""Gaze as a prior on where the image tower finds the report, instead of (or beside) an
expert image: ``method.gaze_prior_weight`` adds KL(gaze || map) on the images that carry gaze.

The map is the image tower's own per-patch evidence for the paired report: with average-pooled
patch tokens the image embedding is the mean of the projected tokens, so the cosine of each
projected token with the report's embedding (times the model's logit scale, softmaxed over the
patch grid) is a distribution over where the image supports that report. The gaze heatmap is
area-averaged onto the same grid. Minimising KL(gaze || map) asks the tower to put its support
for a report where the radiologist looked (gaze-supervised attention, as in CoGaze, 2026, and
earlier gaze-supervised ViTs), and it is exactly the map that Grad-CAM reads at the pooled tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eclip.errors import ModelError


PRIOR_ON = ("expert", "all")


def check_tower(visual, option: str = "method.gaze_prior_weight") -> None:
    """The prior needs a ViT whose patch tokens are average-pooled (its map is their mean)."""
    if not (hasattr(visual, "grid_size") and getattr(visual, "pool_type", "tok") == "avg"):
        raise ModelError(f"{option} needs a ViT image tower with average-pooled patch "
                         "tokens (vision_cfg pool_type = \"avg\", e.g. model.arch = "
                         "\"eclip-vit-tiny-minilm-gap\"); set it to 0 for this tower.")


def encode_with_tokens(visual, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled image embedding [B, D], projected patch tokens [B, gh*gw, D]) in one pass; the
    mean of the tokens is the pooled embedding before normalisation."""
    before = visual.output_tokens
    visual.output_tokens = True
    try:
        pooled, tokens = visual(images)
    finally:
        visual.output_tokens = before
    if visual.proj is not None:  # open_clip projects the pooled embedding only (tested)
        tokens = tokens @ visual.proj
    return pooled, tokens


def gaze_grid(heatmaps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """[B, 1, H, W] or [B, H, W] heatmaps -> [B, gh*gw] distributions (area-averaged)."""
    hm = heatmaps if heatmaps.dim() == 4 else heatmaps.unsqueeze(1)
    pooled = F.adaptive_avg_pool2d(hm.float().clamp_min(0), grid).flatten(1)
    return pooled / pooled.sum(dim=1, keepdim=True).clamp_min(1e-12)


def patch_shares(tokens: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[B, P, D] projected patch tokens x [B, K, D] texts -> [B, K, P]: scale * token . text /
    |mean token|, each patch's term in the scaled image-text cosine (the terms average to it)."""
    tok = tokens.float()
    norm = tok.mean(dim=1).norm(dim=-1).clamp_min(1e-6)[:, None, None]
    return scale.float() * torch.einsum("bpd,bkd->bkp", tok, text.float()) / norm


def prior_loss(tokens: torch.Tensor, text: torch.Tensor, heatmaps: torch.Tensor, grid: tuple[int, int],
               scale: torch.Tensor) -> torch.Tensor:
    """Mean over items of KL(gaze || softmax(scale * share)), where a patch's share is its term
    in the image-report cosine: token . text / |mean token| (the shares average to the cosine).
    These are the terms Grad-CAM reads at the pooled tokens; a per-token cosine would ignore
    token norms, and a few high-norm tokens are what pulled the maps to the film's corners."""
    logits = patch_shares(tokens, text[:, None], scale)[:, 0]
    target = gaze_grid(heatmaps, grid)
    per_item = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="none").sum(dim=1)
    has_gaze = target.sum(dim=1) > 0  # an all-zero heatmap is a row without gaze
    if not bool(has_gaze.any()):
        return per_item.sum() * 0.0  # keeps the graph (DDP wants every rank to backprop alike)
    return per_item[has_gaze].mean()
