"""chexpert-5x200 from CheXpert's ``train.csv`` (rule: see the package docstring)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eclip.data.evalsets.sampling import (COMPETITION, chexpert_labels, check_counts, draw,
                                          eval_row, single_positive)
from eclip.data.importers.jobs import Job, safe_id
from eclip.data.importers.tables import read_table
from eclip.data.manifest import LABELS

NAME = "chexpert-5x200"
COLUMNS = ("Path", "Frontal/Lateral", "AP/PA", *LABELS)


def build_jobs(root: Path, hasher, *, per_class: int | None = 200, seed: int = 0) -> list[Job]:
    """``root`` is the folder holding train.csv (CheXpert-v1.0 or CheXpert-v1.0-small)."""
    root = Path(root)
    table = read_table(root / "train.csv", COLUMNS, "CheXpert train.csv")
    table = table[table["Frontal/Lateral"].str.strip() == "Frontal"]
    picked = pick(table, per_class, seed)
    jobs = []
    for cls, frame in picked.items():
        for rec in frame.to_dict("records"):
            rel = rec["Path"].strip()
            row = eval_row(NAME, cls, chexpert_labels(rec, f"train.csv {rel}"),
                           hasher(patient_of(rel)), view=rec["AP/PA"].strip().upper())
            jobs.append(Job(image_id(rel), str(image_path(root, rel)), row))
    return jobs


def pick(table: pd.DataFrame, per_class: int | None, seed: int, name: str = NAME, key: str = "Path",
         hint: str = "Check the table, or pass a smaller --per-class.") -> dict[str, pd.DataFrame]:
    """Class -> its drawn rows, for the five competition classes (``hint``: what to do when a
    class has too few candidates)."""
    candidates = {cls: table[single_positive(table, cls)] for cls in COMPETITION}
    check_counts({c: len(f) for c, f in candidates.items()}, per_class, name, hint)
    out = {}
    for cls, frame in candidates.items():
        keys = set(draw(frame[key].tolist(), per_class, seed, f"{name}:{cls}"))
        out[cls] = frame[frame[key].isin(keys)].sort_values(key)
    return out


def image_path(root: Path, rel: str) -> Path:
    """train.csv paths start with the dataset folder's own name
    ('CheXpert-v1.0-small/train/patient00001/...'), so they resolve from root's parent."""
    parts = Path(rel).parts
    if parts and parts[0] == root.name:
        return root.joinpath(*parts[1:])
    for cand in (root / rel, root.parent / rel):
        if cand.is_file():
            return cand
    return root.joinpath(*parts[1:]) if len(parts) > 1 else root / rel


def image_id(rel: str) -> str:
    """'CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg' ->
    'patient00001_study1_view1_frontal'."""
    parts = Path(rel).with_suffix("").parts
    return safe_id("_".join(parts[-3:]))


def patient_of(rel: str) -> str:
    return next((p for p in Path(rel).parts if p.startswith("patient")), rel)
