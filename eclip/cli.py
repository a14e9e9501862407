"""The ``eclip`` command: one entry point for every ``python -m eclip.…`` main, and the one
runner they all use.

    eclip data build-demo --n 2000 --out data/demo     # = python -m eclip.data build-demo …
    eclip evaluate experiment --group …               # = python -m eclip.evaluate.experiment …
    eclip app --server.port 8502                      # = python -m app …

Every command exits the same way (``run_command``): 0 done, 2 a usage error or an error the project
raises on purpose (``EclipError``, printed as one ``error: <message>`` line on stderr, no
traceback), 130 interrupted; anything else is a bug or a broken environment, so its
traceback is kept (exit 1).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from eclip import __version__
from eclip.errors import EclipError

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


def run_command(body: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run one command's ``body`` and return its exit status (see the module docstring).
    ``interrupted``: what to tell a person who pressed Ctrl-C (how to resume, say)."""
    try:
        return int(body() or OK)
    except EclipError as exc:
        sys.stdout.flush()  # whatever the command printed comes before the error, not after
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return INTERRUPTED


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("evaluate", "experiment") for `eclip evaluate experiment`
    target: str  # "module:function", imported only when the command runs
    summary: str

    @property
    def name(self) -> str:
        return " ".join(self.words)


# Sub-subcommands (`evaluate experiment`) come before their parent: the longest match wins.
COMMANDS = (
    Command(("data",), "eclip.data.__main__:main",
            "import datasets, build the demo corpus, label reports, inspect a dataset"),
    Command(("data", "contact-sheet"), "eclip.sim.contact_sheet:main",
            "a PNG contact sheet of a demo dataset (films + gaze)"),
    Command(("train",), "eclip.train.__main__:main", "train eCLIP or the CLIP baseline (torchrun-able)"),
    Command(("index",), "eclip.index.cli:main", "embed a dataset under a checkpoint and cache it"),
    Command(("checkpoint", "slim"), "eclip.model.slim:main",
            "re-save a checkpoint with its frozen pretrained text trunk by reference (smaller)"),
    Command(("evaluate",), "eclip.evaluate.__main__:main",
            "every metric of a checkpoint (or a pair) with 95 % intervals"),
    Command(("evaluate", "experiment"), "eclip.evaluate.experiment:main",
            "groups of runs (one per seed) compared with a baseline"),
    Command(("evaluate", "card"), "eclip.evaluate.card:main",
            "write a checkpoint's training world: card facts and its training-image reference"),
    Command(("explain",), "eclip.explain.cli:main", "attribution maps and their agreement with gaze"),
    Command(("explain", "tour"), "eclip.explain.tour:main", "pick the presenter's tour cases"),
    Command(("report",), "eclip.report.__main__:main", "stream a draft report for one image"),
    Command(("report", "metrics"), "eclip.report.metrics.cli:main",
            "draft reports for a split and score them per backend"),
    Command(("app",), "app.__main__:main", "the Streamlit explorer, warm before it listens"),
    Command(("app", "screenshots"), "app.server.screenshots:main", "screenshots of every view of the app"),
)


def find(argv: list[str]) -> tuple[Command | None, list[str]]:
    """The command named by the first words of ``argv`` (longest match) and its arguments."""
    best = None
    for cmd in COMMANDS:
        n = len(cmd.words)
        if tuple(argv[:n]) == cmd.words and (best is None or n > len(best.words)):
            best = cmd
    return best, argv[len(best.words):] if best else argv


def usage() -> str:
    width = max(len(c.name) for c in COMMANDS)
    lines = ["usage: eclip COMMAND [ARGS ...]   (eclip COMMAND --help for its options)",
             "", "eCLIP: gaze-guided CLIP for chest X-rays.", "", "commands:"]
    lines += [f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS]
    lines += ["", "options:", "  -h, --help     this list", "  --version      the installed version"]
    return "\n".join(lines)


def load(cmd: Command) -> Callable[[list[str]], int]:
    module, func = cmd.target.split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return USAGE
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return OK
    if argv[0] == "--version":
        print(f"eclip {__version__}")
        return OK
    cmd, rest = find(argv)
    if cmd is None:
        print(f"{usage()}\n\nerror: unknown command {argv[0]!r}", file=sys.stderr)
        return USAGE
    # The command's own main prints its errors through `run_command`; argparse exits with SystemExit.
    return int(load(cmd)(rest) or OK)


if __name__ == "__main__":
    sys.exit(main())
