"""``import-folder``: any folder of images + a CSV naming the image and report columns.

Every value in the CSV is checked before anything is written: named columns must exist,
label values must be 1 / 0 / -1 / blank, split values train / validate / test (common
spellings such as 'val' or 'valid' are accepted), ids unique. Image paths are relative to
``--images`` (or absolute). Without ``--split-col`` the split is a deterministic hash of the
patient key (80/10/10). Patient ids from ``--patient-col`` are stored salted and hashed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from eclip.data.importers.cli import add_common_args, report
from eclip.data.importers.engine import run_import
from eclip.data.importers.jobs import Job, safe_id
from eclip.data.importers.patients import PatientHasher, hashed_split
from eclip.data.importers.tables import parse_label, read_table
from eclip.data.manifest import LABELS
from eclip.errors import ImportFailed

log = logging.getLogger(__name__)

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
    p.add_argument("--seed", type=int, default=0, help="salt of the hashed split")
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


def _run(args) -> int:
    hasher = PatientHasher(args.out)
    columns = Columns(
        image=args.image_col, findings=args.findings_col, impression=args.impression_col,
        split=args.split_col, patient=args.patient_col, view=args.view_col, id=args.id_col,
        labels=tuple(args.label_cols or ()),
    )
    jobs = build_jobs(args.images, args.csv, hasher, columns, id_prefix=args.id_prefix,
                      seed=args.seed, limit=args.limit)
    summary = run_import(jobs, args.out, "folder", workers=args.workers, hasher=hasher,
                         progress=not args.no_progress)
    return report(summary)


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
               limit=None) -> list[Job]:
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
        patient = hasher(rec[cols.patient].strip()) if cols.patient and rec[cols.patient].strip() else rid
        row = {
            "findings": rec[cols.findings].strip(),
            "impression": rec[cols.impression].strip() if cols.impression else "",
            "split": _split(rec[cols.split], where) if cols.split else hashed_split(patient, seed),
            "view": rec[cols.view].strip().upper() if cols.view else "",
            "patient_key": patient,
            "source": "folder",
        }
        for col, lab in labels.items():
            row[lab] = parse_label(rec[col], f"{where}, column {col!r}")
        jobs.append(Job(rid, str(path), row))
    if not cols.patient:
        log.info("no --patient-col: every image is its own patient (splits are per image)")
    return jobs


def _split(value: str, where: str) -> str:
    split = SPLIT_ALIASES.get(str(value).strip().lower())
    if split is None:
        raise ImportFailed(f"{where}: split {value!r} is not one of train / validate / test "
                           f"(accepted spellings: {sorted(SPLIT_ALIASES)}).")
    return split
