"""The report labeller against Open-I's MeSH-derived labels, per label, on one half of the reports.

The ~3,955 NLMCXR reports (findings + impression) are labelled by ``eclip.data.labeller`` and
compared with ``mesh_to_labels`` of their MeSH major terms. They are split once, by a hash of
the report uid (``eclip.data.labeller_eval.half_of``), into a development half, on which the
rules were tuned, and a held-out half, which is what should be quoted. ``--baseline FILE``
scores another labeller module (e.g. the rules before a change) on the same reports, side by
side.

    python benchmarks/labeller.py                                 # held-out half, installed copy
    git show HEAD~1:eclip/report/labeller.py > /tmp/old_labeller.py
    python benchmarks/labeller.py --baseline /tmp/old_labeller.py --half heldout
    python benchmarks/labeller.py --root /data/NLMCXR_reports.tgz --half dev --json out.json

Reports come from ``--root`` (NLMCXR_reports.tgz, a folder of the XML, or a folder holding the
Kaggle ``indiana_reports.csv``), by default the copy inside the installed torchxrayvision
wheel, read in place; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

from eclip.data import labeller_eval as E
from eclip.data.labeller import label_report
from eclip.data.manifest import LABELS
from eclip.data.reports import mesh_to_labels


def load_reports(root: str | None) -> list:
    """OpenIReport-like records from the XML (tgz or folder) or the Kaggle reports CSV."""
    from eclip.data.importers.openi import iter_reports

    if root and Path(root, "indiana_reports.csv").is_file():
        return _kaggle_reports(Path(root, "indiana_reports.csv"))
    return list(iter_reports(Path(root) if root else None))


def _kaggle_reports(path: Path) -> list:
    from types import SimpleNamespace

    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [SimpleNamespace(uid=f"CXR{r['uid']}", findings=r["findings"], impression=r["impression"],
                            mesh_major=[m for m in r["MeSH"].split(";") if m.strip()])
            for r in df.to_dict("records")]


def load_labeller(path: str):
    spec = importlib.util.spec_from_file_location("baseline_labeller", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module.label_report


def fmt(v: float) -> str:
    return "  -  " if math.isnan(v) else f"{v:.2f}"


def table(results: dict[str, dict], n_reports: int, half: str) -> str:
    names = list(results)
    head = "| label | MeSH positives | " + " | ".join(f"{n} P / R / F1" for n in names) + " |"
    lines = [f"{half} half: {n_reports} reports", "", head, "|---|---|" + "---|" * len(names)]
    for lab in LABELS:
        cells = [" / ".join(fmt(results[n][lab][k]) for k in ("precision", "recall", "f1")) for n in names]
        lines.append(f"| {lab} | {results[names[0]][lab]['n']} | " + " | ".join(cells) + " |")
    macro = " | ".join(f"{E.macro_f1(results[n]):.3f}" for n in names)
    lines.append(f"| macro F1 (labels with >= {E.MIN_POSITIVES} positives) | | {macro} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None, help="NLMCXR_reports.tgz, XML folder, or folder with indiana_reports.csv")
    ap.add_argument("--half", choices=E.HALVES + ("all",), default="heldout")
    ap.add_argument("--baseline", default=None, help="a labeller module file to score beside the current one")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    args = ap.parse_args(argv)
    reports = E.reference_reports(load_reports(args.root), mesh_to_labels)
    chosen = [r for r in reports if args.half == "all" or E.half_of(r.uid) == args.half]
    results = {}
    if args.baseline:
        results["baseline"] = E.score(chosen, load_labeller(args.baseline))
    results["current"] = E.score(chosen, label_report)
    print(table(results, len(chosen), args.half))
    if args.json:
        Path(args.json).write_text(json.dumps({"half": args.half, "n_reports": len(chosen),
                                               "results": results}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
