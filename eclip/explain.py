"""Why the model looks where it looks: attribution maps and their agreement with gaze.

Maps explain the cosine similarity between one image and one text prompt:

* ``gradcam``  - Grad-CAM on the last spatial layer: ``layer4`` of a ResNet tower, the
  tokens entering the last block of a ViT tower (reshaped to the patch grid; the last
  block's *output* tokens carry no gradient, only its class token does);
* ``rollout``  - attention rollout for ViT towers (prompt independent by construction);
* ``integrated_gradients`` - captum IntegratedGradients on the pixels; the slow, explicit
  choice (``n_steps`` forward/backward passes).

Every map is float32, >= 0, max 1, and aligned with the *stored* image (same HxW): the
model's resize + centre crop is undone, and the cropped-off margins get 0.

The app shares one model between sessions, so an attribution leaves it untouched: input
gradients come from ``torch.autograd.grad`` (no parameter ``.grad`` is ever written), the
train/eval mode is never changed, and the forward hooks we need are removed on exit and
record only the activations of the thread that registered them (captum's layer hooks would
capture any thread's forward, which is why Grad-CAM is done here rather than by
``captum.attr.LayerGradCam``; the arithmetic is the same).

Gaze agreement: Pearson CC, NSS, KL divergence and AUC-Judd between a model map and a
radiologist gaze heatmap; ``python -m eclip.explain agreement`` averages them over a split's
gaze subset, for one or several checkpoints and methods; ``python -m eclip.explain map``
writes one map as a PNG overlay.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eclip.errors import EclipError, EvaluationError, ModelError
from eclip.evaluate.saliency import AGREEMENT_METRICS, agreement_metrics, is_flat
from eclip.io import sha256_text
from eclip.memo import BoundedCache
from eclip.model.encode import encode_prompts

log = logging.getLogger(__name__)

METHODS = ("gradcam", "rollout", "integrated_gradients")
FAST_METHODS = ("gradcam", "rollout")


# --------------------------------------------------------------------------- geometry
def crop_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(resized_h, resized_w, top, left) of eclip.model.preprocess.resize_centre_crop:
    shorter side to ``size``, then a centred ``size`` x ``size`` crop."""
    scale = size / min(height, width)
    nh, nw = max(size, round(height * scale)), max(size, round(width * scale))
    return nh, nw, (nh - size) // 2, (nw - size) // 2


def to_image_grid(model_map: np.ndarray | torch.Tensor, height: int, width: int, size: int) -> np.ndarray:
    """A map over the model input (any resolution, covering the SxS crop) -> HxW of the
    stored image: upsample to SxS, paste into the resized frame, resize to HxW."""
    m = torch.as_tensor(np.asarray(model_map, dtype=np.float32))[None, None]
    m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)
    nh, nw, top, left = crop_geometry(height, width, size)
    canvas = torch.zeros(1, 1, nh, nw)
    canvas[..., top:top + size, left:left + size] = m
    out = F.interpolate(canvas, size=(height, width), mode="bilinear", align_corners=False)
    return out[0, 0].numpy().astype(np.float32)


def _unit_max(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.maximum(np.asarray(m, dtype=np.float32), 0.0))
    top = float(m.max()) if m.size else 0.0
    return m / top if top > 0 else m


# --------------------------------------------------------------------------- hooks
class _ThreadCapture:
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


# --------------------------------------------------------------------------- towers
def tower_kind(lm) -> str:
    """'vit' (open_clip VisionTransformer), 'resnet' (ModifiedResNet) or 'other'."""
    visual = lm.model.clip.visual
    if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
        return "vit"
    if hasattr(visual, "layer4") and hasattr(visual, "attnpool"):
        return "resnet"
    return "other"


def supported_methods(lm) -> list[str]:
    kind = tower_kind(lm)
    fast = {"vit": ["gradcam", "rollout"], "resnet": ["gradcam"]}.get(kind, [])
    return fast + ["integrated_gradients"]


def _vit_tokens_to_grid(tokens: torch.Tensor, visual) -> torch.Tensor:
    """[B, L, C] (or [L, B, C]) transformer tokens -> [B, C, gh, gw] patch grid."""
    if not getattr(visual.transformer, "batch_first", True):
        tokens = tokens.transpose(0, 1)
    gh, gw = visual.grid_size
    patches = tokens[:, tokens.shape[1] - gh * gw:]  # drop class/register prefix tokens
    return patches.transpose(1, 2).reshape(tokens.shape[0], -1, gh, gw)


# --------------------------------------------------------------------------- target
def text_embedding(lm, prompt: str) -> torch.Tensor:
    """Normalised text embedding [D] of ``prompt`` (cached per weights in
    ``eclip.model.encode``); a plain tensor, usable in the autograd graph of a map."""
    return torch.from_numpy(encode_prompts(lm, [prompt])[0].copy())


def _similarity(lm, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity [B] of images ``x`` with the normalised text vector."""
    return lm.model.encode_image(x, normalize=True).float() @ text


# --------------------------------------------------------------------------- methods
def _gradcam(lm, x: torch.Tensor, text: torch.Tensor) -> np.ndarray:
    visual = lm.model.clip.visual
    kind = tower_kind(lm)
    if kind == "vit":
        layer = visual.transformer.resblocks[-1].ln_1
    elif kind == "resnet":
        layer = visual.layer4
    else:
        raise ModelError(f"Grad-CAM needs a ViT or ResNet image tower, not {type(visual).__name__}; "
                         "use method 'integrated_gradients'.")
    with _ThreadCapture([layer]) as cap:
        score = _similarity(lm, x.clone().requires_grad_(True), text).sum()
    act = cap.outputs[-1]
    (grad,) = torch.autograd.grad(score, act)
    if kind == "vit":
        act, grad = _vit_tokens_to_grid(act, visual), _vit_tokens_to_grid(grad, visual)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1))[0]
    return cam.detach().numpy()


def _attention_probs(block, x_ln: torch.Tensor) -> torch.Tensor:
    """Softmax attention [B, heads, L, L] of an nn.MultiheadAttention block, recomputed
    from its input (open_clip calls it with need_weights=False)."""
    attn = block.attn
    if not isinstance(attn, torch.nn.MultiheadAttention) or attn.in_proj_weight is None:
        raise ModelError("Attention rollout supports open_clip ViTs built on "
                         "nn.MultiheadAttention; use 'gradcam' or 'integrated_gradients'.")
    if not attn.batch_first:
        x_ln = x_ln.transpose(0, 1)
    b, n, c = x_ln.shape
    h = attn.num_heads
    q, k, _ = F.linear(x_ln, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q = q.reshape(b, n, h, c // h).transpose(1, 2)
    k = k.reshape(b, n, h, c // h).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)


def _rollout(lm, x: torch.Tensor, text: torch.Tensor | None = None) -> np.ndarray:
    visual = lm.model.clip.visual
    if tower_kind(lm) != "vit":
        raise ModelError(f"Attention rollout needs a ViT image tower, not {type(visual).__name__}; "
                         "use 'gradcam' or 'integrated_gradients'.")
    blocks = list(visual.transformer.resblocks)
    with torch.no_grad():
        with _ThreadCapture([b.ln_1 for b in blocks]) as cap:
            lm.model.encode_image(x, normalize=True)
        rollout = None
        for block, x_ln in zip(blocks, cap.outputs):
            a = _attention_probs(block, x_ln).mean(dim=1)[0]  # heads averaged: [L, L]
            a = 0.5 * a + 0.5 * torch.eye(a.shape[0])  # the residual path
            a = a / a.sum(dim=-1, keepdim=True)
            rollout = a if rollout is None else a @ rollout
    gh, gw = visual.grid_size
    n_prefix = rollout.shape[0] - gh * gw
    # Class-token pooling reads row 0; average pooling reads every patch row.
    rows = rollout[:1] if n_prefix > 0 and getattr(visual, "pool_type", "tok") == "tok" else rollout[n_prefix:]
    return rows[:, n_prefix:].mean(0).reshape(gh, gw).numpy()


def _integrated_gradients(lm, x: torch.Tensor, text: torch.Tensor, n_steps: int = 32,
                          baseline: torch.Tensor | None = None) -> np.ndarray:
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(lambda inp: _similarity(lm, inp, text))
    base = baseline if baseline is not None else torch.zeros_like(x)
    attr = ig.attribute(x, baselines=base, n_steps=n_steps, internal_batch_size=min(n_steps, 16))
    return attr.detach()[0].sum(0).abs().numpy()


# --------------------------------------------------------------------------- public API
MAP_CACHE_SIZE = 256
MAP_CACHE = BoundedCache(MAP_CACHE_SIZE, "attribution maps")


def image_key(pixels: np.ndarray) -> str:
    """A content id for images without a dataset id."""
    arr = np.ascontiguousarray(pixels, dtype=np.float32)
    return sha256_text(arr.tobytes() + str(arr.shape).encode(), 16)


def attribution_map(lm, pixels: np.ndarray, prompt: str, method: str = "gradcam", *,
                    image_id: str | None = None, use_cache: bool = True, n_steps: int = 32) -> np.ndarray:
    """Where the image supports its similarity to ``prompt``: float32 HxW in [0, 1],
    aligned with ``pixels`` (a stored grey image, float32 HxW in [0, 1]).

    Cached per (weights sha256, image id, prompt, method); the returned array is read-only
    because it is shared with later callers."""
    if method not in METHODS:
        raise EvaluationError(f"Unknown attribution method '{method}'; choose one of {', '.join(METHODS)}.")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2:
        raise EvaluationError(f"Attribution needs a grey HxW image, got shape {pixels.shape}.")
    key = (lm.weights_sha256, image_id or image_key(pixels), prompt if method != "rollout" else "",
           method, n_steps if method == "integrated_gradients" else 0)
    if not use_cache:
        return _frozen(_compute(lm, pixels, prompt, method, n_steps))
    return MAP_CACHE.get_or_compute(key, lambda: _frozen(_compute(lm, pixels, prompt, method, n_steps)))


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _compute(lm, pixels: np.ndarray, prompt: str, method: str, n_steps: int) -> np.ndarray:
    # Grad mode and inference mode are thread-local: set them here whatever the caller uses.
    with torch.inference_mode(False), torch.enable_grad():
        x = lm.preprocess(pixels)[None].float()
        text = text_embedding(lm, prompt) if method != "rollout" else None
        if method == "gradcam":
            raw = _gradcam(lm, x, text)
        elif method == "rollout":
            raw = _rollout(lm, x)
        else:
            base = lm.preprocess(np.zeros_like(pixels))[None].float()  # a black image
            raw = _integrated_gradients(lm, x, text, n_steps, base)
    h, w = pixels.shape
    return _unit_max(to_image_grid(_unit_max(raw), h, w, lm.image_size))


def clear_cache() -> None:
    MAP_CACHE.clear()


# --------------------------------------------------------------------------- gaze agreement
def gaze_agreement(lm, data: str | Path, split: str = "test", method: str = "gradcam",
                   limit: int | None = None, progress: bool = False):
    """Per-image agreement of ``method`` maps with gaze over ``split`` rows that have gaze.
    The prompt is each image's own report. Returns (means dict, per-image DataFrame)."""
    import pandas as pd
    from tqdm import tqdm

    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest

    root = Path(data)
    df = read_manifest(root)
    rows = df[(df["split"].astype(str) == split) & (df["gaze_path"].astype(str).str.len() > 0)]
    if limit:
        rows = rows.iloc[:limit]
    if rows.empty:
        raise EvaluationError(f"{root}: no '{split}' rows with gaze (gaze_path); pick another split "
                              "or a dataset with gaze heatmaps.")
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"{method} vs gaze", disable=not progress):
        pixels = load_working(root / row["image_path"])
        with np.load(root / row["gaze_path"]) as z:
            gaze = z["heatmap"].astype(np.float32)
        prompt = str(row["findings"]).strip() or str(row["impression"])
        sal = attribution_map(lm, pixels, prompt, method, image_id=str(row["id"]))
        records.append({"id": row["id"], **agreement_metrics(sal, gaze), "flat": is_flat(sal)})
    per_image = pd.DataFrame(records)
    means = {k: float(np.nanmean(per_image[k])) for k in AGREEMENT_METRICS}
    means["n"] = len(per_image)
    means["n_flat"] = int(per_image["flat"].sum())
    return means, per_image


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eclip.explain",
                                description="Attribution maps and their agreement with radiologist gaze.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("agreement", help="mean CC / NSS / KL / AUC-Judd of model maps vs gaze heatmaps")
    a.add_argument("--checkpoint", action="append", required=True,
                   help="checkpoint folder; repeat to compare models (e.g. CLIP vs eCLIP)")
    a.add_argument("--data", required=True, help="dataset folder with manifest.csv and gaze heatmaps")
    a.add_argument("--split", default="test")
    a.add_argument("--method", action="append", choices=METHODS,
                   help="repeatable; default: gradcam (+ rollout for ViT towers)")
    a.add_argument("--limit", type=int, help="first N gaze images only")
    a.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    a.add_argument("--csv", help="write per-image metrics of every checkpoint/method to this CSV")
    m = sub.add_parser("map", help="one attribution map, saved as a PNG overlay (+ .npz with the map)")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--image", required=True, help="DICOM, PNG or JPEG file")
    m.add_argument("--prompt", required=True, help='text to explain, e.g. "small left pleural effusion"')
    m.add_argument("--method", choices=METHODS, default="gradcam")
    m.add_argument("--out", required=True, help="output PNG path")
    return p


def overlay_rgb(pixels: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 HxWx3: the grey image with the map in red/yellow on top."""
    grey = np.repeat(np.clip(pixels, 0, 1)[..., None], 3, axis=2)
    colour = np.stack([np.ones_like(heat), heat, np.zeros_like(heat)], axis=2)
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    return np.round(255 * ((1 - weight) * grey + weight * colour)).astype(np.uint8)


def _map_cli(args) -> int:
    from PIL import Image

    from eclip.data.images import load_image, to_working
    from eclip.data.manifest import save_array_npz
    from eclip.model.checkpoint import load_model

    lm = load_model(args.checkpoint)
    pixels = to_working(load_image(args.image).pixels)
    heat = attribution_map(lm, pixels, args.prompt, args.method)
    out = Path(args.out)
    Image.fromarray(overlay_rgb(pixels, heat)).save(out)
    save_array_npz(out.with_suffix(".npz"), heatmap=heat.astype(np.float16))
    print(f"wrote {out} and {out.with_suffix('.npz')} ({args.method}, {heat.shape[0]}x{heat.shape[1]})")
    return 0


def _agreement_cli(args) -> int:
    import pandas as pd

    from eclip.model.checkpoint import checkpoint_name, load_model

    rows, per_image = [], []
    for ckpt in args.checkpoint:
        lm = load_model(ckpt)
        methods = args.method or [m for m in FAST_METHODS if m in supported_methods(lm)]
        for method in methods:
            means, table = gaze_agreement(lm, args.data, args.split, method, args.limit, progress=True)
            rows.append({"checkpoint": checkpoint_name(ckpt), "method": method, **means})
            per_image.append(table.assign(checkpoint=str(ckpt), method=method))
    if args.csv:
        pd.concat(per_image).to_csv(args.csv, index=False)
    header = ["checkpoint", "method", "n", "n_flat", "cc", "nss", "kl", "auc_judd"]
    counts = ("checkpoint", "method", "n", "n_flat")
    if args.markdown:
        print("| model | method | n | flat maps (score chance) | CC ↑ | NSS ↑ | KL ↓ | AUC-Judd ↑ |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['checkpoint']} | {r['method']} | {r['n']} | {r['n_flat']} | {r['cc']:.3f} "
                  f"| {r['nss']:.3f} | {r['kl']:.3f} | {r['auc_judd']:.3f} |")
    else:
        print("\t".join(header))
        for r in rows:
            print("\t".join(str(r[h]) if h in counts else f"{r[h]:.4f}" for h in header))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return _agreement_cli(args) if args.cmd == "agreement" else _map_cli(args)
    except EclipError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
