"""Separate processes the app starts (it never trains or builds an index in its own process):
one launcher for every kind of job, each started detached with its output in a log file.

Every launch leaves a small record in ``RUNS/.app/NAME.json``: its kind, pid, process start
time, command and log, so a later visit can find the process again (the stop button, a
build's progress) and tell it from an unrelated process that later reused the pid. The kind
is recorded, never read back from the command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import psutil

from app.core.paths import ROOT
from eclip.io import write_json
from eclip.train import runfolder as RF

APP_DIR = ".app"


class JobKind(str, Enum):
    TRAINING = "training"  # python -m eclip.train (app.jobs.training)
    INDEX_BUILD = "index build"  # python -m eclip.index build (app.jobs.index_build)


@dataclass
class LaunchRecord:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    started_at: float
    log_start: int = 0  # the log's size at launch: where this process's output begins
    kind: JobKind | None = None  # None: a record an older app wrote, of no known kind
    start_ticks: int | None = None  # RF.process_start_ticks: survives a stepped wall clock


def record_path(root: str | Path, name: str) -> Path:
    return Path(root) / APP_DIR / f"{name}.json"


def launch(root: str | Path, name: str, kind: JobKind, argv: list[str], cwd: str | Path = ROOT,
           env: dict | None = None) -> LaunchRecord:
    """Start ``argv`` detached (own session, output to a log file) and record it as a job of
    ``kind`` named ``name`` under ``root`` (the runs folder)."""
    root = Path(root)
    (root / APP_DIR).mkdir(parents=True, exist_ok=True)
    log = root / APP_DIR / f"{name}.log"
    log_start = log.stat().st_size if log.is_file() else 0
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, cwd=str(cwd), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
    _CHILDREN[proc.pid] = proc
    rec = LaunchRecord(name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
                       argv=list(argv), log=str(log), started_at=time.time(), log_start=log_start,
                       kind=JobKind(kind), start_ticks=RF.process_start_ticks(proc.pid))
    write_json(record_path(root, name), asdict(rec) | {"kind": rec.kind.value}, indent=1)
    return rec


# Popen objects of children started by this app process: polled so finished ones are reaped.
_CHILDREN: dict[int, subprocess.Popen] = {}


def load_launch(root: str | Path, name: str) -> LaunchRecord | None:
    try:
        data = json.loads(record_path(root, name).read_text())
        rec = LaunchRecord(**data)
    except (OSError, ValueError, TypeError):
        return None
    try:
        rec.kind = None if rec.kind is None else JobKind(rec.kind)
    except ValueError:  # a kind this app does not know
        rec.kind = None
    return rec


def launch_records(root: str | Path, kind: JobKind | None = None) -> list[LaunchRecord]:
    """Every readable launch record under ``root`` (RUNS/.app/*.json), of ``kind`` or any."""
    found = (load_launch(root, path.stem) for path in (Path(root) / APP_DIR).glob("*.json"))
    return [rec for rec in found if rec is not None and (kind is None or rec.kind == kind)]


def is_alive(rec: LaunchRecord) -> bool:
    """True while the recorded process runs; a reused pid (other start time) is not ours."""
    child = _CHILDREN.get(rec.pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(rec.pid, None)
        return False
    return RF.process_alive(rec.pid, rec.create_time, rec.start_ticks)


def stop(rec: LaunchRecord) -> bool:
    """Send SIGTERM (the trainer saves a checkpoint and exits). False if it already ended."""
    if not is_alive(rec):
        return False
    try:
        # The job leads its own process group (start_new_session), so torchrun workers get
        # the signal too; nothing outside what this app started is touched. Data-loader
        # workers have left the group (eclip.train.dataset.worker_init): the trainer saves,
        # then stops them itself.
        if os.getpgid(rec.pid) == rec.pid:
            os.killpg(rec.pid, signal.SIGTERM)
        else:
            os.kill(rec.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def tail(path: str | Path, n_bytes: int = 4000, start: int = 0) -> str:
    """The last ``n_bytes`` of a file, none before offset ``start``; "" if unreadable."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(start, fh.tell() - n_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def log_error(rec: LaunchRecord) -> str | None:
    """The error the launched process wrote last: the CLI's ``error: ...`` line, else the
    exception line closing a Python traceback. None when its log shows neither. Only this
    launch's part of the log is read: a resume appends to the log of the runs before it."""
    lines = tail(rec.log, 20_000, start=rec.log_start).replace("\r", "\n").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error: "):
            return lines[i][len("error: "):].strip()
        if lines[i].startswith("Traceback (most recent call last)"):
            closing = [x for x in lines[i + 1:] if x.strip() and not x[0].isspace()]
            return closing[0].strip() if closing else None
    return None
