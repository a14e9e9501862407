"""The attribution methods: each returns a raw map over the model input (any resolution,
covering the model's square crop) for one image ``x`` [1, 3, S, S] and one normalised text
vector. ``maps.attribution_map`` brings it to the stored image's grid.

* ``gradcam`` - Grad-CAM (Selvaraju et al. 2017) on ``layer4`` of a ResNet tower. On a
  ViT tower, the tokens entering block ``depth // 3``, each weighted by its *own* gradient
  (HiResCAM, Draelos & Carin 2020; the same as Grad-CAM wherever the gradient is uniform
  over locations, as behind a CNN's global average pool). Textbook Grad-CAM on the last
  block's input lit up the image border (shipped demo-eclip, 54 test gaze cases, the
  page's label prompts: 48 % of map mass in the outer patch ring, an even spread 44 %, the
  gaze 7 %) for two measured reasons: (1) at that layer the gradient lives on the few
  tokens the class token attends to, so gradient *averaged* over tokens scores every token
  by resemblance, not use; (2) late blocks' class token reads mostly border tokens (last
  block: 52 % of its attention on the outer ring, 57 % for demo-clip, whose block 3 is at
  49 %; blocks 0-2: 7-28 %), i.e. information already mixed into them. The block was picked
  on the validate split of both shipped models (border mass, block 2 / 3 / 5 of 6: eCLIP
  0.25 / 0.29 / 0.46, CLIP 0.28 / 0.45 / 0.53);
  A ViT whose patch tokens are *average-pooled* (``pool_type = "avg"``) is explained at
  the pooled tokens themselves (``ln_post``): its image-text similarity is a mean over them,
  so gradient x activation there is each patch's own share of the score (CAM). A timm CNN
  with an average-pooled final feature map (tower kind "cnn", e.g. ``eclip-rn-minilm-gap``)
  is explained the same way, at the feature map entering its pool; behind an average pool
  the gradient is the same at every cell, so Grad-CAM and HiResCAM agree there;
* ``rollout`` - attention rollout (Abnar & Zuidema 2020) for ViT towers: prompt
  independent by construction (it reads attention only, never the text);
* ``grad_rollout`` - gradient-weighted attention rollout (Chefer, Gur & Wolf, ICCV 2021,
  "Generic Attention-model Explainability..."): R = I; per block
  R += mean_heads(relu(dS/dA * A)) @ R, with S the image-text similarity; the map is the
  class-token row over the patches. The prompt-conditioned transformer attribution;
* ``integrated_gradients`` - captum IntegratedGradients on the pixels; the slow, explicit
  choice (``n_steps`` forward/backward passes).

Input gradients come from ``torch.autograd.grad`` (no parameter ``.grad`` is ever written)
and the train/eval mode is never changed: the model is shared between app sessions.
"""

from __future__ import annotations

import numpy as np
import torch

from eclip.errors import ModelError
from eclip.model.checkpoint import LoadedModel

from .towers import (AttentionTap, InputCapture, ThreadCapture, attention_probs, pooled_rows_to_grid, require_vit,
                     similarity, tower_kind, vit_tokens_to_grid)

METHODS = ("gradcam", "rollout", "grad_rollout", "integrated_gradients")
FAST_METHODS = ("gradcam", "rollout", "grad_rollout")
PROMPT_FREE = frozenset({"rollout"})  # maps that never read the text prompt
TITLES = {"gradcam": "Grad-CAM", "rollout": "Attention rollout",
          "grad_rollout": "Gradient-weighted rollout", "integrated_gradients": "Integrated gradients"}
VIT_ONLY = ("rollout", "grad_rollout")


def uses_prompt(method: str) -> bool:
    return method not in PROMPT_FREE


def supported_methods(lm: LoadedModel) -> list[str]:
    kind = tower_kind(lm)
    fast = {"vit": ["gradcam", *VIT_ONLY], "resnet": ["gradcam"], "cnn": ["gradcam"]}.get(kind, [])
    return fast + ["integrated_gradients"]


def _gradcam_layer(lm: LoadedModel):
    visual, kind = lm.model.clip.visual, tower_kind(lm)
    if kind == "vit" and getattr(visual, "pool_type", "tok") == "avg":
        return visual.ln_post  # the pooled tokens: the similarity is a sum over them (CAM)
    if kind == "vit":  # a third of the way in: see the module docstring for why not the last
        blocks = visual.transformer.resblocks
        return blocks[len(blocks) // 3].ln_1
    if kind == "resnet":
        return visual.layer4
    if kind == "cnn":  # its *input*, the final feature map: the pooled tokens (CAM)
        return visual.trunk.global_pool
    raise ModelError(f"Grad-CAM needs a ViT, a ResNet or an average-pooled timm CNN image tower, not "
                     f"{type(visual).__name__}; use method 'integrated_gradients'.")


def gradcam(lm: LoadedModel, x: torch.Tensor, text: torch.Tensor) -> np.ndarray:
    layer = _gradcam_layer(lm)
    capture = InputCapture if tower_kind(lm) == "cnn" else ThreadCapture
    with capture([layer]) as cap:
        score = similarity(lm, x.clone().requires_grad_(True), text).sum()
    act = cap.outputs[-1]
    (grad,) = torch.autograd.grad(score, act)
    if tower_kind(lm) == "vit":  # token-wise weights (HiResCAM): see the module docstring
        visual = lm.model.clip.visual
        act, grad = vit_tokens_to_grid(act, visual), vit_tokens_to_grid(grad, visual)
        weights = grad
    else:
        weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1))[0]
    return cam.detach().float().numpy()  # float(): a bf16 autocast leaves conv outputs in bf16


def rollout(lm: LoadedModel, x: torch.Tensor, text: torch.Tensor | None = None) -> np.ndarray:
    visual = require_vit(lm, "Attention rollout")
    blocks = list(visual.transformer.resblocks)
    with torch.no_grad():
        with ThreadCapture([b.ln_1 for b in blocks]) as cap:
            lm.model.encode_image(x, normalize=True)
        relevance = None
        for block, x_ln in zip(blocks, cap.outputs):
            a = attention_probs(block.attn, x_ln).mean(dim=1)[0]  # heads averaged: [L, L]
            a = 0.5 * a + 0.5 * torch.eye(a.shape[0])  # the residual path
            a = a / a.sum(dim=-1, keepdim=True)
            relevance = a if relevance is None else a @ relevance
    return pooled_rows_to_grid(relevance, visual).float().numpy()


def grad_rollout(lm: LoadedModel, x: torch.Tensor, text: torch.Tensor) -> np.ndarray:
    visual = require_vit(lm, "Gradient-weighted rollout")
    blocks = list(visual.transformer.resblocks)
    with AttentionTap([b.attn for b in blocks]) as tap:
        score = similarity(lm, x.clone().requires_grad_(True), text).sum()
    grads = torch.autograd.grad(score, tap.outputs)
    relevance = torch.eye(tap.outputs[0].shape[-1])
    for probs, grad in zip(tap.outputs, grads):
        weighted = torch.relu(grad * probs).mean(dim=1)[0]  # [L, L], heads averaged
        relevance = relevance + weighted @ relevance
    return pooled_rows_to_grid(relevance.detach(), visual).float().numpy()


def integrated_gradients(lm: LoadedModel, x: torch.Tensor, text: torch.Tensor, n_steps: int = 32,
                         baseline: torch.Tensor | None = None) -> np.ndarray:
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(lambda inp: similarity(lm, inp, text))
    base = baseline if baseline is not None else torch.zeros_like(x)
    attr = ig.attribute(x, baselines=base, n_steps=n_steps, internal_batch_size=min(n_steps, 16))
    return attr.detach()[0].sum(0).abs().float().numpy()
