"""``python -m eclip.data label DIR``: fill the 14 CheXpert label columns from report text.

Real source tables often come without labels, and a folder whose labels are all blank gives
zero-shot accuracy, the linear probe and the label filters nothing to work with. This runs
the report labeller (``eclip.data.labeller``) over each row's findings + impression.

By default only rows whose labels are all blank are filled, so labels a dataset shipped with
(MIMIC's CheXpert table, Open-I's MeSH) are never replaced; ``--overwrite`` relabels every
row that has text. Filled rows get ``label_source = report-text`` so their origin stays
visible. The manifest is rewritten atomically under the import lock (never beside a running
import); its fingerprint changes, so embedding indexes of the folder are rebuilt, not reused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.importers.journal import ImportLock
from eclip.data.labeller import labels_from_text
from eclip.data.manifest import LABELS, read_manifest, write_manifest

log = logging.getLogger(__name__)

SOURCE_COLUMN = "label_source"
FROM_TEXT = "report-text"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "label", help="fill the CheXpert label columns of a dataset from its report text",
        description=__doc__,
    )
    p.add_argument("dir", type=Path, help="dataset folder holding manifest.csv")
    p.add_argument("--overwrite", action="store_true",
                   help="relabel every row with text (default: only rows whose labels are all blank)")
    p.set_defaults(func=_run)


@dataclass
class LabelCounts:
    rows: int = 0
    labelled: int = 0
    kept: int = 0  # had labels already (and no --overwrite)
    no_text: int = 0

    def line(self) -> str:
        return (f"labelled {self.labelled} of {self.rows} row(s) from report text; "
                f"{self.kept} kept their labels, {self.no_text} have no text")


def _run(args) -> int:
    counts = label_dataset(args.dir, overwrite=args.overwrite)
    print(counts.line())
    return 0


def label_dataset(root: str | Path, *, overwrite: bool = False) -> LabelCounts:
    """Label the rows of ``root/manifest.csv`` in place (see module docstring)."""
    root = Path(root)
    with ImportLock(root):
        df = read_manifest(root)
        df, counts = label_frame(df, overwrite=overwrite)
        if counts.labelled:
            write_manifest(df, root)
    log.info("%s", counts.line())
    return counts


def label_frame(df: pd.DataFrame, *, overwrite: bool = False) -> tuple[pd.DataFrame, LabelCounts]:
    """A copy of ``df`` with labels from text where due, and what was done."""
    df = df.copy()
    for lab in LABELS:
        if lab not in df.columns:
            df[lab] = np.nan
    if SOURCE_COLUMN not in df.columns:
        df[SOURCE_COLUMN] = ""
    counts = LabelCounts(rows=len(df))
    blank = df[list(LABELS)].isna().all(axis=1).to_numpy()
    for pos, (findings, impression) in enumerate(zip(df["findings"], df["impression"])):
        if not (str(findings).strip() or str(impression).strip()):
            counts.no_text += 1
        elif not (overwrite or blank[pos]):
            counts.kept += 1
        else:
            _fill(df, pos, labels_from_text(str(findings), str(impression)))
            counts.labelled += 1
    return df, counts


def _fill(df: pd.DataFrame, pos: int, labels: dict[str, float]) -> None:
    for lab, value in labels.items():
        df.iat[pos, df.columns.get_loc(lab)] = value
    df.iat[pos, df.columns.get_loc(SOURCE_COLUMN)] = FROM_TEXT
