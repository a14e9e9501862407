"""``import-folder``: any folder of images + a CSV naming the image and report columns.

Every value in the CSV is checked before anything is written: named columns must exist,
label values must be 1 / 0 / -1 / blank, split values train / validate / test (common
spellings such as 'val' or 'valid' are accepted), ids unique. Image paths are relative to
``--images`` (or absolute). Without ``--split-col`` the split is a seeded hash (``--seed``) of
the source patient id (of the id, without ``--patient-col``), 80/10/10: the same CSV and seed
give the same split in any folder. Patient ids from ``--patient-col`` are stored salted and
hashed with your own salt, kept outside the folder (``ECLIP_PATIENT_SALT_FILE``).

``--labels-from-text`` fills the CheXpert label columns the CSV does not give (every one of
them without ``--label-cols``) from the findings + impression with the report labeller; a
label a ``--label-cols`` column gives is kept as given. A table that lists the same image
twice (same id or same image path) stops the import, naming both rows; ``--on-duplicate
first`` keeps the first row of each image instead and reports how many were dropped (they
are also listed in import_problems.csv).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from eclip.data.importers.cli import add_common_args, report
from eclip.data.importers.engine import run_import
from eclip.data.importers.jobs import Job, Problem, safe_id
from eclip.data.importers.patients import PatientHasher, hashed_split
from eclip.data.importers.tables import parse_label, read_table
from eclip.data.labeller import labels_from_text, not_radiology_warning
from eclip.data.manifest import LABELS
from eclip.errors import ImportFailed

log = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("error", "first")
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validate": "validate", "validation": "validate", "val": "validate", "valid": "validate",
    "dev": "validate",
    "test": "test", "testing": "test",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-folder",
        help="import a folder of images described by a CSV (image path + report text columns)",
        description=__doc__,
    )
    p.add_argument("--images", required=True, type=Path, help="folder the image paths are relative to")
    p.add_argument("--csv", required=True, type=Path, help="CSV with one row per image")
    p.add_argument("--image-col", required=True, help="column holding the image path")
    p.add_argument("--findings-col", required=True, help="column holding the findings text")
    p.add_argument("--impression-col", default=None, help="column holding the impression text")
    p.add_argument("--split-col", default=None, help="column holding train/validate/test")
    p.add_argument("--label-cols", nargs="*", default=[], metavar="COL[=LABEL]",
                   help="label columns (values 1/0/-1/blank), named as a CheXpert label or "
                        "mapped with COL=LABEL; commas also separate")
    p.add_argument("--patient-col", default=None, help="column holding a patient id (stored hashed)")
    p.add_argument("--view-col", default=None, help="column holding the view (PA, AP, ...)")
    p.add_argument("--id-col", default=None, help="column holding a unique id (default: file name)")
    p.add_argument("--id-prefix", default="", help="prefix for every id (avoid clashes)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the hashed split (same CSV + same seed = same split)")
    p.add_argument("--labels-from-text", action="store_true",
                   help="fill the label columns not given by --label-cols from the report text "
                        "(findings + impression) with the report labeller")
    p.add_argument("--on-duplicate", choices=DUPLICATE_POLICIES, default="error",
                   help="a table row repeating an image (same id or path): 'error' stops before "
                        "anything is written (default), 'first' keeps the first row and counts the rest")
    add_common_args(p)
    p.set_defaults(func=_run)


@dataclass(frozen=True)
class Columns:
    """Which CSV column holds what; only ``image`` and ``findings`` are required.
    ``labels`` are ``--label-cols`` specs (COL or COL=LABEL, see ``label_mapping``)."""

    image: str
    findings: str
    impression: str | None = None
    split: str | None = None
    patient: str | None = None
    view: str | None = None
    id: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    """How rows become jobs, besides which columns hold what."""

    id_prefix: str = ""
    seed: int = 0
    limit: int | None = None
    labels_from_text: bool = False
    on_duplicate: str = "error"  # see DUPLICATE_POLICIES


def _run(args) -> int:
    hasher = PatientHasher(args.out)
    columns = Columns(
        image=args.image_col, findings=args.findings_col, impression=args.impression_col,
        split=args.split_col, patient=args.patient_col, view=args.view_col, id=args.id_col,
        labels=tuple(args.label_cols or ()),
    )
    opts = Options(id_prefix=args.id_prefix, seed=args.seed, limit=args.limit,
                   labels_from_text=args.labels_from_text, on_duplicate=args.on_duplicate)
    jobs, dropped = build_jobs_checked(args.images, args.csv, hasher, columns, opts)
    if opts.labels_from_text:
        if warning := not_radiology_warning(f"{j.row['findings']}\n{j.row['impression']}" for j in jobs):
            print(f"WARNING: --labels-from-text: {warning}")
    if dropped:
        print(f"skipped {len(dropped)} duplicate row(s) (--on-duplicate first kept the first "
              "row of each image); listed in import_problems.csv")
    summary = run_import(jobs, args.out, "folder", workers=args.workers,
                         pre_problems=dropped, progress=not args.no_progress,
                         allow_non_chest=args.allow_non_chest)
    return report(summary)


def build_jobs_checked(images, csv, hasher, cols: Columns, opts: Options) -> tuple[list[Job], list[Problem]]:
    """``build_jobs`` with the duplicate policy applied: the jobs to run and the rows dropped
    as duplicates (empty under 'error', which raises instead)."""
    jobs = build_jobs(images, csv, hasher, cols, id_prefix=opts.id_prefix, seed=opts.seed,
                      limit=None, labels_from_text=opts.labels_from_text)
    jobs, dropped = drop_duplicates(jobs, opts.on_duplicate, csv)
    return (jobs if opts.limit is None else jobs[:opts.limit]), dropped


def drop_duplicates(jobs: list[Job], policy: str, csv) -> tuple[list[Job], list[Problem]]:
    """Rows repeating an earlier row's id or image path: an error naming both table rows, or
    (policy 'first') dropped and returned as problems."""
    first_row: dict[str, int] = {}
    kept, dropped = [], []
    for n, job in enumerate(jobs, start=2):  # table row numbers (row 1 is the header)
        seen = first_row.get(job.id, first_row.get(job.source))
        if seen is None:
            first_row[job.id] = first_row[job.source] = n
            kept.append(job)
        elif policy == "first":
            dropped.append(Problem(job.id, job.source, f"row {n} repeats row {seen}: skipped "
                                                       "(--on-duplicate first)"))
        else:
            raise ImportFailed(
                f"{csv} rows {seen} and {n} name the same image ({job.id!r}, {job.source}). "
                "Remove the repeat, or pass --on-duplicate first to keep the first row of "
                "each image (the rest are counted and listed in import_problems.csv).")
    return kept, dropped


def label_mapping(specs) -> dict[str, str]:
    """['Edema', 'cardio=Cardiomegaly', 'Pleural_Effusion,Atelectasis'] -> {csv col: LABEL}."""
    canon = {_norm(lab): lab for lab in LABELS}
    out = {}
    for spec in specs or []:
        for item in str(spec).split(","):
            item = item.strip()
            if not item:
                continue
            col, _, label = item.partition("=")
            label = label or col
            if _norm(label) not in canon:
                raise ImportFailed(f"--label-cols: {label!r} is not a CheXpert label; use one of "
                                   f"{list(LABELS)} or map a column with COL=LABEL.")
            out[col.strip()] = canon[_norm(label)]
    return out


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", " ")


def build_jobs(images, csv, hasher, cols: Columns, *, id_prefix="", seed=0,
               limit=None, labels_from_text=False) -> list[Job]:
    images, csv = Path(images), Path(csv)
    if not images.is_dir():
        raise ImportFailed(f"--images {images} is not a folder.")
    labels = label_mapping(cols.labels)
    named = [cols.image, cols.findings, cols.impression, cols.split, cols.patient, cols.view,
             cols.id]
    required = [c for c in named if c] + list(labels)
    df = read_table(csv, required, "import-folder CSV")
    jobs = []
    for n, rec in enumerate(df.to_dict("records"), start=2):  # row 1 is the header
        if limit is not None and len(jobs) >= limit:
            break
        where = f"{csv} row {n}"
        rel = rec[cols.image].strip()
        if not rel:
            raise ImportFailed(f"{where}: empty {cols.image!r}; every row needs an image path.")
        path = Path(rel) if Path(rel).is_absolute() else images / rel
        rid = safe_id(id_prefix + (rec[cols.id] if cols.id else Path(rel).stem))
        source_patient = rec[cols.patient].strip() if cols.patient else ""
        patient = hasher(source_patient) if source_patient else rid
        row = {
            "findings": rec[cols.findings].strip(),
            "impression": rec[cols.impression].strip() if cols.impression else "",
            # the source id, not the salted key: same table + same seed -> same split anywhere
            "split": _split(rec[cols.split], where) if cols.split else hashed_split(source_patient or rid, seed),
            "view": rec[cols.view].strip().upper() if cols.view else "",
            "patient_key": patient,
            "source": "folder",
        }
        if labels_from_text:
            row.update(labels_from_text_row(row["findings"], row["impression"]))
        for col, lab in labels.items():
            row[lab] = parse_label(rec[col], f"{where}, column {col!r}")
        jobs.append(Job(rid, str(path), row))
    if not cols.patient:
        log.info("no --patient-col: every image is its own patient (splits are per image)")
    return jobs


def labels_from_text_row(findings: str, impression: str) -> dict:
    labels = labels_from_text(findings, impression)
    known = any(not math.isnan(v) for v in labels.values())  # all NaN: the row had no text
    return {**labels, "label_source": "report-text"} if known else labels


def _split(value: str, where: str) -> str:
    split = SPLIT_ALIASES.get(str(value).strip().lower())
    if split is None:
        raise ImportFailed(f"{where}: split {value!r} is not one of train / validate / test "
                           f"(accepted spellings: {sorted(SPLIT_ALIASES)}).")
    return split
