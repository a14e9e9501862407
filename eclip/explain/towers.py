"""Image-tower internals the attribution methods need: thread-local forward hooks, the
tower kind, ViT tokens -> patch grid, and explicit (differentiable) softmax attention.

The app shares one model between sessions, so every hook here acts only for the thread
that registered it and is removed on exit, even on error (captum's layer hooks would
capture any thread's forward)."""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F

from eclip.errors import ModelError
from eclip.model.checkpoint import LoadedModel
from eclip.model.gaze_prior import is_gap_cnn


class ThreadCapture:
    """Forward hooks that record outputs of ``modules`` for the registering thread only,
    and are removed on exit (even on error)."""

    def __init__(self, modules):
        self.modules = list(modules)
        self.owner = threading.get_ident()
        self.outputs: list[torch.Tensor] = []
        self._handles = []

    def _hook(self, module, inputs, output):
        if threading.get_ident() == self.owner:
            self.outputs.append(output[0] if isinstance(output, tuple) else output)

    def __enter__(self):
        self._handles = [m.register_forward_hook(self._hook) for m in self.modules]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []


class InputCapture(ThreadCapture):
    """ThreadCapture of each module's first *input* (a CNN's final feature map is what enters
    its global pool)."""

    def _pre_hook(self, module, args):
        if threading.get_ident() == self.owner:
            self.outputs.append(args[0])

    def __enter__(self):
        self._handles = [m.register_forward_pre_hook(self._pre_hook) for m in self.modules]
        return self


class AttentionTap(ThreadCapture):
    """Hooks on ``nn.MultiheadAttention`` modules that, for the registering thread only,
    replace each module's output by the same attention computed with explicit softmax
    probabilities, so that those probabilities sit in the autograd graph (open_clip calls
    attention with need_weights=False, through a fused kernel); ``outputs`` holds them,
    [B, heads, L, L] per module in forward order."""

    def _hook(self, module, args, kwargs, output):
        if threading.get_ident() != self.owner:
            return None
        query = args[0] if args else kwargs["query"]
        key = args[1] if len(args) > 1 else kwargs.get("key", query)
        if key is not query or kwargs.get("attn_mask") is not None:
            raise ModelError("Gradient-weighted rollout needs unmasked self-attention (an open_clip "
                             "ViT image tower); use 'gradcam' or 'integrated_gradients'.")
        probs = attention_probs(module, query)
        self.outputs.append(probs)
        return attend(module, query, probs), None

    def __enter__(self):
        self._handles = [m.register_forward_hook(self._hook, with_kwargs=True) for m in self.modules]
        return self


# --------------------------------------------------------------------------- towers
def tower_kind(lm: LoadedModel) -> str:
    """'vit' (open_clip VisionTransformer), 'resnet' (ModifiedResNet), 'cnn' (a timm
    convolutional trunk with an average-pooled final feature map and a linear projection) or
    'other'."""
    visual = lm.model.clip.visual
    if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
        return "vit"
    if hasattr(visual, "layer4") and hasattr(visual, "attnpool"):
        return "resnet"
    if is_gap_cnn(visual):
        return "cnn"
    return "other"


def require_vit(lm: LoadedModel, what: str):
    """The ViT image tower, or a ModelError naming the methods that do work."""
    visual = lm.model.clip.visual
    if tower_kind(lm) != "vit":
        working = "'gradcam' or 'integrated_gradients'" if tower_kind(lm) != "other" else "'integrated_gradients'"
        raise ModelError(f"{what} needs a ViT image tower, not {type(visual).__name__}; use {working}.")
    return visual


def vit_tokens_to_grid(tokens: torch.Tensor, visual) -> torch.Tensor:
    """[B, L, C] (or [L, B, C]) transformer tokens -> [B, C, gh, gw] patch grid."""
    if not getattr(visual.transformer, "batch_first", True):
        tokens = tokens.transpose(0, 1)
    gh, gw = visual.grid_size
    patches = tokens[:, tokens.shape[1] - gh * gw:]  # drop class/register prefix tokens
    return patches.transpose(1, 2).reshape(tokens.shape[0], -1, gh, gw)


def pooled_rows_to_grid(relevance: torch.Tensor, visual) -> torch.Tensor:
    """[L, L] token-to-token relevance -> [gh, gw]: the row(s) the tower pools, over the
    patch columns. Class-token pooling reads row 0; average pooling every patch row."""
    gh, gw = visual.grid_size
    n_prefix = relevance.shape[0] - gh * gw
    tok = n_prefix > 0 and getattr(visual, "pool_type", "tok") == "tok"
    rows = relevance[:1] if tok else relevance[n_prefix:]
    return rows[:, n_prefix:].mean(0).reshape(gh, gw)


# --------------------------------------------------------------------------- attention
def _mha(attn) -> torch.nn.MultiheadAttention:
    if not isinstance(attn, torch.nn.MultiheadAttention) or attn.in_proj_weight is None:
        raise ModelError("Attention maps support open_clip ViTs built on nn.MultiheadAttention; "
                         "use 'gradcam' or 'integrated_gradients'.")
    return attn


def _heads(t: torch.Tensor, h: int) -> torch.Tensor:
    b, n, c = t.shape
    return t.reshape(b, n, h, c // h).transpose(1, 2)


def attention_probs(attn, x: torch.Tensor) -> torch.Tensor:
    """Softmax attention [B, heads, L, L] of an nn.MultiheadAttention on input ``x`` (in the
    module's own layout)."""
    attn = _mha(attn)
    if not attn.batch_first:
        x = x.transpose(0, 1)
    h = attn.num_heads
    q, k, _ = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k = _heads(q, h), _heads(k, h)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)


def attend(attn, x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """The module's self-attention output for input ``x`` given its probabilities."""
    if not attn.batch_first:
        x = x.transpose(0, 1)
    b, n, c = x.shape
    _, _, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    mixed = (probs @ _heads(v, attn.num_heads)).transpose(1, 2).reshape(b, n, c)
    out = attn.out_proj(mixed)
    return out if attn.batch_first else out.transpose(0, 1)


def similarity(lm: LoadedModel, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity [B] of images ``x`` with the normalised text vector."""
    return lm.model.encode_image(x, normalize=True).float() @ text
