"""What a simulated demo corpus says about itself, and whether it holds what readers expect.

``build-demo`` (``eclip.sim``) writes ``demo_info.json`` beside the manifest: the builder's
``version``, the seed, case count, gaze fraction, film size and difficulty knobs. Everything
else in the folder follows the dataset contract every importer follows, so readers never
need the simulator; they need to know only whether a corpus predates a file they read:

* ``demo-3``: per case ``lungs/<id>.npz`` (the phantom's lung fields, as an importer writes
  anatomy outlines) and, per case with gaze, ``gaze/<id>/readings/`` (the reading the gaze
  map holds and a second, independent reader's). Films, masks, gaze maps, manifest columns
  and splits are those of demo-2: rebuilding with the same seed adds the new files.
* ``demo-2``: splits keyed on the normalised report text.
"""

from __future__ import annotations

import json
from pathlib import Path

DEMO_INFO = "demo_info.json"
DEMO_VERSION = "demo-3"


def read_demo_info(root: str | Path) -> dict | None:
    """``demo_info.json`` of a demo corpus; None for any other folder (or an unreadable file)."""
    path = Path(root) / DEMO_INFO
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def version_number(version) -> int:
    """3 for "demo-3"; 0 for anything unrecognised (counts as older than every builder)."""
    head, _, num = str(version or "").rpartition("-")
    return int(num) if head == "demo" and num.isdigit() else 0


def rebuild_command(root: str | Path, info: dict) -> str:
    """The build-demo command that rebuilds ``root`` as it was built (same seed: same films
    and gaze, plus what the current builder adds)."""
    args = [f"--n {info.get('n', '?')}", f"--seed {info.get('seed', '?')}",
            f"--gaze-fraction {info.get('gaze_fraction', '?')}", f"--size {info.get('size', '?')}"]
    knobs, reader = info.get("knobs") or {}, info.get("reader") or {}
    for flag, value in (("--severity", knobs.get("severity")), ("--noise", knobs.get("noise")),
                        ("--variation", knobs.get("variation")), ("--gaze-miss", reader.get("miss"))):
        if value is not None and float(value) != 1.0:
            args.append(f"{flag} {value}")
    return f"python -m eclip.data build-demo {' '.join(args)} --out {root}"


def outdated_demo(root: str | Path, needs: str) -> str | None:
    """Why ``root`` lacks ``needs`` (e.g. "lung fields (lungs/<id>.npz)") when it is a demo
    corpus built before ``DEMO_VERSION``, with the command that rebuilds it; None otherwise."""
    info = read_demo_info(root)
    if info is None or version_number(info.get("version")) >= version_number(DEMO_VERSION):
        return None
    return (f"{root} is a demo corpus built by build-demo {info.get('version') or '(unversioned)'}, "
            f"before it stored {needs}; rebuild it with `{rebuild_command(root, info)}` "
            f"(the same seed gives the same films and gaze, now with {needs}).")
