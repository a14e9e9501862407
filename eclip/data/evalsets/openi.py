"""openi-retrieval from the Open-I collection (rule: package docstring), reusing import-openi."""

from __future__ import annotations

from pathlib import Path

from eclip.data.importers import openi as importer
from eclip.data.importers.jobs import Job, Problem

NAME = "openi-retrieval"
KAGGLE_REPORTS, KAGGLE_PROJECTIONS = "indiana_reports.csv", "indiana_projections.csv"


def build_jobs(root: Path, *, images: Path | None = None) -> tuple[list[Job], list[Problem]]:
    """``root`` holds the Kaggle CSV pair (images under images/images_normalized/ or
    --images), or NLMCXR XML (ecgen-radiology/ or NLMCXR_reports.tgz) with the images."""
    root = Path(root)
    images = Path(images) if images else _images(root)
    if (root / KAGGLE_REPORTS).is_file():
        jobs, problems = importer.build_jobs_kaggle(images, root / KAGGLE_REPORTS,
                                                    root / KAGGLE_PROJECTIONS, views="frontal")
    else:
        jobs, problems = importer.build_jobs_xml(images, _xml(root), views="frontal")
    kept = [j for j in jobs if j.row["findings"].strip()]
    problems += [Problem(j.id, j.source, "no findings text: left out (as the reference)")
                 for j in jobs if not j.row["findings"].strip()]
    for job in kept:
        job.row.update({"split": "test", "source": NAME, "eval_class": ""})
    return kept, problems


def _images(root: Path) -> Path:
    for cand in (root / "images" / "images_normalized", root / "images"):
        if cand.is_dir():
            return cand
    return root


def _xml(root: Path) -> Path | None:
    """The XML reports under root, or None (the copy installed with torchxrayvision)."""
    for cand in (root / "ecgen-radiology", root / "NLMCXR_reports.tgz"):
        if cand.exists():
            return cand
    return None
