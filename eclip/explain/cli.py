"""``python -m eclip.explain``: ``agreement`` averages CC / NSS / KL / AUC-Judd, shuffled AUC,
the pointing game and thresholded IoU of model maps against gaze (and ground-truth regions)
over a split, for one or several checkpoints and methods, beside the floors (uniform and
centre-bias maps) and the ceiling (another reader), all with 95 % bootstrap intervals;
``map`` writes one map as a PNG overlay (+ .npz)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from eclip.cli import run_command
from eclip.data.images import load_image, to_working
from eclip.data.manifest import save_array_npz
from eclip.index.typicality import describe
from eclip.model.checkpoint import LoadedModel, checkpoint_name, load_model
from eclip.model.encode import encode_pixels
from eclip.model.precision import PRECISIONS

from .agreement import (NO_CEILING, REFERENCE_NAMES, SCORE_COLUMNS, SEPARATOR, UNDEFINED, ci_text, dataset_notes,
                        gaze_agreement, gaze_rows, headline, reference_agreement, reference_summaries,
                        require_current_demo, with_intervals)
from .localisation import localisation, markdown_table, summarise
from .maps import attribution_map
from .methods import FAST_METHODS, METHODS, supported_methods
from .overlay import overlay_rgb

PRECISION_HELP = ("arithmetic of the model passes: auto (default, or $ECLIP_PRECISION) uses bf16 "
                  "where the CPU has bf16 units and the image tower is large; maps stay float32")


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
    a.add_argument("--precision", choices=PRECISIONS, default=None, help=PRECISION_HELP)
    a.add_argument("--no-floors", action="store_true",
                   help="skip the floors (uniform, centre bias) and the ceiling (another reader)")
    a.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    loc = sub.add_parser("localise", help="pointing game and mIoU of model maps against the ground-truth "
                         "finding masks on every abnormal case of a split, per finding, beside the "
                         "centre-bias floor and the grid-limited ceiling")
    loc.add_argument("--checkpoint", action="append", required=True, help="checkpoint folder; repeatable")
    loc.add_argument("--data", required=True, help="dataset folder with manifest.csv and finding masks")
    loc.add_argument("--split", default="test")
    loc.add_argument("--method", choices=METHODS, default="gradcam")
    loc.add_argument("--limit", type=int, help="first N abnormal cases only")
    loc.add_argument("--json", help="write every summary row (with intervals) to this JSON file")
    loc.add_argument("--precision", choices=PRECISIONS, default=None, help=PRECISION_HELP)
    loc.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (report clusters)")
    m = sub.add_parser("map", help="one attribution map, saved as a PNG overlay (+ .npz with the map)")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--image", required=True, help="DICOM, PNG or JPEG file")
    m.add_argument("--prompt", required=True, help='text to explain, e.g. "small left pleural effusion"')
    m.add_argument("--method", choices=METHODS, default="gradcam")
    m.add_argument("--out", required=True, help="output PNG path")
    m.add_argument("--precision", choices=PRECISIONS, default=None, help=PRECISION_HELP)
    return p


def _map_cli(args) -> int:
    from PIL import Image

    lm = load_model(args.checkpoint)
    pixels = to_working(load_image(args.image).pixels)
    if caveat_line(lm):
        print(caveat_line(lm))
    print(f"typicality of this image: {describe(lm, encode_pixels(lm, pixels))}")
    heat = attribution_map(lm, pixels, args.prompt, args.method, precision=args.precision)
    out = Path(args.out)
    Image.fromarray(overlay_rgb(pixels, heat)).save(out)
    save_array_npz(out.with_suffix(".npz"), heatmap=heat.astype(np.float16))
    print(f"wrote {out} and {out.with_suffix('.npz')} ({args.method}, {heat.shape[0]}x{heat.shape[1]})")
    return 0


def _agreement_cli(args) -> int:
    import pandas as pd

    require_current_demo(args.data)
    root, split_rows = gaze_rows(args.data, args.split, args.limit)
    rows, per_image = [], []
    for ckpt in args.checkpoint:
        lm = load_model(ckpt)
        if caveat_line(lm):
            print(caveat_line(lm, checkpoint_name(ckpt), args.markdown) + "\n")
        methods = args.method or [m for m in FAST_METHODS if m in supported_methods(lm)]
        for method in methods:
            means, table = gaze_agreement(lm, args.data, args.split, method, args.limit, progress=True,
                                          precision=args.precision)
            rows.append({"checkpoint": checkpoint_name(ckpt), "method": method, **means})
            per_image.append(table.assign(checkpoint=str(ckpt), method=method))
    references = None if args.no_floors else reference_agreement(args.data, args.split, args.limit, progress=True)[0]
    if args.csv:
        extra = [] if references is None else [references.rename(columns={"reference": "method"})]
        pd.concat(per_image + extra).to_csv(args.csv, index=False)
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
    print()
    _print_intervals(rows, per_image, references, args)
    for note in dataset_notes(root, split_rows, references):
        print(f"> **Note:** {note}" if args.markdown else f"note: {note}")
    return 0


def _localise_cli(args) -> int:
    import json

    out, caveats = {}, {}
    for ckpt in args.checkpoint:
        name, lm = checkpoint_name(ckpt), load_model(ckpt)
        per_target = localisation(lm, args.data, args.split, args.method, args.limit,
                                  progress=True, precision=args.precision)
        out[name], caveats[name] = summarise(per_target, args.n_boot), lm.model_card.caveat
        print(f"## {name}: {args.method}, {args.split} split, every case with a finding mask\n")
        if caveats[name]:
            print(caveat_line(lm, name, markdown=True) + "\n")
        print(markdown_table(out[name], name) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"data": str(args.data), "split": args.split,
                                               "method": args.method, "model_caveat": caveats,
                                               "models": out}, indent=1))
    return 0


def caveat_line(lm: LoadedModel, name: str = "", markdown: bool = False) -> str:
    """The header line of every output of a model trained on simulated films (its card's
    caveat); "" for any other model."""
    caveat = lm.model_card.caveat
    if not caveat:
        return ""
    who = f" ({name})" if name else ""
    return f"> **Model caveat{who}:** {caveat}" if markdown else f"MODEL CAVEAT{who}: {caveat}"


def _print_intervals(rows: list[dict], per_image: list, references, args) -> None:
    """Every score with its 95 % bootstrap interval, models first, then floors and ceiling,
    and one headline per model ("CC model - floor - ceiling")."""
    refs = {} if references is None else reference_summaries(references, args.n_boot)
    table = [(r["checkpoint"], r["method"], with_intervals(t, n_boot=args.n_boot)) for r, t in zip(rows, per_image)]
    table += [(REFERENCE_NAMES[name], "", summary) for name, summary in refs.items()]
    no_ceiling = references is not None and "readers" not in refs
    if no_ceiling:  # a row that says why, rather than no row
        table.append((REFERENCE_NAMES["readers"], "", None))
    names = ["CC ↑", "NSS ↑", "KL ↓", "AUC-Judd ↑", "shuffled AUC ↑", "pointing game ↑", "mIoU @ 0.5 ↑"]
    if args.markdown:
        print("| model / reference | method | n | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
    else:
        print("\t".join(["model_or_reference", "method", "n", *SCORE_COLUMNS]))
    for who, method, summary in table:
        n = summary["cc"]["n"] if summary is not None else 0
        cells = ([_ci_cell(summary[c], n, c) for c in SCORE_COLUMNS] if summary is not None
                 else [f"n/a: {NO_CEILING}"] * len(SCORE_COLUMNS))
        print(f"| {who} | {method} | {n} | " + " | ".join(cells) + " |" if args.markdown
              else "\t".join([who, method, str(n), *cells]))
    print()
    for who, method, summary in table[:len(rows)]:
        line = headline(f"{who} {method}", {"model": summary, **refs})
        print(line + (f"{SEPARATOR}ceiling (another reader) n/a: {NO_CEILING}" if no_ceiling else ""))


def _ci_cell(ci: dict, n: int, column: str) -> str:
    """'0.108 [0.081, 0.135]', with the image count when the metric was defined on fewer
    images than the row (the localisation pair needs a ground-truth region); an n/a says why."""
    text = ci_text(ci, digits=3, why=UNDEFINED.get(column, ""))
    return f"{text} (n={ci['n']})" if ci["n"] != n and not text.startswith("n/a") else text


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    commands = {"agreement": _agreement_cli, "localise": _localise_cli, "map": _map_cli}
    return run_command(lambda: commands[args.cmd](args))
