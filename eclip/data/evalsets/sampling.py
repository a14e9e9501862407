"""What every evaluation set shares: the seeded draw, the single-positive rule, the row."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from eclip.data.importers.tables import parse_label
from eclip.data.manifest import LABELS
from eclip.errors import ImportFailed
from eclip.io import sha256_text

COMPETITION = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
OBSERVATIONS = tuple(lab for lab in LABELS if lab != "No Finding")


def draw(keys: Sequence[str], n: int | None, seed: int, stratum: str) -> list[str]:
    """``n`` of ``keys`` (all when None), ranked by sha256(seed, stratum, key): the same keys
    come out whatever their order, and adding rows to the source only adds candidates."""
    ranked = sorted(set(keys), key=lambda k: sha256_text(f"{seed}:{stratum}:{k}", 32))
    return ranked if n is None else ranked[:n]


def single_positive(table: pd.DataFrame, cls: str, observations=OBSERVATIONS) -> pd.Series:
    """GLoRIA's 5x200 rule on CheXpert-style label text ('1.0', '0.0', '-1.0', ''): ``cls`` is
    1 and every other observation is 0 or blank (blank read as 0, so -1 excludes)."""
    ok = _value(table[cls]) == 1.0
    for other in observations:
        if other != cls:
            ok &= _value(table[other]).isin([0.0])
    return ok


def _value(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col.replace("", "0"), errors="coerce")


def check_counts(counts: dict[str, int], n: int | None, name: str, hint: str) -> None:
    """Stop before anything is written when a class has fewer candidates than asked for."""
    short = {c: k for c, k in counts.items() if n is not None and k < n}
    if short:
        raise ImportFailed(f"{name}: too few candidates for {n} per class: {short} (all: {counts}). "
                           f"{hint}")


def eval_row(name: str, cls: str, labels: dict[str, float], patient_key: str, *, view: str = "",
             findings: str = "", impression: str = "") -> dict:
    """One manifest row of an evaluation set (always split 'test')."""
    row = {lab: math.nan for lab in LABELS}
    row.update(labels)
    row.update({"findings": findings, "impression": impression, "split": "test", "view": view,
                "patient_key": patient_key, "source": name, "eval_class": cls})
    return row


def chexpert_labels(rec: dict, where: str) -> dict[str, float]:
    """CheXpert-style label text of one table row -> manifest floats (blank -> NaN)."""
    return {lab: parse_label(rec[lab], f"{where}, column {lab!r}") for lab in LABELS}
