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
from eclip.train.runfolder import ProgressRow, RunState, RunStatus, read_progress

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
    state: RunState
    step: int | None
    total: int | None
    updated: float  # newest of progress.jsonl, the folder and the launch record

    @property
    def status(self) -> RunStatus:
        return self.state.status


def _is_run_folder(d: Path) -> bool:
    return (not d.name.startswith(".") and d.is_dir()
            and ((d / RF.PROGRESS).is_file() or (d / RF.CONFIG).is_file()))


def _launched_names(root: Path) -> set[str]:
    """Training runs this app launched. Their folder may not exist yet: the trainer makes
    it only after importing torch and building the model (a minute on a busy machine),
    and until then the run must already show, as starting."""
    return {rec.name for rec in launch_records(root) if is_training(rec)}


def _updated(root: Path, name: str) -> float:
    candidates = [root / name / RF.PROGRESS, root / name, _record_path(root, name)]
    return max((p.stat().st_mtime for p in candidates if p.exists()), default=0.0)


def list_runs(root: str | Path) -> list[RunInfo]:
    """Runs under ``root`` (newest first): folders with config.json or progress.jsonl, and
    training runs launched from the app (RUNS/.app/) that have no such folder yet."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = {d.name for d in root.iterdir() if _is_run_folder(d)}
    runs = []
    for name in folders | _launched_names(root):
        d = root / name
        summary = summarize(read_progress(d), read_config(d), d)
        state = run_state(root, name, summary)
        if name in folders or state.status != RunStatus.STOPPED:  # stopped while starting,
            runs.append(RunInfo(name=name, path=d, state=state, step=summary.step,  # or deleted
                                total=summary.total, updated=_updated(root, name)))
    return sorted(runs, key=lambda r: (r.updated, r.name), reverse=True)


def run_state(root: str | Path, name: str, summary: Summary) -> RunState:
    """The one status of a run, for the runs table and the run's panel alike.

    STARTING / RUNNING while the process this app launched lives (RUNNING once its trainer
    has recorded itself in the run folder); otherwise what the folder says (finished,
    external, failed, stopped). A launched process that died without a word in the folder
    (a config error before the folder existed, a crash on import) is FAILED with the error
    line of its log; a stop before that (Stop while starting) is STOPPED."""
    root, rec = Path(root), load_launch(root, name)
    if rec is not None and is_alive(rec):
        started = _trainer_started(root / name, rec)
        return RunState(RunStatus.RUNNING if started else RunStatus.STARTING)
    state = RF.folder_state(root / name, reached_end=summary.finished)
    if state.status == RunStatus.STOPPED and rec is not None and not _ended_since(root / name, rec):
        error = log_error(rec)
        if error:
            return RunState(RunStatus.FAILED, error)
    return state


def _trainer_started(run_dir: Path, rec: LaunchRecord) -> bool:
    """The trainer of this launch wrote trainer.json (a resumed run's old one predates it)."""
    trainer = RF.read_trainer_record(run_dir)
    return trainer is not None and trainer.started_at >= rec.started_at - 1.0


def _ended_since(run_dir: Path, rec: LaunchRecord) -> bool:
    """The trainer of this launch (not an earlier one) recorded how it ended."""
    ended = RF.read_exit(run_dir)
    return ended is not None and ended.at >= rec.started_at - 1.0


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


# --------------------------------------------------------------------------- launching
@dataclass
class LaunchRecord:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    started_at: float
    log_start: int = 0  # the log's size at launch: where this process's output begins


def is_training(rec: LaunchRecord) -> bool:
    """A training run, not another job kept in RUNS/.app/ (the index builds)."""
    return rec.argv[1:3] == ["-m", "eclip.train"]


def is_index_build(rec: LaunchRecord) -> bool:
    """An embedding-index build launched by app/index_job.py."""
    return rec.argv[1:4] == ["-m", "eclip.index", "build"]


def launch_records(root: str | Path) -> list[LaunchRecord]:
    """Every readable launch record under ``root`` (RUNS/.app/*.json), of any job."""
    root = Path(root)
    found = (load_launch(root, path.stem) for path in (root / APP_DIR).glob("*.json"))
    return [rec for rec in found if rec is not None]


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
    log_start = log.stat().st_size if log.is_file() else 0
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, cwd=str(cwd), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
    _CHILDREN[proc.pid] = proc
    rec = LaunchRecord(name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
                       argv=list(argv), log=str(log), started_at=time.time(), log_start=log_start)
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
