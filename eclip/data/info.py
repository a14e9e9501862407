"""``info DIR``: what a dataset folder holds and what is wrong with it.

Counts rows per split, label value (1 / 0 / -1 / blank), view, source and gaze presence,
and looks for problems: missing required columns, duplicate ids, unknown splits, label
values outside 1/0/-1/blank, files named in the manifest that do not exist, and heatmaps
or masks whose shape differs from their stored image. Exit status 1 when problems exist,
so scripts can gate on it; ``--json`` prints the same report for machines.

Warnings do not fail the check but are said beside "no problems found": a patient whose
images sit in more than one split (a model can then be tested on a patient it trained on),
rows without report text, images imported with ``--allow-non-chest``, the last import's
skipped images, and a patient salt kept inside the folder (imports before it moved out).

The manifest is read raw here (not through ``read_manifest``, which stops at the first
problem) so that one run lists every problem.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.importers.layout import PROBLEMS
from eclip.data.importers.patients import legacy_salt_file
from eclip.data.manifest import LABELS, MANIFEST, REQUIRED_COLUMNS, SPLITS
from eclip.errors import ManifestError

log = logging.getLogger(__name__)

N_EXAMPLES = 5


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="counts and problems of a dataset folder (exit 1 if problems)",
        description=__doc__,
    )
    p.add_argument("dir", type=Path, help="dataset folder holding manifest.csv")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-shape-check", action="store_true",
                   help="skip opening heatmaps/masks to compare shapes (faster)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    result = inspect_dataset(args.dir, check_shapes=not args.no_shape_check)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 1 if result["problems"] else 0


def _read_raw(root: Path) -> pd.DataFrame:
    path = root / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} not found: {root} is not a dataset folder "
                            "(create one with `python -m eclip.data import-...` or `build-demo`).")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for broken CSVs
        raise ManifestError(f"{path} is not a readable CSV file: {exc}") from exc


def inspect_dataset(root, check_shapes: bool = True) -> dict:
    """The report as a JSON-ready dict: counts plus a list of problems, each
    {kind, count, examples}. Warnings (not problems) do not fail the check."""
    root = Path(root)
    df = _read_raw(root)
    problems: list[dict] = []
    warnings: list[dict] = []

    def add(target, kind, items, note=""):
        items = list(items)
        if items:
            entry = {"kind": kind, "count": len(items), "examples": [str(i) for i in items[:N_EXAMPLES]]}
            if note:
                entry["note"] = note
            target.append(entry)

    missing_cols = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    add(problems, "missing_columns", missing_cols, f"required: {list(REQUIRED_COLUMNS)}")
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            df[col] = ""

    add(problems, "duplicate_ids", sorted(set(df.loc[df["id"].duplicated(), "id"])))
    add(problems, "empty_ids", df.index[df["id"].str.strip() == ""].map(lambda i: f"row {i + 2}"))
    add(problems, "unknown_splits", [f"{i}: {s!r}" for i, s in zip(df["id"], df["split"])
                                     if s not in SPLITS], f"allowed: {list(SPLITS)}")
    label_counts, bad = _labels(df)
    add(problems, "bad_label_values", bad, "allowed: 1, 0, -1 or empty")
    add(problems, "missing_image_files", _missing(root, df, "image_path", required=True))
    add(problems, "missing_gaze_files", _missing(root, df, "gaze_path"))
    if "mask_path" in df.columns:
        add(problems, "missing_mask_files", _missing(root, df, "mask_path"))
    if check_shapes:
        mismatch, unreadable = _shape_problems(root, df)
        add(problems, "heatmap_or_mask_shape_mismatch", mismatch, "must equal the stored image's HxW")
        add(problems, "unreadable_files", unreadable)
    no_text = df["id"][(df["findings"].str.strip() == "") & (df["impression"].str.strip() == "")]
    add(warnings, "rows_without_report_text", no_text)
    add(warnings, "patients_in_several_splits", _patients_across_splits(df),
        "the images of one patient should share a split: a model can be tested on a patient it "
        "was trained on")
    if "non_chest" in df.columns:
        add(warnings, "non_chest_images", [f"{i}: {why}" for i, why in zip(df["id"], df["non_chest"])
                                           if why.strip()], "imported with --allow-non-chest")
    if legacy_salt_file(root).is_file():
        add(warnings, "patient_salt_inside_folder", [str(legacy_salt_file(root))],
            "whoever gets a copy of this folder with that file can recover small patient ids from "
            "patient_key: delete the file before sharing (later imports then use your own salt, "
            "and a returning patient gets a new key)")
    if (root / PROBLEMS).is_file():
        add(warnings, "import_problems", _import_problems(root / PROBLEMS), f"see {root / PROBLEMS}")

    has_gaze = df["gaze_path"].str.strip() != ""
    return {
        "root": str(root),
        "rows": int(len(df)),
        "splits": _counts(df["split"]),
        "views": _counts(df["view"]),
        "sources": _counts(df["source"]) if "source" in df.columns else {},
        "gaze": {"with": int(has_gaze.sum()), "without": int((~has_gaze).sum())},
        "labels": label_counts,
        "problems": problems,
        "warnings": warnings,
    }


def _patients_across_splits(df: pd.DataFrame) -> list[str]:
    """'pk…: train 2, test 1' for each patient key whose images sit in more than one split."""
    keyed = df[(df["patient_key"].str.strip() != "") & df["split"].isin(SPLITS)]
    out = []
    for key, splits in keyed.groupby("patient_key", sort=True)["split"]:
        counts = Counter(splits)
        if len(counts) > 1:
            out.append(f"{key}: " + ", ".join(f"{s} {counts[s]}" for s in SPLITS if s in counts))
    return out


def _import_problems(path: Path) -> list[str]:
    """Images the last import skipped (written by the import engine)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        return [f"{r['id']}: {r['problem']}" for r in df.to_dict("records")]
    except Exception as exc:  # a hand-edited file must not break `info`
        return [f"{path} unreadable ({exc})"]


def _counts(col: pd.Series) -> dict[str, int]:
    return {(k if k != "" else "(blank)"): int(v) for k, v in Counter(col).most_common()}


def _labels(df: pd.DataFrame) -> tuple[dict, list[str]]:
    counts, bad = {}, []
    for lab in LABELS:
        if lab not in df.columns:
            continue
        c = {"1": 0, "0": 0, "-1": 0, "blank": 0}
        for rid, v in zip(df["id"], df[lab]):
            key = _label_key(v)
            if key is None:
                bad.append(f"{rid}: {lab}={v!r}")
            else:
                c[key] += 1
        counts[lab] = c
    return counts, bad


def _label_key(v: str) -> str | None:
    v = v.strip()
    if v == "":
        return "blank"
    try:
        num = float(v)
    except ValueError:
        return None
    return {1.0: "1", 0.0: "0", -1.0: "-1"}.get(num)


def _missing(root: Path, df: pd.DataFrame, col: str, required: bool = False) -> list[str]:
    out = []
    for rid, rel in zip(df["id"], df[col]):
        rel = rel.strip()
        if (rel or required) and not (rel and (root / rel).is_file()):
            out.append(f"{rid}: {rel or '(empty)'}")
    return out


def _shape_problems(root: Path, df: pd.DataFrame) -> tuple[list[str], list[str]]:
    from PIL import Image

    mismatch, unreadable = [], []
    extra = ["mask_path"] if "mask_path" in df.columns else []
    for rec in df[["id", "image_path", "gaze_path", *extra]].to_dict("records"):
        rels = [rec[c].strip() for c in ["gaze_path", *extra] if rec[c].strip()]
        rels = [r for r in rels if (root / r).is_file()]
        img = root / rec["image_path"].strip()
        if not rels or not rec["image_path"].strip() or not img.is_file():
            continue
        try:
            with Image.open(img) as im:  # header only
                w, h = im.size
        except Exception as exc:  # any decoder failure = unreadable file
            unreadable.append(f"{rec['id']}: {rec['image_path']} ({exc})")
            continue
        for rel in rels:
            try:
                shapes = _npz_shapes(root / rel)
            except Exception as exc:
                unreadable.append(f"{rec['id']}: {rel} ({exc})")
                continue
            wrong = {k: s for k, s in shapes.items() if s != (h, w)}
            if wrong:
                mismatch.append(f"{rec['id']}: {rel} {wrong} vs image {(h, w)}")
    return mismatch, unreadable


def _npz_shapes(path: Path) -> dict[str, tuple]:
    with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
        return {k: tuple(data[k].shape) for k in data.files}


def format_report(r: dict) -> str:
    lines = [f"dataset {r['root']}: {r['rows']} rows",
             "splits: " + _inline(r["splits"]),
             "views: " + _inline(r["views"]),
             f"gaze: {r['gaze']['with']} with, {r['gaze']['without']} without"]
    if r["sources"]:
        lines.append("sources: " + _inline(r["sources"]))
    if r["labels"]:
        lines.append(f"{'label':28s} {'1':>7s} {'0':>7s} {'-1':>7s} {'blank':>7s}")
        for lab, c in r["labels"].items():
            lines.append(f"{lab:28s} {c['1']:7d} {c['0']:7d} {c['-1']:7d} {c['blank']:7d}")
    for title, items in (("PROBLEMS", r["problems"]), ("warnings", r["warnings"])):
        if items:
            lines.append(f"{title}:")
            for p in items:
                note = f" ({p['note']})" if p.get("note") else ""
                lines.append(f"  {p['kind']}: {p['count']}{note}; e.g. " + "; ".join(p["examples"]))
    if not r["problems"]:
        n = len(r["warnings"])
        lines.append("no problems found" + (f"; {n} kind(s) of warning above" if n else ""))
    return "\n".join(lines)


def _inline(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) or "-"
