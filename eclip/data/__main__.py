"""``python -m eclip.data``: import datasets, build the demo corpus, inspect a dataset.

Each subcommand lives in a module exposing ``register(subparsers)``, which adds its parser
and sets ``func(args) -> int``. Errors the library raises on purpose (``EclipError``) are
printed as one actionable message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from eclip.cli import run_command

_SUBCOMMAND_MODULES = (
    "eclip.data.importers.mimic",
    "eclip.data.importers.openi",
    "eclip.data.importers.folder",
    "eclip.sim.cli",  # build-demo: the simulator writes a dataset folder like an importer
    "eclip.data.info",
    "eclip.data.label_cli",
    "eclip.data.evalsets.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eclip.data",
        description="Write and inspect eCLIP dataset folders (manifest.csv + images + gaze).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMAND_MODULES:
        _register(sub, name)
    return parser


def _register(sub, module_name: str) -> None:
    """Register one subcommand module, named as a string: ``eclip.sim`` (build-demo) sits beside
    ``data``, not below it, so ``data`` never imports it by name (tests/test_layers.py)."""
    importlib.import_module(module_name).register(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return run_command(lambda: args.func(args), interrupted="interrupted; rerun the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
