"""Where an import writes inside a dataset folder, besides manifest.csv, images/ and gaze/.

The names live apart from the code that writes each file because several modules meet in
the same place: the journal, the lock, the staging files and the patient salt share the
hidden ``.import/`` folder, and ``info`` reads the problems list the engine writes.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".import"  # journal, lock, staging files, patient salt (hidden, private)
JOURNAL = "journal.jsonl"
LOCK = "lock"
SALT_FILE = "patient_salt"
PROBLEMS = "import_problems.csv"


def state_dir(out: str | Path) -> Path:
    return Path(out) / STATE_DIR


def staging_dir(out: str | Path) -> Path:
    """Small per-image input files the engine writes before work starts (see GazeSource)."""
    return state_dir(out) / "staging"
