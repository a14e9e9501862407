"""``import-openi``: the Indiana University chest X-ray collection (Open-I).

Reports come either from the NLMCXR XML (``--xml`` a .tgz or a folder of .xml; by default
the copy inside the installed ``torchxrayvision`` package, read in place) or from the
Kaggle CSV pair ``indiana_reports.csv`` + ``indiana_projections.csv``. Images are looked up
under ``--images`` by the report's image ids (``CXR1_1_IM-0001-3001.png`` as in the NLM
download, or ``1_IM-0001-3001.dcm.png`` as on Kaggle, also .jpg/.dcm).

Views: the Kaggle projections table says Frontal/Lateral. The XML does not, so views come
from ``--projections`` (a Kaggle projections table) if given, else from the DICOM metadata
tables shipped with torchxrayvision (View Position, then its t-SNE view); images whose view
is unknown are left out under the default ``--views frontal`` and counted.

Open-I has no patient ids; one report is one patient visit, so the report uid is the patient
key and the split is a deterministic hash of it (80/10/10), which keeps the images of one
report in one split. Labels: MeSH major terms mapped to the CheXpert columns.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from eclip.data import reports
from eclip.data.importers.cli import add_common_args, report
from eclip.data.importers.engine import run_import
from eclip.data.importers.jobs import Job, Problem
from eclip.data.importers.patients import hashed_split
from eclip.data.importers.tables import read_table
from eclip.data.reports import mesh_to_labels
from eclip.errors import ImportFailed, ReportFormatError

log = logging.getLogger(__name__)

KAGGLE_REPORT_COLS = ("uid", "MeSH", "Problems", "image", "indication", "comparison",
                      "findings", "impression")
KAGGLE_PROJECTION_COLS = ("uid", "filename", "projection")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".dcm")
FRONTAL_VIEWS = {"PA", "AP", "FRONTAL"}
LATERAL_VIEWS = {"LL", "RL", "LATERAL", "LARGE LATERAL", "L"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-openi",
        help="import Open-I / Indiana University images with NLMCXR XML or Kaggle CSV reports",
        description=__doc__,
    )
    p.add_argument("--images", required=True, type=Path, help="folder holding the image files")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--xml", type=Path, default=None,
                     help="NLMCXR_reports.tgz or a folder of report .xml files "
                          "(default: the copy installed with torchxrayvision)")
    src.add_argument("--csv-reports", type=Path, default=None, help="Kaggle indiana_reports.csv")
    p.add_argument("--csv-projections", type=Path, default=None,
                   help="Kaggle indiana_projections.csv (required with --csv-reports)")
    p.add_argument("--projections", type=Path, default=None,
                   help="with XML reports: a Kaggle-format projections table giving the views")
    p.add_argument("--views", default="frontal", choices=["frontal", "lateral", "all"],
                   help="which projections to import (default frontal)")
    p.add_argument("--seed", type=int, default=0, help="salt of the hashed train/validate/test split")
    add_common_args(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.csv_reports is not None:
        if args.csv_projections is None:
            raise ImportFailed("--csv-reports needs --csv-projections (indiana_projections.csv).")
        jobs, problems = build_jobs_kaggle(args.images, args.csv_reports, args.csv_projections,
                                           views=args.views, seed=args.seed, limit=args.limit)
    else:
        jobs, problems = build_jobs_xml(args.images, args.xml, projections=args.projections,
                                        views=args.views, seed=args.seed, limit=args.limit)
    summary = run_import(jobs, args.out, "openi", workers=args.workers, pre_problems=problems,
                         progress=not args.no_progress,
                         allow_non_chest=args.allow_non_chest)
    return report(summary)


# ------------------------------------------------------------------------ image lookup

def index_images(folder: Path) -> dict[str, Path]:
    """Lower-case file name -> path, for every image file under ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFailed(f"--images {folder} is not a folder.")
    found = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(IMAGE_EXTS):
                found.setdefault(name.lower(), Path(dirpath) / name)
    return found


def find_image(index: dict[str, Path], image_id: str) -> Path | None:
    """Match 'CXR1_1_IM-0001-3001' to the NLM name or the Kaggle '1_IM-0001-3001.dcm.png'."""
    bare = image_id[3:] if image_id.upper().startswith("CXR") else image_id
    for stem in (image_id, bare):
        for suffix in (".png", ".dcm.png", ".jpg", ".jpeg", ".dcm"):
            hit = index.get(f"{stem}{suffix}".lower())
            if hit is not None:
                return hit
    return None


def image_id_from_filename(name: str) -> str:
    """Kaggle '1_IM-0001-3001.dcm.png' -> 'CXR1_1_IM-0001-3001' (the XML's id)."""
    stem = re.sub(r"(\.dcm)?\.(png|jpe?g|dcm)$", "", name, flags=re.IGNORECASE)
    return stem if stem.upper().startswith("CXR") else f"CXR{stem}"


def _uid(value: str) -> str:
    value = str(value).strip()
    return value if value.upper().startswith("CXR") else f"CXR{value}"


def _view_selected(view: str, views: str) -> bool:
    if views == "all":
        return True
    return view in (FRONTAL_VIEWS if views == "frontal" else LATERAL_VIEWS)


def _row(uid, findings, impression, view, labels, seed) -> dict:
    return {"findings": findings or "", "impression": impression or "",
            "split": hashed_split(uid, seed), "view": view, "patient_key": uid,
            "source": "openi", **labels}


def _finish(jobs, problems, n_reports, matched_any, images) -> tuple[list[Job], list[Problem]]:
    if n_reports and not matched_any and problems:
        raise ImportFailed(
            f"none of the report image ids matched a file under {images} (e.g. "
            f"{problems[0].id}); expected names like CXR1_1_IM-0001-3001.png or "
            "1_IM-0001-3001.dcm.png."
        )
    log.info("Open-I: %d image(s) selected from %d report(s)", len(jobs), n_reports)
    return jobs, problems


# ------------------------------------------------------------------------- Kaggle CSVs

def build_jobs_kaggle(images, reports_csv, projections_csv, *, views="frontal", seed=0,
                      limit=None) -> tuple[list[Job], list[Problem]]:
    reports = read_table(reports_csv, KAGGLE_REPORT_COLS, "Open-I Kaggle reports table")
    projections = read_table(projections_csv, KAGGLE_PROJECTION_COLS, "Open-I Kaggle projections table")
    by_uid = {str(r["uid"]).strip(): r for r in reports.to_dict("records")}
    index = index_images(images)
    jobs, problems, matched = [], [], False
    for rec in projections.to_dict("records"):
        if limit is not None and len(jobs) >= limit:
            break
        view = rec["projection"].strip().upper()
        if not _view_selected(view, views):
            continue
        rep = by_uid.get(str(rec["uid"]).strip())
        iid = image_id_from_filename(rec["filename"].strip())
        if rep is None:
            problems.append(Problem(iid, rec["filename"], f"uid {rec['uid']} not in the reports table: skipped"))
            continue
        path = index.get(rec["filename"].strip().lower()) or find_image(index, iid)
        if path is None:
            problems.append(Problem(iid, rec["filename"], "image file not found: skipped"))
            continue
        matched = True
        mesh = [m.strip() for m in rep["MeSH"].split(";") if m.strip()]
        uid = _uid(rep["uid"])
        jobs.append(Job(iid, str(path), _row(uid, rep["findings"], rep["impression"], view,
                                              mesh_to_labels(mesh), seed)))
    return _finish(jobs, problems, len(by_uid), matched, images)


# -------------------------------------------------------------------------- NLMCXR XML

def iter_reports(xml) -> Iterator:
    """OpenIReports from a .tgz, a folder of .xml files, or (None) the installed copy."""
    if xml is None:
        yield from reports.iter_nlmcxr_tgz()
        return
    xml = Path(xml)
    if xml.is_dir():
        files = sorted(xml.rglob("*.xml"), key=lambda p: p.name)
        if not files:
            raise ImportFailed(f"--xml {xml} holds no .xml files.")
        for f in files:
            try:
                yield reports.parse_nlmcxr_xml(f.read_bytes(), source=str(f))
            except ReportFormatError as exc:
                raise ImportFailed(f"{f}: not an NLMCXR report ({exc}).") from exc
    elif xml.is_file() and tarfile.is_tarfile(xml):
        yield from reports.iter_nlmcxr_tgz(xml)
    else:
        raise ImportFailed(f"--xml {xml} is neither a folder of .xml files nor a .tgz archive.")


def xml_views(projections=None) -> dict[str, str]:
    """image id -> view (PA/AP/LL/... or FRONTAL/LATERAL) from the best source available."""
    if projections is not None:
        df = read_table(projections, KAGGLE_PROJECTION_COLS, "Open-I projections table")
        return {image_id_from_filename(f.strip()): p.strip().upper()
                for f, p in zip(df["filename"], df["projection"])}
    data = _torchxrayvision_data()
    views: dict[str, str] = {}
    if data is None:
        return views
    tsne = data / "nlmcxr_tsne_pa.csv.gz"
    if tsne.is_file():
        t = pd.read_csv(tsne, dtype=str, keep_default_na=False)
        views.update({i: ("PA" if v == "PA" else "LATERAL") for i, v in zip(t["imageid"], t["tsne-view"]) if v})
    meta = data / "nlmcxr_dicom_metadata.csv.gz"
    if meta.is_file():  # the DICOM header wins over the t-SNE guess
        m = pd.read_csv(meta, usecols=["imageid", "View Position"], dtype=str, keep_default_na=False)
        views.update({i: v.strip().upper() for i, v in zip(m["imageid"], m["View Position"]) if v.strip()})
    return views


def _torchxrayvision_data() -> Path | None:
    """The installed package's data folder, found without importing it (it imports torch)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def build_jobs_xml(images, xml=None, *, projections=None, views="frontal", seed=0,
                   limit=None) -> tuple[list[Job], list[Problem]]:
    index = index_images(images)
    view_of = xml_views(projections)
    jobs, missing, n_reports, unknown = [], [], 0, 0
    for rep in iter_reports(xml):
        if limit is not None and len(jobs) >= limit:
            break
        n_reports += 1
        uid = _uid(rep.uid)
        labels = mesh_to_labels(list(rep.mesh_major))
        for iid in rep.image_ids:
            if limit is not None and len(jobs) >= limit:
                break
            view = view_of.get(iid, "")
            if not view and views != "all":
                unknown += 1
                continue
            if not _view_selected(view, views):
                continue
            path = find_image(index, iid)
            if path is None:
                missing.append(iid)
                continue
            jobs.append(Job(iid, str(path), _row(uid, rep.findings, rep.impression, view, labels, seed)))
    if unknown:
        log.info("Open-I: %d image id(s) with unknown view left out (use --views all to keep)", unknown)
    # An images folder holding part of the collection is normal, so ids without a file are
    # counted, not listed; none matching at all means a wrong folder or naming.
    if missing:
        log.info("Open-I: %d selected report image id(s) have no file under %s", len(missing), images)
    if n_reports and missing and not jobs:
        raise ImportFailed(
            f"none of the report image ids matched a file under {images} (e.g. {missing[0]}); "
            "expected names like CXR1_1_IM-0001-3001.png or 1_IM-0001-3001.dcm.png."
        )
    log.info("Open-I: %d image(s) selected from %d report(s)", len(jobs), n_reports)
    return jobs, []
