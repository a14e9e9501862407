"""Where the app looks for datasets, checkpoints and runs (no Streamlit here).

Relative paths are taken from the repository root, because `make run` starts the app there
and the README names folders such as ``data/demo`` relative to it (an installed wheel: from
the working directory, eclip.locations.root).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from app.core.settings import AppSettings, settings
from eclip.locations import root
from eclip.memo import BoundedCache
from eclip.train.runfolder import FINAL

ROOT = root()
DEFAULT_DATA = AppSettings.data
DATA_ENV = "ECLIP_DATA"
CHECKPOINT_ENV = "ECLIP_CHECKPOINT"
RUNS_ENV = "ECLIP_RUNS"
NO_MODEL = "none"
BUILD_DEMO_HINT = (
    "Build the demo corpus with `make run` (it builds data/demo when missing) or "
    "`python -m eclip.data build-demo --n 2000 --out data/demo`."
)


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path; relative ones are taken from the repository root."""
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else ROOT / p


def display(path: str | os.PathLike) -> str:
    """A short label: relative to the repository root when inside it."""
    p = resolve(path)
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


# A pure function of the string (and ROOT), asked for every entry of the sidebar's lists on
# every page run (format_func): ~40 path parses a run, each a few microseconds.
_LABELS = BoundedCache(512, "folder labels")


def visitor_label(path: str | os.PathLike) -> str:
    """What a visitor may see of a folder: its path inside the repository (``data/demo``),
    else only its name; a folder elsewhere on the server is for the admin to see."""
    key = (os.fspath(path), str(ROOT), os.environ.get("HOME", ""))  # HOME: a "~/..." path
    return _LABELS.get_or_compute(key, lambda: _visitor_label(path))


def _visitor_label(path: str | os.PathLike) -> str:
    label = display(path)
    if not Path(label).is_absolute():
        return label
    p = resolve(path)
    return f"{p.parent.name}/{p.name}" if p.name == FINAL else p.name  # a run's RUN/final


_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/[^\s`'\"(),;]+")


def redact_folders(text: str) -> str:
    """``text`` (an error message) as a visitor may read it: every absolute path inside the
    repository made relative, every other one cut to its last two parts (``…/mimic/manifest.csv``)."""
    def short(m: re.Match) -> str:
        path = m.group(0).rstrip(".:")
        tail = m.group(0)[len(path):]
        label = display(path)
        if not Path(label).is_absolute():
            return label + tail
        parts = Path(path).parts[1:]
        return "…/" + "/".join(parts[-2:]) + tail
    return _ABSOLUTE.sub(short, text)


def command_path(path: str | os.PathLike, placeholder: str, admin: bool = False) -> str:
    """A folder as a command shown on a page names it: in full for the admin; for a visitor
    relative to the repository (``checkpoints/demo-eclip``), else ``placeholder``."""
    if admin:
        return str(resolve(path))
    label = display(path)
    return placeholder if Path(label).is_absolute() else label


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s`'\"<>()]+", re.IGNORECASE)
SERVER_WORD = "the configured server"


def redact_hosts(text: str, hosts=()) -> str:
    """``text`` (a draft's provenance, an error) as a visitor may read it: every URL and each
    of ``hosts`` (an Ollama host as configured: ``gpu-box:11434``, ``http://10.0.0.7:11434``),
    with or without its scheme, read "the configured server"."""
    out = _URL.sub(lambda m: SERVER_WORD + m.group(0)[len(m.group(0).rstrip(".,;:")):], str(text))
    names = set()
    for host in filter(None, hosts):
        host = str(host).strip().rstrip("/")
        names.add(host)
        names.add(host.split("://", 1)[-1])
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 4:  # never a word-sized fragment
            out = out.replace(name, SERVER_WORD)
    return out


def default_dataset() -> str:
    return settings().data


def dataset_candidates() -> list[str]:
    """The env/default dataset first, then every ``data/*`` folder holding a manifest."""
    found = [default_dataset()]
    data_dir = ROOT / "data"
    if data_dir.is_dir():
        for child in sorted(data_dir.iterdir()):
            if (child / "manifest.csv").is_file():
                found.append(display(child))
    return _unique(found)


def is_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and (
        (path / "model.safetensors").is_file() or (path / "card.json").is_file())


# Every page run lists the checkpoints two or three times (the sidebar's lists), a few file
# checks per folder: with hundreds of runs most of the sidebar's time. A listing is kept
# CANDIDATES_TTL_S seconds, and read again at once when runs/ or checkpoints/ itself changes
# (a run or checkpoint folder added or removed): what the TTL can hold back is a run's
# final/ appearing inside its folder, and the admin page forgets the listing then.
CANDIDATES_TTL_S = 5.0
_CANDIDATES = BoundedCache(8, "checkpoint listings")


def checkpoint_candidates() -> list[str]:
    """``none``, the env checkpoint when set, the folders under ``checkpoints/``, then the
    exported models of finished training runs (``runs/*/final``)."""
    key = (settings().checkpoint, str(ROOT), str(runs_root()),
           _mtime(ROOT / "checkpoints"), _mtime(runs_root()))
    kept = _CANDIDATES.get(key)
    if kept is not None and time.monotonic() - kept[0] < CANDIDATES_TTL_S:
        return list(kept[1])
    found = _list_checkpoints()
    _CANDIDATES.put(key, (time.monotonic(), found))
    return list(found)


def forget_checkpoints() -> None:
    """The next listing reads the folders again (a training run has just finished)."""
    _CANDIDATES.clear()


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _list_checkpoints() -> list[str]:
    found = [NO_MODEL]
    env = settings().checkpoint
    if env and env != NO_MODEL:
        found.append(env)
    ck_dir = ROOT / "checkpoints"
    if ck_dir.is_dir():
        found += [display(c) for c in sorted(ck_dir.iterdir()) if is_checkpoint(c)]
    if runs_root().is_dir():
        found += [display(d / FINAL) for d in sorted(runs_root().iterdir())
                  if is_checkpoint(d / FINAL)]
    return _unique(found)


PREFERRED_CHECKPOINT = "checkpoints/demo-eclip"


def default_checkpoint() -> str:
    """$ECLIP_CHECKPOINT ('none' allowed), else the shipped demo eCLIP model, else the
    first shipped checkpoint, else none."""
    env = settings().checkpoint
    if env:
        return env
    shipped = [c for c in checkpoint_candidates() if c.startswith("checkpoints/")]
    if PREFERRED_CHECKPOINT in shipped:
        return PREFERRED_CHECKPOINT
    return shipped[0] if shipped else NO_MODEL


def runs_root() -> Path:
    return resolve(settings().runs)


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = str(resolve(item)) if item != NO_MODEL else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
