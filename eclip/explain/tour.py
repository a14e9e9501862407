"""Cases that tell the method's story, chosen by measurement for a presenter's tour.

    python -m eclip.explain.tour --checkpoint checkpoints/demo-eclip \\
        --compare checkpoints/demo-clip --data data/demo

Four roles, each the extreme of one number over the ``split`` (default test):

* ``gaze``: a case with gaze and a finding where the model's Grad-CAM agrees with the gaze
  most beyond the compare model's (largest CC difference, model − compare);
* ``normal``: a "No Finding" film with gaze the model calls normal most confidently;
* ``device``: a "Support Devices" film with gaze the model finds its device in most surely;
* ``miss``: a positive finding the model scores lowest (zero-shot probability of its pair).

app/assets/tour.toml records the picks and these numbers beside them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.cli import run_command
from eclip.errors import EvaluationError
from eclip.evaluate.saliency import agreement_metrics

from .agreement import case_report, gaze_rows
from .maps import attribution_map

ROLES = ("gaze", "normal", "device", "miss")


@dataclass(frozen=True)
class Pick:
    role: str
    case: str
    prompt: str
    why: str  # the numbers that chose it


def default_prompt(row) -> str:
    """The first positive finding (not "No Finding"), else the report's first sentence:
    the prompt the Model vs gaze page opens a case with."""
    from eclip.data.manifest import LABELS

    labels = [c for c in LABELS if c != "No Finding" and c in row.index and _positive(row[c])]
    first = case_report(row).split(".")[0].strip()
    return f"{labels[0]}." if labels else (f"{first}." if first else "")


def _positive(value) -> bool:
    try:
        return float(value) == 1.0
    except (TypeError, ValueError):
        return False


def probabilities(lm, root: Path, rows: pd.DataFrame) -> tuple[list, np.ndarray]:
    """(the binary set's findings, [N, L] their zero-shot probabilities for ``rows``): the
    numbers the app's draft, presenter and case report show (eclip.report's
    sigmoid(scale * (s_pos - s_neg)), at the model's learned temperature)."""
    from eclip.data.images import load_working
    from eclip.model.encode import encode_pixels
    from eclip.report.context import zero_shot_evidence

    per_row = [zero_shot_evidence(lm, encode_pixels(lm, load_working(root / p))) for p in rows["image_path"]]
    findings = sorted(per_row[0], key=lambda z: z.name)
    probs = [[{z.name: z.probability for z in zs}[f.name] for f in findings] for zs in per_row]
    return findings, np.asarray(probs, dtype=float)


def gaze_cc(lm, root: Path, rows: pd.DataFrame, method: str = "gradcam") -> np.ndarray:
    """[N] Pearson CC of each row's map (its default prompt) with its gaze heatmap."""
    from eclip.data.gaze.heatmaps import load_heatmap
    from eclip.data.images import load_working

    out = []
    for _, row in rows.iterrows():
        pixels = load_working(root / row["image_path"])
        sal = attribution_map(lm, pixels, default_prompt(row), method, image_id=f"{root}:{row['id']}")
        out.append(agreement_metrics(sal, load_heatmap(root / row["gaze_path"]))["cc"])
    return np.asarray(out, dtype=float)


def _has_finding(row) -> bool:
    from eclip.data.manifest import LABELS

    return any(_positive(row[c]) for c in LABELS if c != "No Finding" and c in row.index)


def _prob_of(labels: list, probs: np.ndarray, name: str) -> np.ndarray:
    j = next(i for i, lab in enumerate(labels) if lab.name == name)
    return probs[:, j]


def pick_tour(lm, other, data: str | Path, split: str = "test") -> list[Pick]:
    """The picks (see the module doc), in ROLES order; a role the data cannot fill (no
    device film with gaze) is left out. ``other`` is the compare model, or None (then the
    ``gaze`` pick is the case of highest CC of ``lm`` alone)."""
    root, with_gaze = gaze_rows(data, split)
    finding = with_gaze[[_has_finding(r) for _, r in with_gaze.iterrows()]]
    if finding.empty:
        raise EvaluationError(f"{root}: no '{split}' case with gaze has a positive finding.")
    cc = gaze_cc(lm, root, finding)
    diff = cc - (gaze_cc(other, root, finding) if other is not None else 0.0)
    i = int(np.nanargmax(diff))
    picks = [Pick("gaze", finding["id"].iloc[i], default_prompt(finding.iloc[i]),
                  f"Grad-CAM CC with gaze {cc[i]:.3f}, {diff[i]:+.3f} over the compare model "
                  f"(largest of {len(finding)} {split} cases with gaze and a finding)")]
    labels, probs = probabilities(lm, root, with_gaze)
    picks += [_most(with_gaze, labels, probs, "normal", "No Finding", split),
              _most(with_gaze, labels, probs, "device", "Support Devices", split)]
    return [p for p in picks if p is not None] + [_miss(lm, root, split)]


def _most(rows: pd.DataFrame, labels, probs, role: str, name: str, split: str) -> Pick | None:
    """The ``name``-positive row the model gives the highest probability of ``name`` (None:
    no such row, and the tour goes without this role)."""
    mask = rows[name].astype(float).to_numpy() == 1.0 if name in rows else np.zeros(len(rows), bool)
    if not mask.any():
        return None
    p = np.where(mask, _prob_of(labels, probs, name), -1.0)
    i = int(np.argmax(p))
    row = rows.iloc[i]
    return Pick(role, row["id"], default_prompt(row),
                f"zero-shot P({name}) {p[i]:.3f}, the highest of {int(mask.sum())} {split} "
                f"cases with gaze labelled {name}")


def _miss(lm, root: Path, split: str) -> Pick:
    """The (case, finding) among positive findings of ``split`` the model scores lowest."""
    from eclip.data.manifest import read_manifest

    df = read_manifest(root)
    rows = df[df["split"].astype(str) == split]
    labels, probs = probabilities(lm, root, rows)
    best = (np.inf, None, None)
    for j, lab in enumerate(labels):
        if lab.name == "No Finding":
            continue
        pos = rows[[c for c in lab.labels if c in rows]].astype(float).eq(1.0).any(axis=1).to_numpy()
        p = np.where(pos, probs[:, j], np.inf)
        i = int(np.argmin(p))
        if p[i] < best[0]:
            best = (float(p[i]), i, lab.name)
    p, i, name = best
    if i is None:
        raise EvaluationError(f"No '{split}' case has a positive finding.")
    return Pick("miss", rows["id"].iloc[i], f"{name}.",
                f"labelled {name}, zero-shot P({name}) {p:.3f}: the lowest over every positive "
                f"finding of the {len(rows)} {split} cases")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eclip.explain.tour", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--compare", default=None)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    args = ap.parse_args(argv)
    return run_command(lambda: _print_tour(args))


def _print_tour(args: argparse.Namespace) -> int:
    from eclip.model import load_model

    other = load_model(args.compare) if args.compare else None
    for pick in pick_tour(load_model(args.checkpoint), other, args.data, args.split):
        print(f"{pick.role:7s} {pick.case}  prompt {pick.prompt!r}\n        {pick.why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
