"""cxr14-14x100 from NIH ChestX-ray14's ``Data_Entry_2017.csv`` (rule: package docstring)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from eclip.data.evalsets.sampling import check_counts, draw, eval_row
from eclip.data.importers.jobs import Job, safe_id
from eclip.data.importers.tables import read_table
from eclip.data.manifest import LABELS
from eclip.errors import ImportFailed

log = logging.getLogger(__name__)

NAME = "cxr14-14x100"
TABLES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
COLUMNS = ("Image Index", "Finding Labels", "Patient ID", "View Position")
# The reference's CXR14x100_LABELS (Hernia left out), NIH name -> manifest column(s) set to 1.
CLASSES = {
    "No Finding": ("No Finding",), "Atelectasis": ("Atelectasis",),
    "Cardiomegaly": ("Cardiomegaly",), "Effusion": ("Pleural Effusion",),
    "Infiltration": ("Infiltration", "Lung Opacity"), "Mass": ("Mass", "Lung Lesion"),
    "Nodule": ("Nodule", "Lung Lesion"), "Pneumonia": ("Pneumonia",),
    "Pneumothorax": ("Pneumothorax",), "Consolidation": ("Consolidation",), "Edema": ("Edema",),
    "Emphysema": ("Emphysema",), "Fibrosis": ("Fibrosis",),
    "Pleural_Thickening": ("Pleural Thickening", "Pleural Other"),
}
COLUMNS_SET = sorted({c for cols in CLASSES.values() for c in cols})


def build_jobs(root: Path, hasher, *, per_class: int | None = 100, seed: int = 0) -> list[Job]:
    root = Path(root)
    table = read_table(_table(root), COLUMNS, "NIH ChestX-ray14 table")
    table = _source_split(root, table)
    single = table["Finding Labels"].str.strip()
    counts = {cls: int((single == cls).sum()) for cls in CLASSES}
    check_counts(counts, per_class, NAME, "Check the table, or pass a smaller --per-class.")
    files = _index_images(root)
    jobs = []
    for cls in CLASSES:
        names = draw(table.loc[single == cls, "Image Index"].str.strip().tolist(), per_class, seed,
                     f"{NAME}:{cls}")
        rows = table.set_index(table["Image Index"].str.strip()).loc[sorted(names)]
        for name, rec in rows.iterrows():
            row = eval_row(NAME, cls, labels_for(cls), hasher(rec["Patient ID"].strip()),
                           view=rec["View Position"].strip().upper())
            jobs.append(Job(safe_id(Path(name).stem), str(files.get(name, root / "images" / name)), row))
    return jobs


def labels_for(cls: str) -> dict[str, float]:
    """1 for the class's columns, 0 for every other column a class sets (the NIH labels are
    exhaustive over its findings); CheXpert columns NIH does not label stay blank."""
    on = set(CLASSES[cls])
    # extra columns are written as 1/0 like the label columns (ints: not parsed as labels)
    return {col: (float if col in LABELS else int)(col in on) for col in COLUMNS_SET}


def _table(root: Path) -> Path:
    for name in TABLES:
        if (root / name).is_file():
            return root / name
    raise ImportFailed(f"{root} holds none of {list(TABLES)}: --root must be the ChestX-ray14 "
                       "folder with Data_Entry_2017.csv (and images/ or images_0NN/images/).")


def _source_split(root: Path, table: pd.DataFrame) -> pd.DataFrame:
    test_list = root / "test_list.txt"
    if not test_list.is_file():
        log.warning("%s not found: drawing from every image, not the official test split", test_list)
        return table
    names = {line.strip() for line in test_list.read_text().splitlines() if line.strip()}
    return table[table["Image Index"].str.strip().isin(names)]


def _index_images(root: Path) -> dict[str, Path]:
    """File name -> path under root (images/ or the download's images_001/images/ ...)."""
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name.lower().endswith(".png"):
                found.setdefault(name, Path(dirpath) / name)
    return found

