"""``python -m eclip.data build-demo``: write the simulated demo corpus."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .build import build_demo
from .phantom import Knobs
from .scanpath import ReaderKnobs

DESCRIPTION = """\
Build the demo corpus: real Open-I report text (read from the installed torchxrayvision
package) with SIMULATED frontal radiographs that show each report's MeSH findings, their
ground-truth masks, and simulated radiologist gaze (REFLACX fixations.csv + heatmap) for a
fraction of the cases. Same --seed, same bytes; parallel across cores.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("build-demo", help="build the simulated demo dataset",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--n", type=int, default=2000, help="number of cases (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--gaze-fraction", type=float, default=0.25,
                   help="fraction of cases with a simulated reading (default 0.25)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--severity", type=float, default=1.0,
                   help="scale every finding's severity (difficulty knob, default 1.0)")
    p.add_argument("--noise", type=float, default=1.0, help="scale quantum noise (default 1.0)")
    p.add_argument("--variation", type=float, default=1.0,
                   help="scale anatomy/exposure spread between cases (default 1.0)")
    p.add_argument("--gaze-miss", type=float, default=1.0,
                   help="scale the simulated reader's miss rate (default 1.0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    t0 = time.perf_counter()
    knobs = Knobs(noise=args.noise, severity=args.severity, variation=args.variation)
    out = build_demo(args.out, n=args.n, seed=args.seed, gaze_fraction=args.gaze_fraction,
                     size=args.size, workers=args.workers, knobs=knobs,
                     reader=ReaderKnobs(miss=args.gaze_miss), progress=not args.no_progress)
    print(f"wrote {args.n} simulated cases to {out} in {time.perf_counter() - t0:.1f} s")
    return 0
