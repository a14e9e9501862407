"""``python -m eclip.data build-eval NAME --root SRC --out DIR``: one of the paper's
evaluation sets as a dataset folder (every row split 'test'); see ``eclip.data.evalsets``."""

from __future__ import annotations

import argparse
from pathlib import Path

import eclip.data.evalsets as pkg
from eclip.data.evalsets import SET_NAMES, chexpert, cxr14, mimic, openi, rsna
from eclip.data.importers.cli import add_common_args, report
from eclip.data.importers.engine import run_import
from eclip.data.importers.patients import PatientHasher

# Images per class of each set as published (None: every image the rule selects).
DEFAULT_PER_CLASS = {"chexpert-5x200": 200, "mimic-5x200": 200, "rsna-pneumonia": None,
                     "cxr14-14x100": 100, "openi-retrieval": None}
PROMPTS = {"chexpert-5x200": "paper-chexpert5x200", "mimic-5x200": "paper-chexpert5x200",
           "rsna-pneumonia": "paper-rsna", "cxr14-14x100": "paper-cxr14x100",
           "openi-retrieval": None}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-eval", help="build one of the paper's evaluation sets from the dataset's own files",
        description=__doc__ + "\n\n" + _rules(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=SET_NAMES, help="which set")
    p.add_argument("--root", required=True, type=Path,
                   help="the dataset's folder (CheXpert: holding train.csv; MIMIC-CXR-JPG: files/ + "
                        "tables; RSNA: stage_2_train_labels.csv + stage_2_train_images/; CXR14: "
                        "Data_Entry_2017.csv + images; Open-I: indiana_*.csv or NLMCXR XML)")
    p.add_argument("--per-class", type=int, default=None,
                   help="images per class (default: the published size, 200 / 100 / all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--source-splits", default="test",
                   help="mimic-5x200: official splits to draw from, comma-separated (default test)")
    p.add_argument("--reports", type=Path, default=None,
                   help="mimic-5x200: folder holding files/pXX/.../sNNN.txt (default --root)")
    p.add_argument("--images", type=Path, default=None,
                   help="openi-retrieval: image folder (default root/images/images_normalized)")
    add_common_args(p)
    p.set_defaults(func=_run)


def _rules() -> str:
    return pkg.__doc__ or ""


def _run(args) -> int:
    hasher = PatientHasher(args.out)
    jobs, problems = build_jobs(args, hasher)
    if args.limit is not None:
        jobs = jobs[:args.limit]
    summary = run_import(jobs, args.out, args.name, workers=args.workers, pre_problems=problems,
                         progress=not args.no_progress,
                         allow_non_chest=args.allow_non_chest)
    rc = report(summary)
    prompts = PROMPTS[args.name]
    print(f"evaluate: python -m eclip.evaluate --checkpoint CKPT --data {args.out} --split test"
          + (f" --prompts {prompts}" if prompts else " --prompts findings") + " --out RESULT.json")
    return rc


def build_jobs(args, hasher):
    """The set's jobs and the problems found while selecting them."""
    n = args.per_class if args.per_class is not None else DEFAULT_PER_CLASS[args.name]
    if args.name == "chexpert-5x200":
        return chexpert.build_jobs(args.root, hasher, per_class=n, seed=args.seed), []
    if args.name == "mimic-5x200":
        splits = tuple(s.strip() for s in args.source_splits.split(",") if s.strip())
        return mimic.build_jobs(args.root, hasher, per_class=n, seed=args.seed,
                                source_splits=splits, reports=args.reports)
    if args.name == "rsna-pneumonia":
        return rsna.build_jobs(args.root, hasher, per_class=n, seed=args.seed), []
    if args.name == "cxr14-14x100":
        return cxr14.build_jobs(args.root, hasher, per_class=n, seed=args.seed), []
    return openi.build_jobs(args.root, images=args.images)
