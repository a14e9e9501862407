"""rsna-pneumonia from the RSNA Pneumonia Detection Challenge files (rule: package docstring)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eclip.data.evalsets.sampling import draw, eval_row
from eclip.data.importers.jobs import Job, safe_id
from eclip.data.importers.tables import read_table

NAME = "rsna-pneumonia"
LABELS_CSV = "stage_2_train_labels.csv"
COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
IMAGES = "stage_2_train_images"


def build_jobs(root: Path, hasher, *, per_class: int | None = None, seed: int = 0) -> list[Job]:
    """GLoRIA's test split (15 %); ``per_class`` would cap each class (default: all of it)."""
    root = Path(root)
    table = read_table(root / LABELS_CSV, COLUMNS, "RSNA labels table")
    test = gloria_test_split(per_patient(table))
    jobs = []
    for target, cls in ((0, "No Pneumonia"), (1, "Pneumonia")):
        ids = test.loc[test["Target"] == target, "patientId"].tolist()
        for pid in sorted(draw(ids, per_class, seed, f"{NAME}:{cls}")) if per_class else ids:
            labels = {"Pneumonia": float(target), **({"Lung Opacity": 1.0} if target else {})}
            row = eval_row(NAME, cls, labels, hasher(pid), view="")
            jobs.append(Job(safe_id(pid), str(root / IMAGES / f"{pid}.dcm"), row))
    return jobs


def per_patient(table: pd.DataFrame) -> pd.DataFrame:
    """One row per patientId (the table has one per box), sorted as ``groupby`` sorts, with
    Target 1 when any of its rows is 1."""
    target = pd.to_numeric(table["Target"], errors="coerce").fillna(0).astype(int)
    return (table.assign(Target=target).groupby("patientId", sort=True)["Target"].max()
            .reset_index())


def gloria_test_split(patients: pd.DataFrame) -> pd.DataFrame:
    """GLoRIA's ``preprocess_pneumonia_data``: 30 % held out with random_state 0, then its
    first half (random_state 0 again) is the test set."""
    from sklearn.model_selection import train_test_split

    _, held_out = train_test_split(patients, test_size=0.3, random_state=0)
    test, _valid = train_test_split(held_out, test_size=0.5, random_state=0)
    return test
