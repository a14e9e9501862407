"""Reading the source tables an importer starts from, and checking them before any work.

Every importer reads CSVs it did not write (PhysioNet tables, Kaggle exports, a user's own
spreadsheet). A wrong file must stop the import with a message naming the file, the
missing column or the bad value, before anything is written, so the checks live here once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from eclip.errors import ImportFailed


def find_table(folder: Path, name: str) -> Path:
    """``folder/name`` or its ``.gz`` twin (MIMIC ships gzipped tables)."""
    for cand in (folder / name, folder / f"{name}.gz"):
        if cand.is_file():
            return cand
    raise ImportFailed(
        f"{folder / name} not found (nor {name}.gz). Point the option at the folder that "
        f"holds {name}."
    )


def read_table(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV as strings ('' for blanks) and insist on ``required`` columns."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{what}: file {path} not found.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for broken CSVs
        raise ImportFailed(f"{what}: {path} is not a readable CSV file ({exc}).") from exc
    check_columns(df, required, path, what)
    return df


def check_columns(df: pd.DataFrame, required: Sequence[str], path: Path, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ImportFailed(
            f"{what}: {path} lacks column(s) {missing}. Expected at least {list(required)}; "
            f"found {list(df.columns)}. Is this the right file?"
        )


def parse_label(value, where: str) -> float:
    """1 / 0 / -1 / blank (also 1.0, -1.0 ...) -> float or NaN; anything else is fatal."""
    text = str(value).strip() if value is not None else ""
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        num = float(text)
    except ValueError:
        num = None
    if num not in (1.0, 0.0, -1.0):
        raise ImportFailed(f"{where}: label value {value!r} is not 1, 0, -1 or blank.")
    return num
