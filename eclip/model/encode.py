"""Embeddings from a loaded model: texts, image files, one image, prompt sets.

The one place above the towers that turns inputs into L2-normalised float32 vectors. The
index, evaluation, explanations and reports all use it, so it sits below all of them: a
helper two of those parts need is never borrowed from a sibling.

``lm`` is an ``eclip.model.checkpoint.LoadedModel`` (model, tokenizer, preprocess, config,
weights_sha256).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from eclip.data.images import load_working
from eclip.memo import BoundedCache
from eclip.model.prefix_text import encode_shared_prefixes, supports_prefix_sharing
from eclip.model.prompts import PromptSet
from eclip.model.text_features import hf_pooled, hf_project, hf_text_tower, text_features, trunk_digest

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

# Prompt embeddings per (weights sha256, prompt): editing one prompt of a set re-encodes only
# that prompt. 50k prompts ~ 50 MB at 256 dims.
PROMPT_CACHE = BoundedCache(50_000, "prompt embeddings")
# Pooled text-trunk outputs per (trunk digest, prompt), shared by models whose frozen trunk is
# the same (the demo pair): a prompt typed once goes through the trunk once, not once per model.
TRUNK_CACHE = BoundedCache(50_000, "pooled text-trunk outputs")


# --------------------------------------------------------------------------- vectors
def probability_scale(lm: LoadedModel) -> float:
    """The model's learned logit scale (1 / T): what turns a prompt pair's cosine difference
    into a probability, CheXzero's pair softmax at the model's own temperature. Raw cosines
    alone put every pair near 0.5; every page and the draft report use this one scale."""
    model = getattr(lm, "model", lm)
    return float(model.logit_scale().detach()) if hasattr(model, "logit_scale") else 100.0


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def ensemble_embedding(prompt_embeddings: np.ndarray) -> np.ndarray:
    """One class vector from its prompts: mean of the normalised prompt embeddings,
    renormalised (the CLIP/eCLIP zero-shot recipe)."""
    emb = l2_normalize(np.atleast_2d(prompt_embeddings))
    return l2_normalize(emb.mean(axis=0))


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unique texts (first-seen order) and, for every item, the index of its text."""
    order: dict[str, int] = {}
    index = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        index[i] = order.setdefault(t, len(order))
    return list(order), index


# --------------------------------------------------------------------------- texts
def encode_texts(lm: LoadedModel, texts: list[str], batch_size: int = 64, device: str = "cpu",
                 share_prefixes: bool = False) -> np.ndarray:
    """L2-normalised text embeddings [len(texts), D] as float32.

    Texts are encoded in order of token length, so that each batch can drop the padding
    after its longest text (``eclip.model.text_features``). ``share_prefixes`` suits prompt
    sets built from templates: each common prefix is computed once
    (``eclip.model.prefix_text``), where the text tower allows it."""
    if not len(texts):
        return np.zeros((0, _embed_dim(lm)), np.float32)
    tokens = lm.tokenizer(list(texts))
    if share_prefixes:
        if supports_prefix_sharing(lm.model.clip):
            with torch.inference_mode():
                return encode_shared_prefixes(lm.model.clip, tokens.to(device)).float().cpu().numpy()
    return _batched(lm, texts, batch_size, device, lambda tok: text_features(lm.model.clip, tok),
                    tokens)


def _batched(lm: LoadedModel, texts: list[str], batch_size: int, device: str, features,
             tokens: torch.Tensor | None = None) -> np.ndarray:
    """``features(tokens)`` rows for ``texts``, in batches of similar token length (so each
    drops the padding after its longest text), as float32 in the texts' order."""
    tokens = lm.tokenizer(list(texts)) if tokens is None else tokens
    order = np.argsort(-(tokens != 0).sum(1).numpy(), kind="stable")
    out = np.empty((len(texts), 0), np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            emb = features(tokens[torch.as_tensor(rows)].to(device)).float().cpu().numpy()
            if out.shape[1] == 0:
                out = np.empty((len(texts), emb.shape[1]), np.float32)
            out[rows] = emb
    return out


def _embed_dim(lm: LoadedModel) -> int:
    return int(lm.config.get("arch_cfg", {}).get("embed_dim", 0))


# --------------------------------------------------------------------------- images
def encode_images(lm: LoadedModel, root: Path, image_paths: list[str], batch_size: int = 32,
                  device: str = "cpu", workers: int = 0) -> np.ndarray:
    """L2-normalised image embeddings for files given relative to ``root``."""
    loader = torch.utils.data.DataLoader(
        _ImageFiles(root, image_paths, lm.preprocess), batch_size=batch_size,
        num_workers=workers, shuffle=False)
    out = []
    with torch.inference_mode():
        for batch in loader:
            out.append(lm.model.encode_image(batch.to(device), normalize=True).float().cpu().numpy())
    return np.concatenate(out)


class _ImageFiles:
    """Map-style dataset: stored working image -> model input tensor."""

    def __init__(self, root: Path, paths: list[str], preprocess):
        self.root, self.paths, self.preprocess = Path(root), list(paths), preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.preprocess(load_working(self.root / self.paths[i]))


def encode_pixels(lm: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """L2-normalised embedding [D] of one stored image (float32 HxW in [0,1])."""
    with torch.inference_mode():
        x = lm.preprocess(np.asarray(pixels, dtype=np.float32))[None]
        return lm.model.encode_image(x, normalize=True)[0].float().cpu().numpy()


# --------------------------------------------------------------------------- prompts
def encode_prompts(lm: LoadedModel, prompts: list[str], device: str = "cpu") -> np.ndarray:
    """[len(prompts), D] embeddings; prompts seen before under the same weights come from
    ``PROMPT_CACHE`` keyed by (weights sha256, prompt text)."""
    if not prompts:
        return encode_texts(lm, [], device=device)
    key = getattr(lm, "weights_sha256", None) or str(id(lm))

    def compute(missing: list[tuple[str, str]]) -> np.ndarray:
        texts = [p for _, p in missing]
        if hf_text_tower(lm.model.clip) is not None:
            return _through_shared_trunk(lm, texts, device)
        # templated prompts share prefixes: each is computed once; other towers fall back to
        # small length-sorted batches, which carry less padding than one big batch
        return encode_texts(lm, texts, batch_size=32, device=device, share_prefixes=True)

    return np.stack(PROMPT_CACHE.get_many([(key, p) for p in prompts], compute))


def _through_shared_trunk(lm: LoadedModel, texts: list[str], device: str) -> np.ndarray:
    """Embeddings of a Hugging Face text tower from pooled trunk outputs cached per trunk
    digest (``TRUNK_CACHE``), so that models sharing a frozen trunk share its passes."""
    text = hf_text_tower(lm.model.clip)
    digest = trunk_digest(text)

    def pooled(missing: list[tuple[str, str]]) -> np.ndarray:
        return _batched(lm, [t for _, t in missing], 32, device, lambda tok: hf_pooled(text, tok))

    rows = np.stack(TRUNK_CACHE.get_many([(digest, t) for t in texts], pooled))
    with torch.inference_mode():
        out = hf_project(text, torch.from_numpy(rows).to(device))
    return out.float().cpu().numpy()


def clear_prompt_cache() -> None:
    PROMPT_CACHE.clear()
    TRUNK_CACHE.clear()


def encode_prompt_sets(lm: LoadedModel, prompt_sets: list[PromptSet], device: str = "cpu") -> dict[str, np.ndarray]:
    """Multiclass -> [C, D] class ensembles; binary -> [L, 2, D] (positive, negative).

    All prompts of all sets go through the text tower in one batched pass."""
    groups: list[tuple[str, ...]] = []
    for ps in prompt_sets:
        if ps.task == "multiclass":
            groups += [c.prompts for c in ps.classes]
        else:
            groups += [g for b in ps.binary for g in (b.positive, b.negative)]
    vectors = _ensembles(lm, groups, device)
    out, k = {}, 0
    for ps in prompt_sets:
        if ps.task == "multiclass":
            n = len(ps.classes)
            out[ps.name] = np.stack(vectors[k:k + n])
        else:
            n = 2 * len(ps.binary)
            out[ps.name] = np.stack(vectors[k:k + n]).reshape(len(ps.binary), 2, -1)
        k += n
    return out


def encode_class_prompts(lm: LoadedModel, classes: dict[str, list[str]], device: str = "cpu") -> np.ndarray:
    """[C, D] ensembles for ad-hoc prompts ``{class name: [prompt, ...]}`` (e.g. typed in the app)."""
    return np.stack(_ensembles(lm, [tuple(classes[n]) for n in classes], device))


def _ensembles(lm: LoadedModel, groups: list[tuple[str, ...]], device: str) -> list[np.ndarray]:
    """One ensemble vector per group of prompts, all prompts encoded in one pass."""
    emb = encode_prompts(lm, [p for g in groups for p in g], device=device)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    return [ensemble_embedding(emb[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
