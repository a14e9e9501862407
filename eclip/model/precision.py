"""Numeric precision of CPU forward (and backward) passes: ``auto | fp32 | bf16``.

``bf16`` runs the towers under ``torch.autocast(dtype=torch.bfloat16)``: matmuls and
convolutions in bf16, norms and softmax in fp32 (autocast's own lists), weights untouched
(the model is shared between app sessions), every output cast back to float32 by the
caller. ``auto`` picks bf16 only where it pays:

* the processor has bf16 dot-product units (``amx_bf16`` or ``avx512_bf16`` among the
  ``/proc/cpuinfo`` flags); without them bf16 matmuls have no fast path (not measured:
  this machine has the units), so ``auto`` stays on fp32;
* the image tower is large: its matmul weights (tensors of 2 or more dimensions) number at
  least ``BF16_MIN_TOWER_WEIGHTS``. Below that, the casts autocast adds per op cost about
  as much as the faster matmuls save (see the constant for the measurement).

One decision per model, from the image tower: it dominates index builds, attribution maps
and training steps. The text tower follows it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from pathlib import Path

import torch

from eclip.errors import ModelError
from eclip.memo import BoundedCache
from eclip.settings import PRECISIONS, settings

log = logging.getLogger(__name__)

PRECISION_ENV = "ECLIP_PRECISION"  # the default for every path (index, evaluate, explain, app)
BF16_UNITS = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")
# Image-tower matmul weights from which bf16 pays on CPU on every path. Measured on this
# machine when idle (AMD EPYC with avx512_bf16, no AMX; torch 2.14, 2 threads, random init,
# fp32/bf16 rounds interleaved, best of 3), bf16 gain over fp32:
#   tower          weights  encode (batch 8)  Grad-CAM map  training step (8 + 4 expert)
#   demo-eclip      1.3 M   x1.12 (index x1.13)  x0.84        x1.25
#   vit-tiny6       2.9 M   x1.39               x0.96        x1.26
#   vit-tiny        5.5 M   x1.36               x0.98        x1.24
#   rn-tiny         5.4 M   x1.60               x1.12        x1.33
#   ViT-S-16       21.8 M   x1.96
#   ViT-B-16       86.1 M   x1.72 (index x1.90)  x1.76        x1.69   (IG x1.67)
# (`python benchmarks/precision.py --sweep ARCH...` and `python benchmarks/precision.py`.)
# Small towers gain a little on batches and lose on single-image maps, where autocast's
# per-op casts cost as much as the matmuls save; from ViT-S up every path gains ~1.7-2x.
BF16_MIN_TOWER_WEIGHTS = 10_000_000

_HEADER_CACHE = BoundedCache(256, name="image-tower weight counts")
_HOOK_LOCK = threading.Lock()


# --------------------------------------------------------------------------- the processor
def cpu_flags(cpuinfo: str | Path | None = None) -> frozenset[str]:
    """The processor's feature flags from a ``/proc/cpuinfo``-format file (default
    ``CPUINFO``; empty if unreadable, e.g. not Linux: then ``auto`` stays on fp32)."""
    return _read_flags(str(cpuinfo or CPUINFO))


@functools.lru_cache(maxsize=8)
def _read_flags(cpuinfo: str) -> frozenset[str]:
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_bf16_units(cpuinfo: str | Path | None = None) -> bool:
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_UNITS)


# --------------------------------------------------------------------------- the decision
def check_precision(value: str) -> str:
    value = str(value).strip().lower()
    if value not in PRECISIONS:
        raise ModelError(f"precision {value!r} is not one of {', '.join(PRECISIONS)}; "
                         f"pass one of them (or set {PRECISION_ENV})")
    return value


def default_precision() -> str:
    """``$ECLIP_PRECISION`` when set, else ``auto`` (eclip.settings, already checked)."""
    return settings().precision


def resolve(precision: str | None, tower_weights: int, device: str | torch.device = "cpu",
            cpuinfo: str | Path | None = None) -> str:
    """``fp32`` or ``bf16``: what ``precision`` (None = the default) means for an image tower
    of ``tower_weights`` matmul weights on ``device``. ``auto`` off the CPU stays fp32 (the
    GPU trainer has its own ``train.amp``)."""
    chosen = check_precision(precision) if precision else default_precision()
    if chosen != "auto":
        return chosen
    if torch.device(device).type != "cpu":
        return "fp32"
    return "bf16" if has_bf16_units(cpuinfo) and tower_weights >= BF16_MIN_TOWER_WEIGHTS else "fp32"


def tower_weights(module: torch.nn.Module) -> int:
    """Elements of the module's tensors with 2 or more dimensions (the matmul weights)."""
    return sum(p.numel() for p in module.parameters() if p.ndim >= 2)


def model_precision(model, precision: str | None = None, device: str | torch.device = "cpu",
                    cpuinfo: str | Path | None = None) -> str:
    """``resolve`` for a loaded ECLIP model (or an ``eclip.model.checkpoint.LoadedModel``)."""
    model = getattr(model, "model", model)
    return resolve(precision, tower_weights(model.clip.visual), device, cpuinfo)


def checkpoint_precision(checkpoint: str | Path, precision: str | None = None,
                         device: str | torch.device = "cpu", cpuinfo: str | Path | None = None) -> str:
    """``resolve`` for a checkpoint folder, from its safetensors header alone (no weights
    read): index keys need it before, or without, loading the model."""
    chosen = check_precision(precision) if precision else default_precision()
    if chosen != "auto":
        return chosen
    return resolve(chosen, _header_tower_weights(Path(checkpoint) / "model.safetensors"), device, cpuinfo)


def _header_tower_weights(weights: Path) -> int:
    st = weights.stat()
    key = (str(weights.resolve()), st.st_size, st.st_mtime_ns)
    return _HEADER_CACHE.get_or_compute(key, lambda: _count_visual_weights(weights))


def _count_visual_weights(weights: Path) -> int:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = [f.get_slice(k).get_shape() for k in f.keys() if k.startswith("visual.")]
    except Exception as exc:  # safetensors raises its own error type
        raise ModelError(f"{weights} is not a readable safetensors file ({exc}); restore or "
                         "re-export the checkpoint") from exc
    total = 0
    for shape in shapes:
        if len(shape) >= 2:
            total += int(torch.Size(shape).numel())
    return total


# --------------------------------------------------------------------------- running in it
@contextlib.contextmanager
def autocast(model, precision: str, device: str | torch.device = "cpu"):
    """Run the block in ``precision`` (already resolved: ``fp32`` or ``bf16``). Callers cast
    what they keep (embeddings, maps) back to float32."""
    if check_precision(precision) != "bf16":
        yield
        return
    install_layout_hooks(getattr(model, "model", model))
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield


def install_layout_hooks(model: torch.nn.Module) -> None:
    """Once per model: a pre-hook on every batch-first ``nn.MultiheadAttention`` that, under
    CPU autocast only, hands it its input laid out sequence-first in memory. The module
    transposes its input and projects it with ``F.linear``; on the resulting non-contiguous
    bf16 tensor torch's CPU linear falls back to a batched matmul over a broadcast copy of the
    weight: [197, 8, 768] x [768, 2304] took 5.2 s in bf16 vs 0.23 s contiguous (fp32 0.68 s),
    which made ViT-B-16 bf16 encoding 2.7x *slower* than fp32 instead of 1.8x faster. Values
    are unchanged (only strides); fp32 runs never see the hook act."""
    with _HOOK_LOCK:
        if getattr(model, "_eclip_layout_hooks", False):
            return
        for module in model.modules():
            if isinstance(module, torch.nn.MultiheadAttention) and module.batch_first:
                module.register_forward_pre_hook(_sequence_first_layout, with_kwargs=True)
        model._eclip_layout_hooks = True


def _sequence_first_layout(module, args, kwargs):
    if not args or not torch.is_autocast_enabled("cpu"):
        return None
    query = args[0]
    if query.device.type != "cpu" or query.dim() != 3 or query.transpose(0, 1).is_contiguous():
        return None
    relaid = query.transpose(0, 1).contiguous().transpose(0, 1)
    # self-attention passes one tensor three times; keep them one object (the module checks
    # ``query is key`` to pick its packed projection)
    return tuple(relaid if a is query else a for a in args), kwargs


# --------------------------------------------------------------------------- agreement
def min_cosine(a, b) -> float:
    """The smallest row-wise cosine similarity of two embedding matrices of the same items
    (e.g. fp32 vs bf16 embeddings)."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    num = (a * b).sum(1)
    den = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float((num / den).min())


def topk_overlap(scores_a, scores_b, k: int = 10) -> float:
    """Mean share of each query's top-``k`` items (columns of [Q, N] score matrices) that two
    runs agree on: 1.0 = identical neighbour sets."""
    import numpy as np

    scores_a, scores_b = np.asarray(scores_a), np.asarray(scores_b)
    k = min(k, scores_a.shape[1])
    top_a = np.argpartition(-scores_a, k - 1, axis=1)[:, :k]
    top_b = np.argpartition(-scores_b, k - 1, axis=1)[:, :k]
    shared = [len(np.intersect1d(x, y)) for x, y in zip(top_a, top_b)]
    return float(np.mean(shared) / k)
