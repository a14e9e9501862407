"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): a map that explains the
model must change when the model's weights are randomised, and a map that explains an
image-text similarity must change when the text does.

Model randomisation is *cascading*: the image tower's layers are re-drawn from the top (the
projection head) down to the patch/stem embedding, one stage at a time, and the map after
each stage is compared with the original by Spearman rank correlation and SSIM (high = the
map did not notice). Each re-drawn tensor keeps its own mean and standard deviation, so
activations keep their scale and a change in the map is not just a numerical blow-up.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Iterator

import numpy as np
import torch

from eclip.evaluate.saliency import spearman, ssim
from eclip.model.checkpoint import LoadedModel

from .maps import attribution_map
from .towers import tower_kind


def map_similarity(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Spearman rank correlation and SSIM of two maps in [0, 1]."""
    return {"spearman": spearman(a, b), "ssim": ssim(a, b)}


def cascade_stages(visual, kind: str) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """(name, parameters) of the image tower, top (output) first."""
    def params(*objs):
        out = []
        for o in objs:
            out += [o] if isinstance(o, torch.nn.Parameter) else list(o.parameters())
        return out

    if kind == "vit":
        blocks = list(visual.transformer.resblocks)
        head = [p for p in (visual.proj, *visual.ln_post.parameters()) if p is not None]
        stem = [p for n, p in visual.named_parameters() if not n.startswith(("transformer.", "ln_post", "proj"))]
        return ([("head", head)] + [(f"block {i}", params(blocks[i])) for i in reversed(range(len(blocks)))]
                + [("embedding", stem)])
    if kind == "resnet":
        layers = [("attnpool", params(visual.attnpool))]
        layers += [(f"layer{i}", params(getattr(visual, f"layer{i}"))) for i in (4, 3, 2, 1)]
        seen = {id(p) for _, ps in layers for p in ps}
        return layers + [("stem", [p for p in visual.parameters() if id(p) not in seen])]
    if kind == "cnn":
        return _cnn_stages(visual)
    return [("image tower", list(visual.parameters()))]


def _cnn_stages(visual) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """A timm CNN, top first: the projection, each feature stage timm names (last first), then
    whatever is left (the stem)."""
    stages = [("head", list(visual.head.parameters()))]
    for info in reversed(visual.trunk.feature_info):
        params = list(visual.trunk.get_submodule(info["module"]).parameters())
        if params:
            stages.append((info["module"], params))
    seen = {id(p) for _, ps in stages for p in ps}
    return stages + [("stem", [p for p in visual.parameters() if id(p) not in seen])]


def _redraw(params: list[torch.nn.Parameter], gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in params:
            if p.numel() < 2:
                continue
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.copy_(p.mean() + p.std() * noise)


def cascading_randomisation(lm: LoadedModel, seed: int = 0) -> Iterator[tuple[str, object]]:
    """Yields (stage name, model) with the image tower randomised from the top down to that
    stage, cumulatively. The model is a private copy (``lm`` is never touched) with its own
    weights id, so no cached map or text embedding of ``lm`` is reused for it."""
    model = copy.deepcopy(lm.model).eval()
    visual = model.clip.visual
    gen = torch.Generator().manual_seed(seed)
    done = []
    for name, params in cascade_stages(visual, tower_kind(lm)):
        _redraw(params, gen)
        done.append(name)
        yield name, dataclasses.replace(lm, model=model, weights_sha256=f"{lm.weights_sha256}:random-"
                                        f"{seed}-{'+'.join(done)}")


def sanity_checks(lm: LoadedModel, images: list[np.ndarray], prompts: list[str], other_prompts: list[str],
                  methods: list[str], n_steps: int = 16, seed: int = 0):
    """One row per (method, check, stage) with mean Spearman / SSIM between the original
    maps and the maps after the change, over ``images`` (each explained for its prompt):

    * check "weights", stage = the last randomised layer (cascading, top down; the last
      stage is the fully randomised image tower);
    * check "prompt", stage "other prompt": the same image explained for ``other_prompts``.
    """
    import pandas as pd

    def maps(model, texts):
        return {m: [attribution_map(model, img, t, m, use_cache=False, n_steps=n_steps)
                    for img, t in zip(images, texts)] for m in methods}

    original = maps(lm, prompts)
    rows = [_row(m, "prompt", "other prompt", original[m], alt)
            for m, alt in maps(lm, other_prompts).items()]
    for stage, model in cascading_randomisation(lm, seed):
        rows += [_row(m, "weights", stage, original[m], new) for m, new in maps(model, prompts).items()]
    return pd.DataFrame(rows)


def _row(method: str, check: str, stage: str, before: list[np.ndarray], after: list[np.ndarray]) -> dict:
    sims = [map_similarity(a, b) for a, b in zip(before, after)]
    return {"method": method, "check": check, "stage": stage, "n": len(sims),
            **{k: float(np.nanmean([s[k] for s in sims])) if any(np.isfinite(s[k]) for s in sims)
               else float("nan") for k in ("spearman", "ssim")}}
