"""What every ``import-*`` subcommand shares on the command line: options and the report.

The three importers take the same output options and end the same way, so a user sees one
set of flags and one summary format whichever dataset they import.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eclip.data.importers.jobs import ImportSummary
from eclip.data.importers.layout import PROBLEMS

log = logging.getLogger(__name__)


def add_common_args(p) -> None:
    p.add_argument("--out", required=True, type=Path,
                   help="dataset folder to create or add to (manifest.csv, images/, gaze/)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes (default: all cores)")
    p.add_argument("--limit", type=int, default=None,
                   help="import at most N images (in source order; for trials)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--allow-non-chest", action="store_true",
                   help="import DICOMs whose Modality or BodyPartExamined says they are no chest "
                        "radiograph (CT, MR, a tibia...) instead of refusing them; each is flagged "
                        "in the manifest's non_chest column. Images under 64 px a side are "
                        "refused regardless")


def report(summary: ImportSummary) -> int:
    """Print the summary; exit status 1 when images were planned but none could be
    imported (every one failed), else 0 (individual failures are listed, not fatal)."""
    for line in summary.lines():
        print(line)
    if summary.planned and not (summary.imported or summary.skipped_done):
        log.error("no image could be imported; see %s", summary.out / PROBLEMS)
        return 1
    return 0
