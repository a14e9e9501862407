"""attribution_map: one method's map for one image and prompt, on the stored image's grid,
cached and safe to call from many threads on one shared model."""

from __future__ import annotations

import numpy as np
import torch

from eclip.errors import EvaluationError
from eclip.io import sha256_text
from eclip.memo import BoundedCache
from eclip.model.checkpoint import LoadedModel
from eclip.model.encode import encode_prompts
from eclip.model.precision import autocast, model_precision

from . import methods
from .geometry import to_image_grid, unit_max

MAP_CACHE_SIZE = 256
MAP_CACHE = BoundedCache(MAP_CACHE_SIZE, "attribution maps")
DEFAULT_PROMPT = "Chest radiograph."


def resolve_prompt(prompt: str | None, report: str = "") -> tuple[str, str]:
    """(the prompt a map explains, where it came from): the typed text, else the case's own
    report ("report"), else DEFAULT_PROMPT ("default"), so an empty box never silently
    explains an empty string."""
    typed = (prompt or "").strip()
    if typed:
        return typed, "typed"
    report = (report or "").strip()
    return (report, "report") if report else (DEFAULT_PROMPT, "default")


def text_embedding(lm: LoadedModel, prompt: str) -> torch.Tensor:
    """Normalised text embedding [D] of ``prompt`` (cached per weights in
    ``eclip.model.encode``); a plain tensor, usable in the autograd graph of a map."""
    return torch.from_numpy(encode_prompts(lm, [prompt])[0].copy())


def image_key(pixels: np.ndarray) -> str:
    """A content id for images without a dataset id."""
    arr = np.ascontiguousarray(pixels, dtype=np.float32)
    return sha256_text(arr.tobytes() + str(arr.shape).encode(), 16)


def _check(pixels, prompt: str, method: str) -> np.ndarray:
    if method not in methods.METHODS:
        raise EvaluationError(f"Unknown attribution method '{method}'; choose one of "
                              f"{', '.join(methods.METHODS)}.")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2:
        raise EvaluationError(f"Attribution needs a grey HxW image, got shape {pixels.shape}.")
    if methods.uses_prompt(method) and not prompt.strip():
        raise EvaluationError(f"'{method}' explains the image's similarity to a prompt, and the "
                              "prompt is empty; pass one (eclip.explain.resolve_prompt picks the "
                              "case's report or a default).")
    return pixels


def attribution_map(lm: LoadedModel, pixels: np.ndarray, prompt: str, method: str = "gradcam", *,
                    image_id: str | None = None, use_cache: bool = True, n_steps: int = 32,
                    precision: str | None = None) -> np.ndarray:
    """Where the image supports its similarity to ``prompt``: float32 HxW in [0, 1],
    aligned with ``pixels`` (a stored grey image, float32 HxW in [0, 1]). ``precision``:
    auto | fp32 | bf16 (None = the default; ``eclip.model.precision``).

    Cached per (weights sha256, image id, prompt, method, precision); the returned array is
    read-only because it is shared with later callers."""
    pixels = _check(pixels, prompt, method)
    precision = model_precision(lm, precision)
    key = _cache_key(lm, pixels, prompt, method, image_id, n_steps, precision)
    if not use_cache:
        return _frozen(_compute(lm, pixels, prompt, method, n_steps, precision))
    return MAP_CACHE.get_or_compute(
        key, lambda: _frozen(_compute(lm, pixels, prompt, method, n_steps, precision)))


def _cache_key(lm: LoadedModel, pixels: np.ndarray, prompt: str, method: str, image_id: str | None,
               n_steps: int, precision: str) -> tuple:
    return (lm.weights_sha256, image_id or image_key(pixels), prompt if methods.uses_prompt(method) else "",
            method, n_steps if method == "integrated_gradients" else 0, precision)


def is_cached(lm: LoadedModel, pixels: np.ndarray, prompt: str, method: str = "gradcam", *,
              image_id: str | None = None, n_steps: int = 32, precision: str | None = None) -> bool:
    """Whether ``attribution_map`` with these arguments answers from its cache at once: the
    app's shared server queues a slow method's map (app/jobs/slot.py), never a cached one."""
    key = _cache_key(lm, pixels, prompt, method, image_id, n_steps, model_precision(lm, precision))
    return key in MAP_CACHE


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def raw_map(lm: LoadedModel, pixels: np.ndarray, prompt: str, method: str, n_steps: int = 32,
            precision: str = "fp32") -> np.ndarray:
    """The method's map over the model input, before it is brought to the stored grid, as
    float32 whatever the (resolved) ``precision`` of the passes."""
    # Grad mode and inference mode are thread-local: set them here whatever the caller uses.
    with torch.inference_mode(False), torch.enable_grad():
        text = text_embedding(lm, prompt) if methods.uses_prompt(method) else None  # fp32, cached
        x = lm.preprocess(pixels)[None].float()
        with autocast(lm, precision):
            if method == "rollout":
                raw = methods.rollout(lm, x)
            elif method == "integrated_gradients":
                base = lm.preprocess(np.zeros_like(pixels))[None].float()  # a black image
                raw = methods.integrated_gradients(lm, x, text, n_steps, base)
            else:
                raw = getattr(methods, method)(lm, x, text)
    return np.asarray(raw, dtype=np.float32)


def _compute(lm: LoadedModel, pixels: np.ndarray, prompt: str, method: str, n_steps: int,
             precision: str = "fp32") -> np.ndarray:
    h, w = pixels.shape
    raw = raw_map(lm, pixels, prompt, method, n_steps, precision)
    return unit_max(to_image_grid(unit_max(raw), h, w, lm.image_size))


def clear_cache() -> None:
    MAP_CACHE.clear()
