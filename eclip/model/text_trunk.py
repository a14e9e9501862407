"""A frozen pretrained text trunk saved by reference instead of by value.

A LiT-style model (``model.lock_text``) never changes its Hugging Face text trunk: the weights
are those of the installed pretrained package (MiniLM-L6: 43 of a demo checkpoint's 54 MiB).
Saved by reference, the checkpoint keeps the trained projection and image tower and names the
trunk by the digest of its weights; loading rebuilds the trunk from the installed package and
refuses one whose digest differs. Training checkpoints always keep every weight.
"""

from __future__ import annotations

import torch

from eclip.errors import ModelError
from eclip.model.factory import create_clip
from eclip.model.text_features import frozen_trunk, hf_text_tower, trunk_digest

TRUNK_PREFIX = "text.transformer."  # the checkpoint keys of the trunk (text.proj is trained: kept)
META_KEY = "text_trunk"  # safetensors metadata: the digest of the referenced trunk


def installed_trunk(arch_cfg: dict):
    """The text tower as the installed pretrained package gives it (a fresh build)."""
    return create_clip(dict(arch_cfg), pretrained_text=True).text


def reference_digest(model, dtype: torch.dtype = torch.float32) -> str:
    """The digest naming ``model``'s text trunk, after checking that the trunk is frozen and is
    the installed pretrained one (exactly, or once both are rounded to ``dtype``: a checkpoint
    saved in fp16 holds the rounded trunk). Raises ModelError otherwise."""
    text = hf_text_tower(model.clip)
    if text is None or not frozen_trunk(text):
        raise ModelError("only a frozen Hugging Face text trunk (model.lock_text) can be saved by "
                         "reference; save this model with every weight instead")
    fresh = installed_trunk(model.arch_cfg)
    mine, theirs = text.transformer.state_dict(), fresh.transformer.state_dict()
    same = mine.keys() == theirs.keys() and all(
        torch.equal(mine[k].to(dtype), theirs[k].to(dtype)) for k in mine)
    if not same:
        raise ModelError("this model's text trunk differs from the installed pretrained one (was it "
                         "trained, or trained with another version of the package?); save it with "
                         "every weight instead")
    return trunk_digest(fresh)


def check_trunk(model, digest: str, source) -> None:
    """After loading: the trunk rebuilt from the installed package is the one the file names."""
    text = hf_text_tower(model.clip)
    found = trunk_digest(text) if text is not None else "no Hugging Face text tower"
    if found != digest:
        raise ModelError(f"{source} names its text trunk by reference ({digest[:12]}...), but the "
                         f"installed pretrained text model differs ({found[:12]}...); install the "
                         "package version the model was trained with (requirements.txt)")


def without_trunk(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(TRUNK_PREFIX)}
