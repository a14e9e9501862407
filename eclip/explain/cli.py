"""``python -m eclip.explain``: ``agreement`` averages CC / NSS / KL / AUC-Judd of model maps
against gaze over a split, for one or several checkpoints and methods; ``map`` writes one
map as a PNG overlay (+ .npz)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from eclip.errors import EclipError

from .agreement import gaze_agreement
from .maps import attribution_map
from .methods import FAST_METHODS, METHODS, supported_methods


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eclip.explain",
                                description="Attribution maps and their agreement with radiologist gaze.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("agreement", help="mean CC / NSS / KL / AUC-Judd of model maps vs gaze heatmaps, "
                       "and how much of each map lies in the border band / outside the lung fields")
    a.add_argument("--checkpoint", action="append", required=True,
                   help="checkpoint folder; repeat to compare models (e.g. CLIP vs eCLIP)")
    a.add_argument("--data", required=True, help="dataset folder with manifest.csv and gaze heatmaps")
    a.add_argument("--split", default="test")
    a.add_argument("--method", action="append", choices=METHODS,
                   help="repeatable; default: gradcam (+ rollout, grad_rollout for ViT towers)")
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
    header = ["checkpoint", "method", "n", "n_flat", "cc", "nss", "kl", "auc_judd", "border_mass",
              "outside_lungs", "n_outside"]
    counts = ("checkpoint", "method", "n", "n_flat", "n_outside")
    if args.markdown:
        print("| model | method | n | flat maps (score chance) | CC ↑ | NSS ↑ | KL ↓ | AUC-Judd ↑ "
              "| mass in border band ↓ | mass outside lungs ↓ | flagged outside |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['checkpoint']} | {r['method']} | {r['n']} | {r['n_flat']} | {r['cc']:.3f} "
                  f"| {r['nss']:.3f} | {r['kl']:.3f} | {r['auc_judd']:.3f} | {r['border_mass']:.3f} "
                  f"| {r['outside_lungs']:.3f} | {r['n_outside']} |")
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
