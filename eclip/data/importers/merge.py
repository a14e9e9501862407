"""The manifest already in the output folder, and how an import's rows join it.

Imports add to a folder rather than replace it (MIMIC first, then Open-I, then a local
set), so before anything is written the existing manifest is read and checked, and new
ids are checked against it; at the end the new rows are merged in without disturbing the
rows (or their bytes) that earlier imports wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.importers.jobs import SAFE_ID, Job, clean_row
from eclip.data.manifest import LABELS, MANIFEST, REQUIRED_COLUMNS, read_manifest
from eclip.errors import ImportFailed, ManifestError


def load_existing(out: Path) -> pd.DataFrame | None:
    """The manifest already in ``out`` (validated), or None. Refuses to touch a folder
    whose manifest is broken, rather than risk overwriting data."""
    if not (Path(out) / MANIFEST).is_file():
        return None
    try:
        return read_manifest(out)
    except ManifestError as exc:
        raise ImportFailed(
            f"{Path(out) / MANIFEST} exists but is not a valid manifest ({exc}). Nothing was "
            "written; fix or move it, or import into another --out folder."
        ) from exc


def check_collisions(jobs: Sequence[Job], existing: pd.DataFrame | None, source: str) -> None:
    ids = [j.id for j in jobs]
    bad = [i for i in ids if not SAFE_ID.match(i)]
    if bad:
        raise ImportFailed(f"id {bad[0]!r} cannot name a file (letters, digits, '._-' only).")
    dup = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dup):
        raise ImportFailed(
            f"id {dup.iloc[0]!r} would be imported twice; ids must be unique "
            "(check the source table for repeated image names)."
        )
    if existing is None or "source" not in existing.columns:
        return
    other = existing[(existing["source"] != "") & (existing["source"] != source)]
    clash = sorted(set(other["id"]) & set(ids))
    if clash:
        raise ImportFailed(
            f"{len(clash)} id(s) such as {clash[0]!r} already exist in {MANIFEST} from another "
            f"source ({other.set_index('id').loc[clash[0], 'source']!r}). Import into another "
            "--out folder (or use --id-prefix with import-folder)."
        )


def rows_by_id(existing: pd.DataFrame | None) -> dict[str, dict]:
    if existing is None:
        return {}
    return {r["id"]: clean_row(r) for r in existing.to_dict("records")}


def merge_rows(existing: pd.DataFrame | None, new_rows: list[dict]) -> pd.DataFrame:
    """Existing rows keep their order and content unless re-imported (then replaced in
    place); new ids are appended."""
    new = pd.DataFrame(new_rows)
    if existing is None or existing.empty:
        merged = new
    else:
        new_ids = set(new["id"]) if len(new) else set()
        keep = existing[~existing["id"].isin(new_ids)]
        order = list(existing["id"]) + [i for i in (new["id"] if len(new) else []) if i not in set(existing["id"])]
        merged = pd.concat([keep, new], ignore_index=True).set_index("id").loc[order].reset_index()
    for col in REQUIRED_COLUMNS:
        if col not in merged.columns:
            merged[col] = ""
    for col in LABELS:  # every label column, blank when the source has no such label
        merged[col] = pd.to_numeric(merged[col], errors="coerce") if col in merged.columns else np.nan
    if existing is not None and len(existing.columns):  # keep the folder's column order
        first = list(existing.columns)
    else:
        first = list(REQUIRED_COLUMNS) + list(LABELS)
    merged = merged[first + [c for c in merged.columns if c not in first]]
    text_cols = [c for c in merged.columns if c not in LABELS]
    merged[text_cols] = merged[text_cols].astype(object).where(merged[text_cols].notna(), "")
    for col in ("orig_width", "orig_height", "n_readings"):
        if col in merged.columns:
            merged[col] = merged[col].map(_int_text)
    return merged


def _int_text(v) -> str:
    if v is None or v == "":
        return ""
    try:
        return str(int(float(v)))
    except (TypeError, ValueError):
        return str(v)
