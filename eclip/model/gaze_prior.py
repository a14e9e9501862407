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
from torch import nn

from eclip.errors import ModelError


PRIOR_ON = ("expert", "all")


def is_gap_vit(visual) -> bool:
    """An open_clip ViT whose patch tokens are average-pooled."""
    return hasattr(visual, "grid_size") and getattr(visual, "pool_type", "tok") == "avg"


def is_gap_cnn(visual) -> bool:
    """A timm convolutional trunk (open_clip TimmModel) whose final feature map is
    average-pooled, then only a linear projection: its embedding is the mean of the projected
    feature-map cells, as a pooled ViT's is of its patch tokens."""
    trunk, head = getattr(visual, "trunk", None), getattr(visual, "head", None)
    if trunk is None or head is None or not hasattr(trunk, "forward_head"):
        return False
    pooled = getattr(getattr(trunk, "global_pool", None), "pool_type", None) == "avg"
    bare = isinstance(trunk.get_classifier(), nn.Identity) and not getattr(trunk, "drop_rate", 0)
    linear = [type(m) for m in head] in ([nn.Linear], [nn.Dropout, nn.Linear])
    no_drop = all(m.p == 0 for m in head if isinstance(m, nn.Dropout))
    return pooled and bare and linear and no_drop


def check_tower(visual, option: str = "method.gaze_prior_weight") -> None:
    """The prior needs per-patch tokens whose mean is the image embedding: an average-pooled
    ViT, or an average-pooled timm CNN with a linear projection."""
    if not (is_gap_vit(visual) or is_gap_cnn(visual)):
        raise ModelError(f"{option} needs an image tower with average-pooled patch tokens: a ViT "
                         "with vision_cfg pool_type = \"avg\" (model.arch = \"eclip-vit-tiny-minilm-gap\") "
                         "or a timm CNN with timm_pool = \"avg\", timm_proj = \"linear\" and no dropout "
                         "(\"eclip-rn-minilm-gap\"); set it to 0 for this tower.")


def token_grid(visual) -> tuple[int, int]:
    """(gh, gw) of the tower's pooled tokens: a ViT's patch grid, a CNN's final feature map."""
    if hasattr(visual, "grid_size"):
        return tuple(visual.grid_size)
    reduction = visual.trunk.feature_info[-1]["reduction"]
    h, w = visual.image_size
    return h // reduction, w // reduction


def encode_with_tokens(visual, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled image embedding [B, D], projected patch tokens [B, gh*gw, D]) in one pass; the
    mean of the tokens is the pooled embedding before normalisation."""
    if is_gap_cnn(visual):
        return _cnn_tokens(visual, images)
    before = visual.output_tokens
    visual.output_tokens = True
    try:
        pooled, tokens = visual(images)
    finally:
        visual.output_tokens = before
    if visual.proj is not None:  # open_clip projects the pooled embedding only (tested)
        tokens = tokens @ visual.proj
    return pooled, tokens


def _cnn_tokens(visual, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TimmModel.forward split at the pool: the pooled path is the tower's own, and the
    linear head applied to each cell gives tokens whose mean is that embedding."""
    features = visual.trunk.forward_features(images)  # [B, C, gh, gw]
    pooled = visual.head(visual.trunk.forward_head(features))
    return pooled, visual.head(features.flatten(2).transpose(1, 2))


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
