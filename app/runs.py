"""Training runs seen from the app: list run folders, read their progress, launch and stop
``python -m eclip.train`` as a separate process (the app never trains in its own process).

The run folder's layout and row schema live in ``eclip.train.runfolder``, shared with the
trainer that writes them. Runs launched here also get a small record in ``RUNS/.app/``
(pid, process start time, command, log file) so the stop button can find the process again,
and can tell it from an unrelated process that later reused the pid.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from app.paths import ROOT
from eclip.io import write_json
from eclip.train import runfolder as RF
from eclip.train.runfolder import ProgressRow, RunStatus, read_progress

APP_DIR = ".app"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# --------------------------------------------------------------------------- reading runs
def read_config(run_dir: str | Path) -> dict:
    try:
        data = json.loads((Path(run_dir) / RF.CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def total_steps(config: dict) -> int | None:
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    for value in (train.get("steps"), config.get("steps")):
        if isinstance(value, (int, float)) and value > 0:
            return int(value)
    return None


@dataclass
class Summary:
    step: int | None
    total: int | None
    fraction: float | None
    epoch: float | None
    lr: float | None
    p_expert: float | None
    images_per_s: float | None
    eta_s: float | None
    losses: dict[str, float]  # the finite ones: a NaN has no place in a metric
    finished: bool


def summarize(rows: list[ProgressRow], config: dict, run_dir: str | Path | None = None) -> Summary:
    """The latest state of a run. A run is finished when eclip.train exported its final
    model (``final/``) or the last row reached the configured number of steps."""
    total = total_steps(config)
    last = rows[-1] if rows else ProgressRow(step=0)
    step = last.step if rows else None
    fraction = min(1.0, step / total) if (step is not None and total) else None
    finished = (run_dir is not None and RF.is_finished(run_dir)) or (
        fraction is not None and fraction >= 1.0)
    losses = {k: v for k, v in last.losses.items() if math.isfinite(v)}
    return Summary(step=step, total=total, fraction=fraction, epoch=last.epoch, lr=last.lr,
                   p_expert=last.p_expert, images_per_s=last.images_per_s, eta_s=last.eta_s,
                   losses=losses, finished=finished)


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


@dataclass
class RunInfo:
    name: str
    path: Path
    status: RunStatus
    step: int | None
    total: int | None
    updated: float  # mtime of progress.jsonl (or the folder)


def list_runs(root: str | Path) -> list[RunInfo]:
    """Run folders under ``root`` (newest first): folders with config.json or progress.jsonl."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        prog = d / RF.PROGRESS
        if not (prog.is_file() or (d / RF.CONFIG).is_file()):
            continue
        summary = summarize(read_progress(d), read_config(d), d)
        updated = (prog if prog.is_file() else d).stat().st_mtime
        runs.append(RunInfo(name=d.name, path=d, status=run_status(root, d.name, summary),
                            step=summary.step, total=summary.total, updated=updated))
    return sorted(runs, key=lambda r: r.updated, reverse=True)


def run_status(root: str | Path, name: str, summary: Summary) -> RunStatus:
    """RUNNING when this app launched the live trainer; otherwise what the folder says
    (finished, external when its recorded trainer is alive, stopped)."""
    rec = load_launch(root, name)
    if rec is not None and is_alive(rec):
        return RunStatus.RUNNING
    return RF.folder_status(Path(root) / name, reached_end=summary.finished)


# --------------------------------------------------------------------------- launching
@dataclass
class LaunchRecord:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    started_at: float


def validate_name(name: str) -> str | None:
    """None when ``name`` is a usable run name, else the reason."""
    if not NAME_RE.match(name or ""):
        return "use 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    return None


def resume_command(run_dir: str | Path) -> list[str]:
    return [sys.executable, "-m", "eclip.train", "--resume", str(run_dir)]


def model_folders(run_dir: str | Path) -> list[Path]:
    """Loadable model folders of a run: final/ first, then resumable checkpoints."""
    run_dir = Path(run_dir)
    found = [run_dir / RF.FINAL] if RF.is_finished(run_dir) else []
    ck = run_dir / RF.CHECKPOINTS
    if ck.is_dir():
        found += sorted((p for p in ck.iterdir() if p.is_dir()), reverse=True)
    return found


def train_command(out: str | Path, config_file: str | None, sets: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "eclip.train"]
    if config_file:
        argv += ["--config", str(config_file)]
    for item in sets:
        argv += ["--set", item]
    return argv + ["--out", str(out)]


def parse_sets(text: str) -> list[str]:
    """One ``key=value`` per line; blank lines and # comments ignored."""
    items = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            if "=" not in line:
                raise ValueError(f"{line!r} is not KEY=VALUE (e.g. train.steps=200)")
            items.append(line)
    return items


def _record_path(root: Path, name: str) -> Path:
    return Path(root) / APP_DIR / f"{name}.json"


def launch(root: str | Path, name: str, argv: list[str], cwd: str | Path = ROOT,
           env: dict | None = None) -> LaunchRecord:
    """Start ``argv`` detached (own session, output to a log file) and record it."""
    root = Path(root)
    (root / APP_DIR).mkdir(parents=True, exist_ok=True)
    log = root / APP_DIR / f"{name}.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, cwd=str(cwd), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
    _CHILDREN[proc.pid] = proc
    rec = LaunchRecord(name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
                       argv=list(argv), log=str(log), started_at=time.time())
    write_json(_record_path(root, name), asdict(rec), indent=1)
    return rec


# Popen objects of children started by this app process: polled so finished ones are reaped.
_CHILDREN: dict[int, subprocess.Popen] = {}


def load_launch(root: str | Path, name: str) -> LaunchRecord | None:
    try:
        return LaunchRecord(**json.loads(_record_path(Path(root), name).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_alive(rec: LaunchRecord) -> bool:
    """True while the recorded process runs; a reused pid (other start time) is not ours."""
    child = _CHILDREN.get(rec.pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(rec.pid, None)
        return False
    return RF.process_alive(rec.pid, rec.create_time)


def stop(rec: LaunchRecord) -> bool:
    """Send SIGTERM (the trainer saves a checkpoint and exits). False if it already ended."""
    if not is_alive(rec):
        return False
    try:
        # The run leads its own process group (start_new_session), so torchrun workers get
        # the signal too; nothing outside what this app started is touched.
        if os.getpgid(rec.pid) == rec.pid:
            os.killpg(rec.pid, signal.SIGTERM)
        else:
            os.kill(rec.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def tail(path: str | Path, n_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - n_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
