"""mimic-5x200 from MIMIC-CXR-JPG's tables (rule: see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from eclip.data.evalsets.chexpert import pick
from eclip.data.evalsets.sampling import chexpert_labels, eval_row
from eclip.data.importers import mimic as importer
from eclip.data.importers.jobs import Job, Problem
from eclip.data.importers.tables import find_table, read_table

NAME = "mimic-5x200"


def too_few_hint(source_splits) -> str:
    """What to do when the official splits drawn from hold too few images of a class."""
    drawn = ",".join(source_splits)
    wider = "test,validate" if "validate" not in source_splits else "test,validate,train"
    return (f"Only the official {drawn!r} split(s) were drawn from: widen them with --source-splits "
            f"{wider} (a model must not have trained or selected on the images it is scored on), "
            "or pass a smaller --per-class.")


def build_jobs(root: Path, hasher, *, per_class: int | None = 200, seed: int = 0,
               source_splits=("test",), reports: Path | None = None) -> tuple[list[Job], list[Problem]]:
    root = Path(root)
    meta = read_table(find_table(root, importer.METADATA), importer.METADATA_COLS, "MIMIC metadata table")
    split = read_table(find_table(root, importer.SPLIT), importer.SPLIT_COLS, "MIMIC split table")
    chex = read_table(find_table(root, importer.CHEXPERT), importer.CHEXPERT_COLS, "MIMIC CheXpert table")
    meta = meta[meta["ViewPosition"].str.strip().str.upper().isin(importer.FRONTAL)]
    wanted = split[split["split"].str.strip().isin(source_splits)]
    images = meta.merge(wanted[["dicom_id"]], on="dicom_id").merge(
        chex.drop(columns=["subject_id"]), on="study_id")
    picked = pick(images, per_class, seed, NAME, key="dicom_id", hint=too_few_hint(source_splits))
    report_root = importer._report_root(Path(reports) if reports else root)
    jobs, problems = [], []
    for cls, frame in picked.items():
        for rec in frame.to_dict("records"):
            did, sid, stid = rec["dicom_id"], rec["subject_id"], rec["study_id"]
            image = root / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{stid}" / f"{did}.jpg"
            findings, impression, why = importer._report_text(report_root, sid, stid)
            if why:
                problems.append(Problem(did, str(image), why))
            row = eval_row(NAME, cls, chexpert_labels(rec, f"{importer.CHEXPERT} study {stid}"),
                           hasher(sid), view=rec["ViewPosition"].strip(), findings=findings,
                           impression=impression)
            jobs.append(Job(did, str(image), row))
    return jobs, problems
