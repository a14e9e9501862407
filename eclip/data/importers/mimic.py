"""``import-mimic``: MIMIC-CXR-JPG (+ report texts, + optional EGD-CXR / REFLACX gaze).

Source layout (PhysioNet): ``<root>/files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg`` and the
tables ``mimic-cxr-2.0.0-{chexpert,split,metadata}.csv[.gz]``; report texts
``files/pXX/pNNNNNNNN/sNNNNNNNN.txt`` (from MIMIC-CXR, ``--reports`` if kept elsewhere).
One manifest row per image (id = dicom_id); labels come from the CheXpert table of the
image's study, the split from the official split table ('validate' stays 'validate').
Gaze is attached by dicom_id; each reading's own heatmap is kept too
(``gaze/<id>/readings/<reading>.npz``, the gaze-agreement ceiling's input). Annotations become
regions (``eclip.data.gaze.regions``): REFLACX's abnormality ellipses -> ``masks/<id>.npz``
(``mask_path``, the pointing game's truth), EGD-CXR's anatomy boxes -> ``lungs/<id>.npz``
(lung fields). Both annotation files are optional: the import ends by naming each one that
was absent and what is therefore off (``absent_optional``). ``patient_key`` is a salted hash of subject_id (see
``PatientHasher``; the salt stays outside the folder): raw MIMIC ids never enter the manifest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from eclip.data.gaze import EGD_PAD_COLUMNS, EGD_REQUIRED
from eclip.data.gaze.regions import read_egd_boxes, read_reflacx_ellipses
from eclip.data.importers.cli import add_common_args, report
from eclip.data.importers.engine import run_import
from eclip.data.importers.jobs import GazeSource, Job, Problem
from eclip.data.importers.layout import staging_dir
from eclip.data.importers.patients import PatientHasher
from eclip.data.importers.tables import find_table, parse_label, read_table
from eclip.data.manifest import LABELS
from eclip.data.reports import parse_mimic_report
from eclip.errors import GazeFormatError, ImportFailed, ReportFormatError

log = logging.getLogger(__name__)

CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
METADATA = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT_COLS = ("subject_id", "study_id", *LABELS)
SPLIT_COLS = ("dicom_id", "study_id", "subject_id", "split")
METADATA_COLS = ("dicom_id", "subject_id", "study_id", "ViewPosition")
FRONTAL = ("PA", "AP")

EGD_MASTER_COLS = ("dicom_id", *EGD_PAD_COLUMNS)
REFLACX_META_COLS = ("id", "eye_tracking_data_discarded", "dicom_id")
REFLACX_ELLIPSES = "anomaly_location_ellipses.csv"
EGD_BOXES = "bounding_boxes.csv"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-mimic",
        help="import MIMIC-CXR-JPG with reports, optionally EGD-CXR / REFLACX gaze",
        description=__doc__,
    )
    p.add_argument("--root", required=True, type=Path,
                   help="MIMIC-CXR-JPG folder holding files/ and the mimic-cxr-2.0.0-*.csv tables")
    p.add_argument("--reports", type=Path, default=None,
                   help="folder holding files/pXX/.../sNNN.txt report texts (default: --root)")
    p.add_argument("--egd", type=Path, default=None,
                   help="EGD-CXR folder with fixations.csv and master_sheet.csv")
    p.add_argument("--reflacx", type=Path, default=None,
                   help="REFLACX folder (holding main_data/ or main_data itself)")
    p.add_argument("--views", default="frontal",
                   help="comma list of ViewPosition values, 'frontal' (PA,AP) or 'all'")
    p.add_argument("--gaze-only", action="store_true",
                   help="only images that have EGD-CXR or REFLACX gaze")
    add_common_args(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    hasher = PatientHasher(args.out)
    jobs, problems = build_jobs(
        args.root, args.out, hasher, reports=args.reports, egd=args.egd, reflacx=args.reflacx,
        views=args.views, gaze_only=args.gaze_only, limit=args.limit,
    )
    summary = run_import(jobs, args.out, "mimic", workers=args.workers, pre_problems=problems,
                         progress=not args.no_progress,
                         allow_non_chest=args.allow_non_chest)
    rc = report(summary)
    notes = absent_optional(args.egd, _read_reflacx(Path(args.reflacx)) if args.reflacx else {},
                            {j.id for j in jobs})
    if notes:
        print("optional files absent, so some of what the app and `python -m eclip.explain` show is off:")
        print("\n".join(f"  - {n}" for n in notes))
    return rc


def absent_optional(egd, reflacx_readings: dict[str, list[Path]], imported: set[str]) -> list[str]:
    """Each optional annotation file the import found absent, and what is off without it:
    REFLACX's ``anomaly_location_ellipses.csv`` (finding masks: the pointing game and mIoU)
    and EGD-CXR's ``bounding_boxes.csv`` (lung fields: the mass-outside-the-lungs check)."""
    notes = []
    if egd is None and not reflacx_readings:
        notes.append("no --egd or --reflacx: no gaze heatmaps, no finding masks (mask_path) and no "
                     "lung fields; gaze agreement, the pointing game and mIoU have nothing to score")
    readings = [f for did, fs in reflacx_readings.items() if did in imported for f in fs]
    missing = [f for f in readings if not (f.parent / REFLACX_ELLIPSES).is_file()]
    if missing:
        notes.append(f"{REFLACX_ELLIPSES} absent from {len(missing)} of {len(readings)} REFLACX "
                     f"reading(s) (e.g. {missing[0].parent}): their images have no finding masks "
                     "(mask_path), so the pointing game and mIoU leave them out "
                     "(n/a when no image has a mask)")
    if egd is not None and not (Path(egd) / EGD_BOXES).is_file():
        notes.append(f"{EGD_BOXES} absent from {egd}: no lung fields (lungs/<id>.npz), so 'mass "
                     "outside the lungs' falls back to a central region of the film")
    return notes


def parse_views(spec: str) -> set[str] | None:
    """'frontal' -> {PA, AP}; 'all' -> None (no filter); 'PA,LATERAL' -> that set."""
    spec = spec.strip()
    if spec.lower() == "frontal":
        return set(FRONTAL)
    if spec.lower() == "all":
        return None
    return {v.strip().upper() for v in spec.split(",") if v.strip()}


def build_jobs(root, out, hasher, *, reports=None, egd=None, reflacx=None, views="frontal",
               gaze_only=False, limit=None) -> tuple[list[Job], list[Problem]]:
    """Read and check every table first (fatal ImportFailed on wrong columns, before anything
    is written), then one Job per selected image."""
    root = Path(root)
    if not (root / "files").is_dir():
        raise ImportFailed(f"{root} has no files/ folder: --root must be the MIMIC-CXR-JPG "
                           "folder that holds files/pXX/... and the mimic-cxr-2.0.0-*.csv tables.")
    meta = read_table(find_table(root, METADATA), METADATA_COLS, "MIMIC metadata table")
    split = read_table(find_table(root, SPLIT), SPLIT_COLS, "MIMIC split table")
    chex = read_table(find_table(root, CHEXPERT), CHEXPERT_COLS, "MIMIC CheXpert table")
    egd_master, egd_fix = _read_egd(Path(egd)) if egd else (None, None)
    reflacx_readings = _read_reflacx(Path(reflacx)) if reflacx else {}
    regions = _read_regions(Path(egd) if egd else None, reflacx_readings)

    wanted = parse_views(views)
    if wanted is not None:
        meta = meta[meta["ViewPosition"].str.strip().str.upper().isin(wanted)]
    split_of = dict(zip(split["dicom_id"], split["split"].str.strip()))
    labels_of = _labels_by_study(chex)
    egd_ids = set(egd_master.index) & set(egd_fix.groups) if egd_master is not None else set()
    if gaze_only:
        meta = meta[meta["dicom_id"].isin(egd_ids | set(reflacx_readings))]

    report_root = _report_root(Path(reports) if reports else root)
    jobs, problems = [], []
    for rec in meta.to_dict("records"):
        if limit is not None and len(jobs) >= limit:
            break
        did, sid, stid = rec["dicom_id"], rec["subject_id"], rec["study_id"]
        image = root / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{stid}" / f"{did}.jpg"
        if did not in split_of:
            problems.append(Problem(did, str(image), "not in the split table: skipped"))
            continue
        findings, impression, why = _report_text(report_root, sid, stid)
        if why:
            problems.append(Problem(did, str(image), why))
        row = {
            "findings": findings, "impression": impression, "split": split_of[did],
            "view": rec["ViewPosition"].strip(), "patient_key": hasher(sid), "source": "mimic",
            **labels_of.get(stid, {lab: float("nan") for lab in LABELS}),
        }
        gaze = []
        if did in egd_ids:
            gaze.append(_egd_source(out, did, egd_master.loc[did], egd_fix.get_group(did)))
        gaze += [GazeSource("reflacx", str(p)) for p in reflacx_readings.get(did, [])]
        jobs.append(Job(did, str(image), row, tuple(gaze), _native_shape(rec), tuple(regions.get(did, ()))))
    log.info("MIMIC: %d image(s) selected, %d with gaze", len(jobs), sum(1 for j in jobs if j.gaze))
    return jobs, problems


def _labels_by_study(chex: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for rec in chex.to_dict("records"):
        where = f"{CHEXPERT} study {rec['study_id']}"
        out[rec["study_id"]] = {lab: parse_label(rec[lab], f"{where}, column {lab!r}") for lab in LABELS}
    return out


def _native_shape(rec: dict) -> tuple[int, int] | None:
    """The DICOM grid (Rows, Columns) gaze coordinates refer to; None -> the JPEG's own size."""
    try:
        return int(float(rec["Rows"])), int(float(rec["Columns"]))
    except (KeyError, TypeError, ValueError):
        return None


def _report_root(folder: Path) -> Path:
    """Accept the folder holding files/ or the files/ folder itself."""
    return folder / "files" if (folder / "files").is_dir() else folder


def _report_text(report_root: Path, sid: str, stid: str) -> tuple[str, str, str]:
    path = report_root / f"p{sid[:2]}" / f"p{sid}" / f"s{stid}.txt"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", "", f"report {path} not found: imported without text"
    try:
        rep = parse_mimic_report(text)
    except ReportFormatError as exc:
        return "", "", f"report {path} unreadable ({exc}): imported without text"
    return rep.findings or "", rep.impression or "", ""


# ----------------------------------------------------------------------------- gaze

def _read_egd(folder: Path):
    master = read_table(folder / "master_sheet.csv", EGD_MASTER_COLS, "EGD-CXR master sheet")
    fix = read_table(folder / "fixations.csv", EGD_REQUIRED, "EGD-CXR fixations")
    master = master.drop_duplicates("dicom_id").set_index("dicom_id")
    return master, fix.groupby("DICOM_ID", sort=False)


def _egd_source(out, did: str, master_row, fix_rows: pd.DataFrame) -> GazeSource:
    """Stage this image's fixation rows (original columns) so a worker reads a small file
    instead of the whole fixations.csv."""
    path = staging_dir(Path(out)) / "egd" / f"{did}.csv"
    pad = tuple(float(master_row[c] or 0) for c in EGD_MASTER_COLS[1:])
    text = fix_rows.to_csv(index=False, lineterminator="\n")
    return GazeSource("egd", str(path), did, pad, text=text)


def _read_reflacx(folder: Path) -> dict[str, list[Path]]:
    """dicom_id -> fixations.csv of each kept reading (discarded readings dropped)."""
    main = folder / "main_data" if (folder / "main_data").is_dir() else folder
    tables = sorted(main.glob("metadata_phase_*.csv"))
    if not tables:
        raise ImportFailed(f"{main} holds no metadata_phase_*.csv: --reflacx must be the REFLACX "
                           "folder (with main_data/) or main_data itself.")
    readings: dict[str, list[Path]] = {}
    for table in tables:
        df = read_table(table, REFLACX_META_COLS, "REFLACX metadata")
        discarded = df["eye_tracking_data_discarded"].str.strip().str.lower().isin(["true", "1"])
        for rec in df[~discarded].to_dict("records"):
            fix = main / rec["id"] / "fixations.csv"
            if fix.is_file():
                readings.setdefault(rec["dicom_id"], []).append(fix)
            else:
                log.warning("REFLACX reading %s has no %s: skipped", rec["id"], fix)
    return readings


def _read_regions(egd: Path | None, reflacx_readings: dict[str, list[Path]]) -> dict[str, list]:
    """dicom_id -> annotated Shapes: the ellipses of every kept REFLACX reading (next to its
    fixations.csv) and the EGD-CXR anatomy boxes (bounding_boxes.csv, when the folder has it).
    A malformed file stops the import before anything is written."""
    try:
        out = read_egd_boxes(egd / EGD_BOXES) if egd and (egd / EGD_BOXES).is_file() else {}
        for did, fixations in reflacx_readings.items():
            for fix in fixations:
                if (fix.parent / REFLACX_ELLIPSES).is_file():
                    out.setdefault(did, []).extend(read_reflacx_ellipses(fix.parent / REFLACX_ELLIPSES))
    except GazeFormatError as exc:
        raise ImportFailed(f"{exc} Nothing was written.") from exc
    return out
