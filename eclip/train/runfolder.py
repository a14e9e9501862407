"""The run folder: the one schema between the trainer (which writes it) and the app (which
reads it), so neither side retypes a file name or guesses a key.

    RUN/config.json      the resolved config                         CONFIG
    RUN/progress.jsonl   one ProgressRow per logged step             PROGRESS
    RUN/trainer.json     pid + start time of the writing process     TRAINER
    RUN/exit.json        how that process ended: status + message     EXIT
    RUN/checkpoints/     resumable states (eclip.train.checkpoints)  CHECKPOINTS
    RUN/final/           the exported model, once finished           FINAL

Light on purpose (no torch): the app imports it on every page load.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path

from eclip.io import atomic_write_text, write_json

CONFIG, PROGRESS, TRAINER, EXIT = "config.json", "progress.jsonl", "trainer.json", "exit.json"
CHECKPOINTS, FINAL = "checkpoints", "final"
TOTAL_LOSS = "loss"  # the loss that is optimised; its parts are "loss_<part>"


class RunStatus(StrEnum):
    """What the app shows for a run; the values are the UI text."""

    STARTING = "starting"  # launched by the app; its trainer has not written trainer.json yet
    RUNNING = "running"  # a trainer the app launched itself
    EXTERNAL = "external"  # a live trainer started elsewhere (e.g. a terminal)
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped on request (resumable from its last checkpoint) or killed
    FAILED = "failed"  # ended with an error; the message says which


@dataclass(frozen=True)
class RunState:
    """A status and the words that go with it: the error of a failed run, how a stopped
    one stopped ("" when nothing recorded it, e.g. after a SIGKILL)."""

    status: RunStatus
    message: str = ""


# --------------------------------------------------------------------------- progress rows
@dataclass(frozen=True)
class ProgressRow:
    """One line of progress.jsonl. The JSON keys are the field names, except ``losses``,
    whose entries are flat top-level keys (``loss``, ``loss_clip``, ``loss_mse``), as the
    trainer has always written them. Fields other than ``step`` may be missing in rows
    from older runs; they read as None."""

    step: int  # optimisation steps done
    epoch: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    p_expert: float | None = None  # the curriculum's chance of an expert batch at this step
    expert: bool | None = None  # whether this step had one
    lam: float | None = None
    priming: bool | None = None
    temperature: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    wall_time_s: float | None = None

    def to_json(self) -> dict:
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "losses":
                out.update(value)
            elif value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data) -> ProgressRow | None:
        """The row in ``data``, or None when it is not one (no numeric step)."""
        if not isinstance(data, dict) or not _is_number(data.get("step")):
            return None
        kwargs = {f.name: _typed(data.get(f.name), f.type) for f in fields(cls)
                  if f.name not in ("step", "losses")}
        losses = {k: float(v) for k, v in data.items() if is_loss_key(k) and _is_number(v)}
        return cls(step=int(data["step"]), losses=losses, **kwargs)


def is_loss_key(key: str) -> bool:
    return key == TOTAL_LOSS or key.startswith(TOTAL_LOSS + "_")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed(value, annotation: str):
    """A field's value if it has the field's type, else None (a row is display data: one
    odd value must not make the whole row, or the app page, fail). ``annotation`` is the
    field's type as text (this module postpones annotations): "bool | None" or a number."""
    if annotation.startswith("bool"):
        return value if isinstance(value, bool) else None
    return float(value) if _is_number(value) else None


def append_row(run_dir: str | Path, row: ProgressRow) -> None:
    """One line per call, in one write: a reader sees the old file or a half line it skips."""
    with open(Path(run_dir) / PROGRESS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row.to_json()) + "\n")


def _parsed_lines(run_dir: str | Path) -> list[tuple[str, ProgressRow]]:
    try:
        text = (Path(run_dir) / PROGRESS).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        try:
            row = ProgressRow.from_json(json.loads(line))
        except (ValueError, OverflowError):  # the trainer is appending now, a kill cut a line,
            continue  # or a step of NaN / 1e400 (int() of it) in a hand-edited file
        if row is not None:
            found.append((line, row))
    return found


def read_progress(run_dir: str | Path) -> list[ProgressRow]:
    """Every complete row of progress.jsonl; blank, half-written and corrupt lines are
    skipped, never fatal. [] when the file does not exist (yet)."""
    return [row for _, row in _parsed_lines(run_dir)]


def truncate_progress(run_dir: str | Path, step: int) -> None:
    """Keep the rows up to ``step`` (the checkpoint a resume restarts from; 0 for a new
    run, which empties the file). The kept lines are copied verbatim, so keys this
    version does not know survive a resume."""
    keep = [line for line, row in _parsed_lines(run_dir) if row.step <= step]
    atomic_write_text(Path(run_dir) / PROGRESS, "".join(line + "\n" for line in keep))


def loss_names(rows: list[ProgressRow]) -> list[str]:
    """Loss keys in first-seen order, the total first."""
    names = list(dict.fromkeys(k for row in rows for k in row.losses))
    return sorted(names, key=lambda k: (k != TOTAL_LOSS, names.index(k)))


# --------------------------------------------------------------------------- the trainer process
@dataclass(frozen=True)
class TrainerRecord:
    """Who writes the folder: enough to find that process again without scanning the
    machine, and to tell it from an unrelated process that later reused the pid."""

    pid: int
    create_time: float  # psutil's process start time (epoch seconds)
    host: str
    started_at: float
    start_ticks: int | None = None  # process_start_ticks; None where the OS has no /proc


def write_trainer_record(run_dir: str | Path, pid: int | None = None) -> TrainerRecord:
    """Record process ``pid`` (default: the caller, rank 0 of the trainer) in RUN/trainer.json."""
    import psutil

    pid = os.getpid() if pid is None else pid
    rec = TrainerRecord(pid=pid, create_time=psutil.Process(pid).create_time(),
                        host=socket.gethostname(), started_at=time.time(),
                        start_ticks=process_start_ticks(pid))
    write_json(Path(run_dir) / TRAINER, asdict(rec))
    return rec


def read_trainer_record(run_dir: str | Path) -> TrainerRecord | None:
    try:
        data = json.loads((Path(run_dir) / TRAINER).read_text(encoding="utf-8"))
        ticks = data.get("start_ticks")
        return TrainerRecord(pid=int(data["pid"]), create_time=float(data["create_time"]),
                             host=str(data["host"]), started_at=float(data["started_at"]),
                             start_ticks=ticks if isinstance(ticks, int) else None)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux: /proc/PID/stat, field
    22), or None without /proc. It never changes for a process, whereas psutil's create_time
    adds it to a boot time derived from the wall clock, which moves when the clock is stepped
    (a virtual machine restored, a laptop woken): a trainer's recorded create_time can then be
    seconds off its own."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # fields after the command name start at 3
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int, create_time: float, start_ticks: int | None = None) -> bool:
    """True while process ``pid`` runs and is the one that was recorded: the same
    ``start_ticks`` where both are known, else started at ``create_time`` (a reused pid has
    another start; a zombie has exited but is not reaped yet)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        ticks = process_start_ticks(pid) if start_ticks is not None else None
        if ticks is not None:
            return ticks == start_ticks
        return abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def live_trainer(run_dir: str | Path) -> int | None:
    """The pid of the live trainer recorded in RUN/trainer.json, else None. One process
    looked up, never the whole process table; a trainer on another host cannot be seen."""
    rec = read_trainer_record(run_dir)
    if rec is None or rec.host != socket.gethostname():
        return None
    return rec.pid if process_alive(rec.pid, rec.create_time, rec.start_ticks) else None


# --------------------------------------------------------------------------- how it ended
@dataclass(frozen=True)
class ExitRecord:
    """The trainer's last word, written as its process ends (rank 0 only). A kill -9 or a
    power cut writes nothing: then the folder alone cannot tell a crash from a stop."""

    status: RunStatus  # FINISHED, STOPPED or FAILED
    message: str
    step: int | None
    at: float  # epoch seconds: lets the app tell this ending from an older one


def write_exit(run_dir: str | Path, status: RunStatus, message: str, step: int | None = None) -> None:
    write_json(Path(run_dir) / EXIT, {"status": status.value, "message": message, "step": step,
                                      "at": time.time()})


def read_exit(run_dir: str | Path) -> ExitRecord | None:
    try:
        data = json.loads((Path(run_dir) / EXIT).read_text(encoding="utf-8"))
        step = data.get("step")
        return ExitRecord(status=RunStatus(data["status"]), message=str(data["message"]),
                          step=int(step) if _is_number(step) else None, at=float(data["at"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def clear_exit(run_dir: str | Path) -> None:
    """A (re)started trainer: the previous ending no longer describes the run."""
    (Path(run_dir) / EXIT).unlink(missing_ok=True)


def is_finished(run_dir: str | Path) -> bool:
    """The trainer exports final/ only after its last step."""
    return (Path(run_dir) / FINAL).is_dir()


def folder_state(run_dir: str | Path, reached_end: bool = False) -> RunState:
    """finished | external | failed | stopped, from the folder alone (STARTING and RUNNING
    need the launcher's own record, which the app holds). ``reached_end``: the last row is
    at the final step (runs from before final/ was exported); an error recorded after it
    (e.g. while exporting) still reads as failed."""
    if is_finished(run_dir):
        return RunState(RunStatus.FINISHED)
    if live_trainer(run_dir) is not None:
        return RunState(RunStatus.EXTERNAL)
    ended = read_exit(run_dir)
    if ended is not None and ended.status == RunStatus.FAILED:
        return RunState(RunStatus.FAILED, ended.message)
    if reached_end:
        return RunState(RunStatus.FINISHED)
    return RunState(RunStatus.STOPPED, ended.message if ended is not None else "")


def folder_status(run_dir: str | Path, reached_end: bool = False) -> RunStatus:
    return folder_state(run_dir, reached_end).status
