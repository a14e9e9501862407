"""The dataset contract: a folder with ``manifest.csv`` plus the files it names.

One row per image. Required columns are ``REQUIRED_COLUMNS``; each CheXpert label in
``LABELS`` is a column with values 1 / 0 / -1 / empty. Paths are relative to the folder.
Images are stored at a working resolution (longer side ``WORKING_SIZE`` by default) as
8-bit grey PNG; heatmaps and finding masks are ``.npz`` files with the same height and
width as the stored image, so they align pixel for pixel.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.errors import ManifestError
from eclip.io import atomic_write_bytes, atomic_write_text, sha256_text

MANIFEST = "manifest.csv"
WORKING_SIZE = 256

REQUIRED_COLUMNS = (
    "id",
    "image_path",
    "findings",
    "impression",
    "split",
    "view",
    "gaze_path",
    "patient_key",
)
# Optional columns with a fixed meaning when present.
OPTIONAL_COLUMNS = (
    "mask_path",  # .npz with one boolean mask per finding (ground truth, demo corpus)
    "source",  # dataset the row came from: mimic, openi, folder, demo
    "simulated",  # 1 when the image and gaze are simulated (demo corpus)
    "orig_width",
    "orig_height",
    "n_readings",  # number of gaze readings averaged into the heatmap
    "non_chest",  # why the image is no chest radiograph (imported with --allow-non-chest); else empty
)

# CheXpert's 14 observations, the label space of MIMIC-CXR and of our prompts.
LABELS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
SPLITS = ("train", "validate", "test")
_LABEL_VALUES = {1.0, 0.0, -1.0}


def manifest_path(root: str | os.PathLike) -> Path:
    return Path(root) / MANIFEST


def label_columns(df: pd.DataFrame) -> list[str]:
    """The label columns present in ``df``, in canonical order."""
    return [c for c in LABELS if c in df.columns]


def read_manifest(root: str | os.PathLike, check_files: bool = False) -> pd.DataFrame:
    """Read and validate ``root/manifest.csv``.

    Text columns come back as str ('' for missing); label columns as float (NaN = not
    mentioned). Raises ``ManifestError`` naming the problem and the file.
    """
    path = manifest_path(root)
    if not path.is_file():
        raise ManifestError(
            f"{path} not found: a dataset folder needs a manifest.csv. "
            "Create one with `python -m eclip.data import-... --out DIR` or `build-demo`."
        )
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for broken CSVs
        raise ManifestError(f"{path} is not a readable CSV file: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(
            f"{path} lacks required column(s) {missing}; found {list(df.columns)}. "
            f"Required: {list(REQUIRED_COLUMNS)}."
        )
    if df["id"].duplicated().any():
        dup = df.loc[df["id"].duplicated(), "id"].iloc[0]
        raise ManifestError(f"{path}: id {dup!r} appears more than once; ids must be unique.")
    for col in label_columns(df):
        df[col] = _parse_labels(df[col], col, path)
    if check_files:
        problems = find_missing_files(root, df)
        if problems:
            raise ManifestError(
                f"{path}: {len(problems)} referenced file(s) missing, e.g. {problems[:3]}"
            )
    return df


def _parse_labels(col: pd.Series, name: str, path: Path) -> pd.Series:
    values = pd.to_numeric(col.replace("", np.nan), errors="coerce")
    bad = values.notna() & ~values.isin(list(_LABEL_VALUES))
    bad |= values.isna() & (col != "")
    if bad.any():
        raise ManifestError(
            f"{path}: label column {name!r} has value {col[bad].iloc[0]!r}; "
            "expected 1, 0, -1 or empty."
        )
    return values.astype(float)


def find_missing_files(root: str | os.PathLike, df: pd.DataFrame) -> list[str]:
    root = Path(root)
    missing = []
    for col in ("image_path", "gaze_path", "mask_path"):
        if col not in df.columns:
            continue
        for rel in df[col]:
            if rel and not (root / rel).is_file():
                missing.append(rel)
    return missing


def write_manifest(df: pd.DataFrame, root: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a kill never leaves a half manifest."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"refusing to write a manifest without column(s) {missing}")
    ordered = list(REQUIRED_COLUMNS) + [c for c in df.columns if c not in REQUIRED_COLUMNS]
    out = df[ordered].copy()
    for col in label_columns(out):
        out[col] = out[col].map(_format_label)
    target = manifest_path(root)
    atomic_write_text(target, out.to_csv(index=False, lineterminator="\n"))
    return target


def _format_label(v) -> str:
    if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(int(float(v)))


def fingerprint(root: str | os.PathLike) -> str:
    """A short content hash of the manifest: identifies the data a model/index saw."""
    return sha256_text(manifest_path(root).read_bytes(), 16)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed ``.npz`` (readable by ``np.load``) whose bytes depend only on the arrays.

    ``np.savez_compressed`` stamps the current time into each zip entry, so two identical
    builds would differ; every entry here gets a fixed date.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = io.BytesIO()
            np.lib.format.write_array(data, np.asanyarray(arr), allow_pickle=False)
            zf.writestr(info, data.getvalue())
    return buf.getvalue()


def save_array_npz(path: str | os.PathLike, durable: bool = True, **arrays: np.ndarray) -> None:
    """Deterministic compressed .npz written atomically (heatmaps and masks)."""
    atomic_write_bytes(Path(path), npz_bytes(**arrays), durable=durable)
