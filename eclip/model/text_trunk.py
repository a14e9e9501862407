"""A frozen pretrained text trunk saved by reference instead of by value.

A LiT-style model (``model.lock_text``) never changes its Hugging Face text trunk: the weights
are those of the installed pretrained package (MiniLM-L6: 43 of a demo checkpoint's 54 MiB held
by value).
Saved by reference, the checkpoint keeps the trained projection and image tower and names the
trunk by the digest of its weights; loading rebuilds the trunk from the installed package and
refuses one whose digest differs. Training checkpoints always keep every weight.

A model loaded from an fp16 file holds the trunk rounded to fp16; saved by reference, the file
says so (``ROUNDED_KEY``) and loading rounds the rebuilt trunk the same way, so a slim copy of a
checkpoint loads bit for bit as its source did and every number measured on it still holds.
"""

from __future__ import annotations

import torch

from eclip.errors import ModelError
from eclip.model.factory import create_clip
from eclip.model.text_features import frozen_trunk, hf_text_tower, trunk_digest

TRUNK_PREFIX = "text.transformer."  # the checkpoint keys of the trunk (text.proj is trained: kept)
META_KEY = "text_trunk"  # safetensors metadata: the digest of the referenced trunk
ROUNDED_KEY = "text_trunk_rounded_to"  # ... and the dtype the saved model held it rounded to, if any


def installed_trunk(arch_cfg: dict):
    """The text tower as the installed pretrained package gives it (a fresh build)."""
    return create_clip(dict(arch_cfg), pretrained_text=True).text


def reference_metadata(model, dtype: torch.dtype = torch.float32) -> dict[str, str]:
    """The safetensors metadata naming ``model``'s text trunk: its digest, and the dtype the
    model holds it rounded to when it is not the installed one exactly (a model loaded from an
    fp16 file). Raises ModelError when the trunk is not frozen or not the installed one, exactly
    or once both are rounded to ``dtype``."""
    text = hf_text_tower(model.clip)
    if text is None or not frozen_trunk(text):
        raise ModelError("only a frozen Hugging Face text trunk (model.lock_text) can be saved by "
                         "reference; save this model with every weight instead")
    fresh = installed_trunk(model.arch_cfg)
    mine, theirs = text.transformer.state_dict(), fresh.transformer.state_dict()

    def same(as_dtype: torch.dtype) -> bool:
        return mine.keys() == theirs.keys() and all(
            torch.equal(mine[k].float(), theirs[k].to(as_dtype).float()) for k in mine)

    out = {META_KEY: trunk_digest(fresh)}
    if same(torch.float32):
        return out
    if dtype != torch.float32 and same(dtype):
        return {**out, ROUNDED_KEY: str(dtype).replace("torch.", "")}
    raise ModelError("this model's text trunk differs from the installed pretrained one (was it "
                     "trained, or trained with another version of the package?); save it with "
                     "every weight instead")


def round_trunk(model, dtype_name: str) -> None:
    """Round the rebuilt trunk as the saved model held it (``ROUNDED_KEY``)."""
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ModelError(f"the file's {ROUNDED_KEY} {dtype_name!r} is not a floating-point dtype; re-export it")
    with torch.no_grad():
        for t in hf_text_tower(model.clip).transformer.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.to(dtype))


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
