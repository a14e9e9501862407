"""Zero-shot pair probabilities raw vs calibrated on the validate split, scored on the test split:
per finding the test positives, validate base rate, mean probability, Brier score and expected
calibration error (10 bins), then the pooled figures over the calibrated findings
(``eclip.index.zero_shot_calibration``; docs/evaluation.md quotes the demo's numbers).

    python benchmarks/calibration.py                                   # demo model on data/demo
    python benchmarks/calibration.py --checkpoint DIR --data DIR --split test

The index must be built (``python -m eclip.index build``); the fit is not written to it.
"""

from __future__ import annotations

import argparse

import numpy as np

from eclip.data.manifest import read_manifest
from eclip.index import load_index
from eclip.index.zero_shot_calibration import calibration_for, pair_logits, sigmoid
from eclip.model.checkpoint import load_model
from eclip.model.encode import encode_prompt_sets, probability_scale
from eclip.model.prompts import load_prompt_set
from eclip.model.targets import binary_targets


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean p - share positive| per probability bin, weighted."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum((which == b).mean() * abs(p[which == b].mean() - y[which == b].mean())
                     for b in range(bins) if (which == b).any()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="checkpoints/demo-eclip")
    ap.add_argument("--data", default="data/demo")
    ap.add_argument("--prompts", default="binary")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    lm, df = load_model(args.checkpoint, device="cpu"), read_manifest(args.data)
    idx = load_index(args.checkpoint, args.data)
    ps = load_prompt_set(args.prompts)
    pairs, scale = encode_prompt_sets(lm, [ps])[ps.name], probability_scale(lm)
    cal = calibration_for(idx, df, ps, pairs, scale, keep=False)
    print(cal.summary())
    rows = np.flatnonzero(df["split"] == args.split)
    part = df.iloc[rows].reset_index(drop=True)
    logits = pair_logits(np.asarray(idx.image_emb[rows]), pairs[:, 0], pairs[:, 1], scale)
    raw, fitted = sigmoid(logits), cal.probabilities(logits)
    print(f"{'finding':24s} {'n':>4s} {'positive':>8s} {'val rate':>8s} {'p raw':>6s} {'p cal':>6s} "
          f"{'Brier raw':>9s} {'Brier cal':>9s} {'ECE raw':>7s} {'ECE cal':>7s}")
    pooled = []
    for j, label in enumerate(ps.binary):
        y = binary_targets(part, label)
        keep, f = ~np.isnan(y), cal.findings[j]
        if not keep.any():
            continue
        yk, pr, pc = y[keep], raw[keep, j], fitted[keep, j]
        if f.calibrated:
            pooled.append((pr, pc, yk))
        rate = "-" if f.base_rate is None else f"{f.base_rate:.2f}"
        print(f"{label.name:24s} {keep.sum():4d} {yk.mean():8.2f} {rate:>8s} {pr.mean():6.2f} {pc.mean():6.2f} "
              f"{np.mean((pr - yk) ** 2):9.3f} {np.mean((pc - yk) ** 2):9.3f} {ece(pr, yk):7.3f} {ece(pc, yk):7.3f}"
              + ("" if f.calibrated else f"  pooled: {f.why}" if f.pooled else f"  raw: {f.why}"))
    if pooled:
        r, c, y = (np.concatenate(x) for x in zip(*pooled))
        print(f"calibrated findings pooled: Brier {np.mean((r - y) ** 2):.3f} -> {np.mean((c - y) ** 2):.3f}, "
              f"ECE {ece(r, y):.3f} -> {ece(c, y):.3f}, p >= 0.8 {np.mean(r >= 0.8):.2f} -> "
              f"{np.mean(c >= 0.8):.2f} of pairs ({y.mean():.2f} positive)")


if __name__ == "__main__":
    main()
