"""Fixation tables of REFLACX and EGD-CXR: read, check, write (see ``eclip.data.gaze`` for the conventions)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from eclip.io import atomic_write_bytes
from eclip.errors import GazeFormatError

log = logging.getLogger(__name__)


FIXATION_COLUMNS = ("x", "y", "duration", "start", "ppd_x", "ppd_y")
SHOWN_COLUMNS = ("shown_xmin", "shown_xmax", "shown_ymin", "shown_ymax")

# REFLACX main_data/<id>/fixations.csv, in file order.
REFLACX_COLUMNS = (
    "timestamp_start_fixation",
    "timestamp_end_fixation",
    "x_position",
    "y_position",
    "pupil_area_normalized",
    "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree",
    "window_width",
    "window_level",
    "xmin_shown_from_image",
    "xmax_shown_from_image",
    "ymin_shown_from_image",
    "ymax_shown_from_image",
    "xmin_in_screen_coordinates",
    "xmax_in_screen_coordinates",
    "ymin_in_screen_coordinates",
    "ymax_in_screen_coordinates",
)
# The subset the reader needs; the others are carried by real files but unused here.
REFLACX_REQUIRED = (
    "timestamp_start_fixation",
    "timestamp_end_fixation",
    "x_position",
    "y_position",
    "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree",
    "xmin_shown_from_image",
    "xmax_shown_from_image",
    "ymin_shown_from_image",
    "ymax_shown_from_image",
)

# EGD-CXR fixations.csv (also eye_gaze.csv); the first block is what we need.
EGD_COLUMNS = (
    "SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)",
    "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV",
)
EGD_REQUIRED = ("DICOM_ID", "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGV")
EGD_PAD_COLUMNS = ("image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad")
EGD_SCREEN = (1080, 1920)  # (height, width) of the EGD-CXR display, in screen pixels
EGD_SIGMA = 150.0


def _check_shape(shape, name: str) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise GazeFormatError(f"{name} must be (height, width), got {shape!r}.") from exc
    if h <= 0 or w <= 0:
        raise GazeFormatError(f"{name} must be positive, got {shape!r}.")
    return h, w


# ----------------------------------------------------------------------------- readers


def _read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise GazeFormatError(f"{path}: {what} file not found. Check the dataset path.")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise GazeFormatError(f"{path}: {what} file is empty (no header, no rows).") from exc
    except Exception as exc:  # pandas raises several types for broken CSVs
        raise GazeFormatError(f"{path}: not a readable {what} CSV file: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _require_columns(df: pd.DataFrame, required: Sequence[str], expected: Sequence[str],
                     path, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise GazeFormatError(
            f"{path}: not a {what} file: missing column(s) {missing}. "
            f"Expected columns: {list(expected)}; found: {list(df.columns)}."
        )


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)


def _apply_drops(path, what: str, n_rows: int, reasons: dict[str, np.ndarray]) -> np.ndarray:
    """Combine drop masks (first matching reason counted), log them, return the keep mask."""
    dropped = np.zeros(n_rows, dtype=bool)
    counts = {}
    for reason, mask in reasons.items():
        new = mask & ~dropped
        if new.any():
            counts[reason] = int(new.sum())
        dropped |= mask
    keep = ~dropped
    if counts:
        log.info("%s: dropped %d of %d %s rows (%s)", path, int(dropped.sum()), n_rows, what,
                 ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if not keep.any():
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no rows"
        raise GazeFormatError(
            f"{path}: no usable fixations left ({n_rows} row(s); dropped {detail}). "
            "The reading is empty or every fixation is invalid; leave it out."
        )
    return keep


def read_reflacx_fixations(csv_path: str | os.PathLike,
                           image_size: tuple[int, int] | None = None,
                           ) -> tuple[pd.DataFrame, int]:
    """Read one REFLACX reading (``main_data/<id>/fixations.csv``).

    Rows with NaNs, non-positive duration or pixels-per-degree, or a position outside the
    region shown on screen (or outside the image when ``image_size=(h, w)`` is given, e.g.
    from the metadata table's image_size_y/x) are dropped and counted.
    Returns (fixations, n_dropped); raises ``GazeFormatError`` for a missing/unreadable file,
    missing columns or a reading with no usable fixation.
    """
    df = _read_table(csv_path, "REFLACX fixations")
    _require_columns(df, REFLACX_REQUIRED, REFLACX_COLUMNS, csv_path, "REFLACX fixations.csv")
    v = {c: _numeric(df, c) for c in REFLACX_REQUIRED}
    x, y = v["x_position"], v["y_position"]
    start = v["timestamp_start_fixation"]
    duration = v["timestamp_end_fixation"] - start
    ppd_x = v["angular_resolution_x_pixels_per_degree"]
    ppd_y = v["angular_resolution_y_pixels_per_degree"]
    # Shown region in pixel indices [min, max) -> continuous [min - 0.5, max - 0.5).
    sx0, sx1 = v["xmin_shown_from_image"], v["xmax_shown_from_image"]
    sy0, sy1 = v["ymin_shown_from_image"], v["ymax_shown_from_image"]
    with np.errstate(invalid="ignore"):
        reasons = {
            "NaN/non-numeric": ~np.all(np.isfinite(np.stack(list(v.values()))), axis=0),
            "non-positive duration": ~(duration > 0),
            "non-positive pixels-per-degree": ~((ppd_x > 0) & (ppd_y > 0)),
            "outside shown region": ~((x >= sx0 - 0.5) & (x < sx1 - 0.5)
                                      & (y >= sy0 - 0.5) & (y < sy1 - 0.5)),
        }
        if image_size is not None:
            h, w = _check_shape(image_size, "image_size")
            reasons["outside image"] = ~((x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5))
    keep = _apply_drops(csv_path, "REFLACX fixation", len(df), reasons)
    fix = pd.DataFrame({
        "x": x[keep], "y": y[keep], "duration": duration[keep], "start": start[keep],
        "ppd_x": ppd_x[keep], "ppd_y": ppd_y[keep],
        "shown_xmin": sx0[keep], "shown_xmax": sx1[keep],
        "shown_ymin": sy0[keep], "shown_ymax": sy1[keep],
    })
    return fix, int((~keep).sum())


def write_reflacx_fixations(df: pd.DataFrame, path: str | os.PathLike,
                            image_size: tuple[int, int] | None = None) -> Path:
    """Write fixations as a REFLACX ``fixations.csv`` (exact column set and order), atomically.

    ``df`` is a Fixations frame. The shown region comes from its ``shown_*`` columns, else
    the whole image given by ``image_size=(h, w)``. Columns the frame cannot supply get
    neutral values: pupil area 1.0 (unless a ``pupil_area_normalized`` column is present),
    window level 0.5 / width 1.0 (the identity display), screen coordinates empty.
    """
    missing = [c for c in FIXATION_COLUMNS if c not in df.columns]
    if missing:
        raise GazeFormatError(f"cannot write {path}: fixations lack column(s) {missing}; "
                              f"expected {list(FIXATION_COLUMNS)}.")
    n = len(df)
    if all(c in df.columns for c in SHOWN_COLUMNS):
        shown = [df[c].to_numpy(dtype=float) for c in SHOWN_COLUMNS]
    elif image_size is not None:
        h, w = _check_shape(image_size, "image_size")
        shown = [np.zeros(n), np.full(n, float(w)), np.zeros(n), np.full(n, float(h))]
    else:
        raise GazeFormatError(f"cannot write {path}: give the shown region ({list(SHOWN_COLUMNS)}) "
                              "or image_size=(h, w).")
    start = df["start"].to_numpy(dtype=float)
    empty = np.full(n, np.nan)
    out = pd.DataFrame({
        "timestamp_start_fixation": start,
        "timestamp_end_fixation": start + df["duration"].to_numpy(dtype=float),
        "x_position": df["x"].to_numpy(dtype=float),
        "y_position": df["y"].to_numpy(dtype=float),
        "pupil_area_normalized": (df["pupil_area_normalized"].to_numpy(dtype=float)
                                  if "pupil_area_normalized" in df.columns else np.ones(n)),
        "angular_resolution_x_pixels_per_degree": df["ppd_x"].to_numpy(dtype=float),
        "angular_resolution_y_pixels_per_degree": df["ppd_y"].to_numpy(dtype=float),
        "window_width": np.ones(n),
        "window_level": np.full(n, 0.5),
        "xmin_shown_from_image": shown[0],
        "xmax_shown_from_image": shown[1],
        "ymin_shown_from_image": shown[2],
        "ymax_shown_from_image": shown[3],
        "xmin_in_screen_coordinates": empty,
        "xmax_in_screen_coordinates": empty,
        "ymin_in_screen_coordinates": empty,
        "ymax_in_screen_coordinates": empty,
    }, columns=list(REFLACX_COLUMNS))
    path = Path(path)
    atomic_write_bytes(path, out.to_csv(index=False, lineterminator="\n",
                                        float_format="%.10g").encode("utf-8"))
    return path


@functools.lru_cache(maxsize=4)
def _egd_table_cached(path: str, mtime_ns: int, size: int, what: str, key: str,
                      required: tuple, expected: tuple) -> tuple[pd.DataFrame, dict]:
    df = _read_table(path, what)
    _require_columns(df, required, expected, path, what)
    return df, df.groupby(df[key].astype(str)).indices


def _egd_rows(path, dicom_id: str, what: str, key: str, required, expected) -> pd.DataFrame:
    """The rows of one dicom_id. Tables are parsed and indexed once (cached on path, mtime
    and size): an importer asks for ~1,000 dicom ids of the same file."""
    p = Path(path)
    if not p.is_file():
        raise GazeFormatError(f"{p}: {what} file not found. Check the EGD-CXR folder.")
    st = p.stat()
    df, index = _egd_table_cached(str(p.resolve()), st.st_mtime_ns, st.st_size, what, key,
                                  tuple(required), tuple(expected))
    return df.iloc[index.get(str(dicom_id), [])]


def read_egd_padding(master_sheet_csv: str | os.PathLike,
                     dicom_id: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) screen padding of one image from EGD-CXR's master_sheet.csv."""
    rows = _egd_rows(master_sheet_csv, dicom_id, "EGD-CXR master_sheet", "dicom_id",
                     ("dicom_id",) + EGD_PAD_COLUMNS,
                     ("dicom_id", "path", "study_id", "patient_id") + EGD_PAD_COLUMNS)
    if rows.empty:
        raise GazeFormatError(f"{master_sheet_csv}: dicom_id {dicom_id!r} not found.")
    vals = pd.to_numeric(rows.iloc[0][list(EGD_PAD_COLUMNS)], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(vals)):
        raise GazeFormatError(f"{master_sheet_csv}: padding of {dicom_id!r} is not numeric: "
                              f"{dict(zip(EGD_PAD_COLUMNS, rows.iloc[0][list(EGD_PAD_COLUMNS)]))}.")
    return tuple(int(round(v)) for v in vals)  # type: ignore[return-value]


def _check_padding(padding, path) -> tuple[float, float, float, float]:
    try:
        top, bottom, left, right = (float(p) for p in padding)
    except (TypeError, ValueError) as exc:
        raise GazeFormatError(f"{path}: padding must be (top, bottom, left, right) numbers, "
                              f"got {padding!r}.") from exc
    sh, sw = EGD_SCREEN
    if min(top, bottom, left, right) < 0 or left + right >= sw or top + bottom >= sh:
        raise GazeFormatError(
            f"{path}: padding {padding!r} does not leave an image on a {sw}x{sh} screen "
            "(pads must be >= 0 and smaller than the screen). Use read_egd_padding()."
        )
    return top, bottom, left, right


def read_egd_fixations(fixations_csv: str | os.PathLike, dicom_id: str,
                       image_size: tuple[int, int], padding: Sequence[float],
                       ) -> tuple[pd.DataFrame, int]:
    """Fixations of one image from EGD-CXR's ``fixations.csv``, in native image pixels.

    Letterbox assumption (as in EGD-CXR's own heatmap script): the image was scaled to fill
    the 1920x1080 screen minus the master_sheet padding (in screen pixels), so the image's
    left edge is at screen x = left_pad and its right edge at 1920 - right_pad (same for y
    with top/bottom). Each axis is mapped on its own; a padding whose shown aspect ratio
    disagrees with ``image_size=(h, w)`` by more than 2 % is logged as suspicious.
    Rows with FPOGV != 1, NaNs, FPOGD <= 0 or a gaze point on the padding are dropped and
    counted. Returns (fixations, n_dropped).
    """
    rows = _egd_rows(fixations_csv, dicom_id, "EGD-CXR fixations", "DICOM_ID",
                     EGD_REQUIRED, EGD_COLUMNS)
    h, w = _check_shape(image_size, "image_size")
    top, bottom, left, right = _check_padding(padding, fixations_csv)
    if rows.empty:
        raise GazeFormatError(f"{fixations_csv}: no rows with DICOM_ID {dicom_id!r}; "
                              "is this image part of EGD-CXR?")
    sh, sw = EGD_SCREEN
    shown_w, shown_h = sw - left - right, sh - top - bottom
    if abs((shown_w / shown_h) / (w / h) - 1) > 0.02:
        log.warning("%s: padding %s gives a %.0fx%.0f screen area for a %dx%d image; "
                    "aspect ratios differ, check the padding/dicom_id", fixations_csv,
                    tuple(padding), shown_w, shown_h, w, h)
    gx, gy = _numeric(rows, "FPOGX") * sw, _numeric(rows, "FPOGY") * sh
    start, duration = _numeric(rows, "FPOGS"), _numeric(rows, "FPOGD")
    valid_flag = _numeric(rows, "FPOGV")
    with np.errstate(invalid="ignore"):
        reasons = {
            "NaN/non-numeric": ~np.all(np.isfinite([gx, gy, start, duration, valid_flag]), axis=0),
            "FPOGV invalid": valid_flag != 1,
            "non-positive duration": ~(duration > 0),
            "outside image (on padding/off screen)": ~((gx > left) & (gx < sw - right)
                                                       & (gy > top) & (gy < sh - bottom)),
        }
    keep = _apply_drops(f"{fixations_csv} [{dicom_id}]", "EGD fixation", len(rows), reasons)
    # Screen position -> continuous image coordinate with the left edge at 0 -> index coords.
    x = (gx[keep] - left) * (w / shown_w) - 0.5
    y = (gy[keep] - top) * (h / shown_h) - 0.5
    n = int(keep.sum())
    fix = pd.DataFrame({"x": x, "y": y, "duration": duration[keep], "start": start[keep],
                        "ppd_x": np.full(n, np.nan), "ppd_y": np.full(n, np.nan)})
    return fix, int((~keep).sum())
