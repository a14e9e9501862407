"""The job model: what an importer asks the engine to do, and what came of it.

An importer (mimic, openi, folder) only reads its source tables and describes each image as
a ``Job``; the engine, the workers and the journal all work from these records. Keeping
them in one small module (no I/O beyond stat) lets every side agree on them, including
``Job.signature``, which decides whether a rerun redoes an image or skips it.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from eclip.data.importers.layout import PROBLEMS
from eclip.data.manifest import WORKING_SIZE
from eclip.io import sha256_text

# An id names its files (images/<id>.png, gaze/<id>.npz), so it must be a safe file name.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def safe_id(text: str) -> str:
    """A string usable as an id and a file name (images/<id>.png)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text).strip()).strip("._-")
    return out[:200] or "x"


@dataclass(frozen=True)
class GazeSource:
    """One gaze reading of an image. kind 'egd': ``path`` is a fixations CSV in EGD-CXR
    columns (the rows of this dicom_id) with the image's padding; kind 'reflacx': ``path``
    is one reading's fixations.csv."""

    kind: str
    path: str
    dicom_id: str = ""
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    text: str = ""  # when set: content the engine writes to ``path`` before work starts

    def stamp(self) -> str:
        if self.text:
            return sha256_text(self.text, 16)
        return _file_stamp(self.path)


@dataclass
class Job:
    """One image to import. ``row`` holds the manifest fields the importer knows (text,
    split, view, labels...); the engine adds image_path, gaze_path, sizes, n_readings."""

    id: str
    source: str
    row: dict
    gaze: tuple[GazeSource, ...] = ()
    native_shape: tuple[int, int] | None = None  # (h, w) of the grid gaze coordinates use
    regions: tuple = ()  # eclip.data.gaze.regions.Shape: annotated findings / anatomy (native px)
    allow_non_chest: bool = False  # --allow-non-chest: import (flagged) what eclip.data.radiograph refuses

    def signature(self) -> str:
        """Changes when anything that shapes this image's output changes (so a rerun with,
        say, --egd added redoes the image instead of skipping it)."""
        gaze_desc = [(g.kind, g.path, g.dicom_id, g.padding, g.stamp()) for g in self.gaze]
        blob = json.dumps(
            [self.source, _file_stamp(self.source), clean_row(self.row), gaze_desc,
             self.native_shape, WORKING_SIZE, *([list(self.regions)] if self.regions else []),
             *(["allow-non-chest"] if self.allow_non_chest else [])],
            sort_keys=True, default=str,
        )
        return sha256_text(blob, 20)


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}"


def clean_row(row: dict) -> dict:
    """JSON-safe copy: NaN -> None."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


@dataclass
class Problem:
    id: str
    path: str
    problem: str


@dataclass
class ImportSummary:
    out: Path
    planned: int = 0
    imported: int = 0
    skipped_done: int = 0
    failed: int = 0
    with_gaze: int = 0
    total_rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"output: {self.out}",
            f"planned {self.planned}, imported {self.imported}, already done {self.skipped_done}, "
            f"failed {self.failed}, with gaze {self.with_gaze}",
            f"manifest rows now: {self.total_rows}",
        ]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s) listed in {self.out / PROBLEMS}")
        return out
