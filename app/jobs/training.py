"""Training runs seen from the app: list run folders, read their progress and config, and
start or resume ``python -m eclip.train`` through the launcher (app.jobs.launcher).

The run folder's layout and row schema live in ``eclip.train.runfolder``, shared with the
trainer that writes them; a run's config is read through the config loader (eclip.config),
as the trainer wrote it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from app.jobs.launcher import (JobKind, LaunchRecord, is_alive, launch_records, load_launch, log_error,
                               record_path)
from app.jobs.launcher import launch as launch_job
from eclip.config import Config, config_from_json
from eclip.errors import ConfigError
from eclip.train import runfolder as RF
from eclip.train.runfolder import ProgressRow, RunState, RunStatus, read_progress

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# --------------------------------------------------------------------------- reading runs
def read_config(run_dir: str | Path) -> Config | None:
    """The run's config (``config.json``, as the trainer resolved it); None when it is
    missing, unreadable or no longer a valid config."""
    try:
        return config_from_json(json.loads((Path(run_dir) / RF.CONFIG).read_text(encoding="utf-8")))
    except (OSError, ValueError, ConfigError):
        return None


def total_steps(config: Config | None) -> int | None:
    steps = config.train.steps if config is not None else None
    return int(steps) if steps and steps > 0 else None


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


def summarize(rows: list[ProgressRow], config: Config | None, run_dir: str | Path | None = None) -> Summary:
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
    return {rec.name for rec in launch_records(root, JobKind.TRAINING)}


def _updated(root: Path, name: str) -> float:
    candidates = [root / name / RF.PROGRESS, root / name, record_path(root, name)]
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


def model_folders(run_dir: str | Path) -> list[Path]:
    """Loadable model folders of a run: final/ first, then resumable checkpoints."""
    run_dir = Path(run_dir)
    found = [run_dir / RF.FINAL] if RF.is_finished(run_dir) else []
    ck = run_dir / RF.CHECKPOINTS
    if ck.is_dir():
        found += sorted((p for p in ck.iterdir() if p.is_dir()), reverse=True)
    return found


# --------------------------------------------------------------------------- starting runs
def validate_name(name: str) -> str | None:
    """None when ``name`` is a usable run name, else the reason."""
    if not NAME_RE.match(name or ""):
        return "use 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    return None


def train_command(out: str | Path, config_file: str | None, sets: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "eclip.train"]
    if config_file:
        argv += ["--config", str(config_file)]
    for item in sets:
        argv += ["--set", item]
    return argv + ["--out", str(out)]


def resume_command(run_dir: str | Path) -> list[str]:
    return [sys.executable, "-m", "eclip.train", "--resume", str(run_dir)]


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


def launch(root: str | Path, name: str, argv: list[str], **kwargs) -> LaunchRecord:
    """Start the training run ``name`` (``train_command`` or ``resume_command``) under the runs
    folder ``root``."""
    return launch_job(root, name, JobKind.TRAINING, argv, **kwargs)
