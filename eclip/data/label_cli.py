"""``python -m eclip.data label DIR``: fill the 14 CheXpert label columns from report text.

Real source tables often come without labels, and a folder whose labels are all blank gives
zero-shot accuracy, the linear probe and the label filters nothing to work with. This runs
the report labeller (``eclip.data.labeller``) over each row's findings + impression.

By default only rows whose labels are all blank are filled, so labels a dataset shipped with
(MIMIC's CheXpert table, Open-I's MeSH) are never replaced; ``--overwrite`` relabels every
row that has text. Filled rows get ``label_source = report-text`` so their origin stays
visible. The manifest is rewritten atomically under the import lock (never beside a running
import); its fingerprint changes, so embedding indexes of the folder are rebuilt, not reused.

It then says how much it could label: per label, how many rows came out positive, negative
and uncertain, and how many rows named any finding at all (a row that names none is "No
Finding" only by default). When the texts do not read like radiology reports
(``eclip.data.labeller.radiology_share`` below 0.5) it warns that the labels cannot be trusted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.importers.journal import ImportLock
from eclip.data.labeller import labels_from_text, not_radiology_warning
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
    named_a_finding: int = 0  # labelled rows whose text names at least one finding
    values: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> {"1", "0", "-1"}: rows
    warning: str = ""  # the texts do not read like radiology reports (see not_radiology_warning)

    def line(self) -> str:
        return (f"labelled {self.labelled} of {self.rows} row(s) from report text; "
                f"{self.kept} kept their labels, {self.no_text} have no text")

    def lines(self) -> list[str]:
        """The summary line, how much could be labelled, and the warning if any."""
        out = [self.line()]
        if not self.labelled:
            return out
        rest = self.labelled - self.named_a_finding
        out.append(f"rows naming any finding: {self.named_a_finding} of {self.labelled} "
                   f"({self.named_a_finding / self.labelled:.0%}); the other {rest} are No Finding "
                   "only because their text names none")
        out.append(f"{'label':28s} {'1':>6s} {'0':>6s} {'-1':>6s}")
        for lab in LABELS:
            c = self.values.get(lab, {})
            out.append(f"{lab:28s} {c.get('1', 0):6d} {c.get('0', 0):6d} {c.get('-1', 0):6d}")
        if self.warning:
            out.append(f"WARNING: {self.warning}")
        return out


def _run(args) -> int:
    counts = label_dataset(args.dir, overwrite=args.overwrite)
    print("\n".join(counts.lines()))
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
    if counts.warning:
        log.warning("%s: %s", root, counts.warning)
    return counts


def label_frame(df: pd.DataFrame, *, overwrite: bool = False) -> tuple[pd.DataFrame, LabelCounts]:
    """A copy of ``df`` with labels from text where due, and what was done."""
    df = df.copy()
    for lab in LABELS:
        if lab not in df.columns:
            df[lab] = np.nan
    if SOURCE_COLUMN not in df.columns:
        df[SOURCE_COLUMN] = ""
    counts = LabelCounts(rows=len(df), values={lab: {"1": 0, "0": 0, "-1": 0} for lab in LABELS})
    blank = df[list(LABELS)].isna().all(axis=1).to_numpy()
    texts = []
    for pos, (findings, impression) in enumerate(zip(df["findings"], df["impression"])):
        if not (str(findings).strip() or str(impression).strip()):
            counts.no_text += 1
        elif not (overwrite or blank[pos]):
            counts.kept += 1
        else:
            labels = labels_from_text(str(findings), str(impression))
            _fill(df, pos, labels)
            counts.labelled += 1
            counts.named_a_finding += any(not np.isnan(v) for lab, v in labels.items() if lab != "No Finding")
            for lab, v in labels.items():
                if not np.isnan(v):
                    counts.values[lab][str(int(v))] += 1
            texts.append(f"{findings}\n{impression}")
    counts.warning = not_radiology_warning(texts)
    return df, counts


def _fill(df: pd.DataFrame, pos: int, labels: dict[str, float]) -> None:
    for lab, value in labels.items():
        df.iat[pos, df.columns.get_loc(lab)] = value
    df.iat[pos, df.columns.get_loc(SOURCE_COLUMN)] = FROM_TEXT
