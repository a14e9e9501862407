"""The run-folder schema shared by the trainer and the app: rows, file names, status."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from eclip.io import write_json
from eclip.train import runfolder as RF
from eclip.train.runfolder import ProgressRow, RunStatus


def _row(step: int, **kw) -> ProgressRow:
    base = dict(epoch=0, losses={"loss": 2.5, "loss_clip": 2.0, "loss_mse": 0.5}, lr=1e-4,
                p_expert=0.25, expert=True, lam=0.7, priming=False, temperature=0.07,
                images_per_s=42.0, eta_s=12.0, wall_time_s=3.0)
    return ProgressRow(step=step, **{**base, **kw})


def test_a_row_round_trips_with_the_keys_the_trainer_always_wrote(tmp_path):
    rows = [_row(1), _row(2, expert=False, losses={"loss": 2.0, "loss_clip": 1.8, "loss_mse": 0.2})]
    for row in rows:
        RF.append_row(tmp_path, row)
    assert RF.read_progress(tmp_path) == rows
    raw = json.loads((tmp_path / RF.PROGRESS).read_text().splitlines()[0])
    assert list(raw) == ["step", "epoch", "loss", "loss_clip", "loss_mse", "lr", "p_expert", "expert",
                         "lam", "priming", "temperature", "images_per_s", "eta_s", "wall_time_s"]


def test_half_written_and_corrupt_lines_are_skipped(tmp_path):
    (tmp_path / RF.PROGRESS).write_text(
        '{"step": 1, "loss": 3.0}\nnot json\n[1]\n\n{"loss": 1.0}\n{"step": NaN}\n{"step": 1e400}\n'
        '{"step": 2, "lr": "x"}\n{"st')
    rows = RF.read_progress(tmp_path)
    assert [r.step for r in rows] == [1, 2]  # a list, a row without a step and the cut line dropped
    assert rows[0].losses == {"loss": 3.0} and rows[1].lr is None  # an odd value reads as missing
    assert RF.read_progress(tmp_path / "missing") == []


def test_truncate_keeps_rows_up_to_the_checkpoint_verbatim(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0, "future_key": s}) for s in (5, 10, 12)]
    (tmp_path / RF.PROGRESS).write_text("\n".join(lines) + '\n{"step": 1')  # a kill cut the last
    RF.truncate_progress(tmp_path, 6)
    assert (tmp_path / RF.PROGRESS).read_text() == lines[0] + "\n"
    RF.truncate_progress(tmp_path, 0)  # a new run starts empty
    assert (tmp_path / RF.PROGRESS).read_text() == ""


def test_loss_names_put_the_total_first():
    rows = [ProgressRow(step=1, losses={"loss_clip": 1.0, "loss": 2.0}),
            ProgressRow(step=2, losses={"loss_expert": 0.5, "loss": 1.5})]
    assert RF.loss_names(rows) == ["loss", "loss_clip", "loss_expert"]


def test_status_values_are_the_ui_text():
    assert [s.value for s in RunStatus] == ["starting", "running", "external", "finished", "stopped", "failed"]
    assert RunStatus.EXTERNAL == "external"


def _record(run, pid, create_time):
    write_json(run / RF.TRAINER, {"pid": pid, "create_time": create_time,
                                  "host": socket.gethostname(), "started_at": 0.0})


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: the pid names no process (until the OS reuses it)
    return proc.pid


def test_folder_status(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert RF.folder_status(run) == RunStatus.STOPPED  # no trainer.json
    me = psutil.Process()
    _record(run, me.pid, me.create_time())
    assert RF.folder_status(run) == RunStatus.EXTERNAL and RF.live_trainer(run) == me.pid
    _record(run, me.pid, me.create_time() - 60)  # our pid, but another process's start time
    assert RF.folder_status(run) == RunStatus.STOPPED
    _record(run, _dead_pid(), me.create_time())
    assert RF.folder_status(run) == RunStatus.STOPPED
    write_json(run / RF.TRAINER, {"pid": me.pid, "create_time": me.create_time(), "host": "elsewhere",
                                  "started_at": 0.0})
    assert RF.folder_status(run) == RunStatus.STOPPED  # a pid on another host says nothing here
    (run / RF.TRAINER).write_text('{"pid": 1')  # half-written: as if absent
    assert RF.folder_status(run) == RunStatus.STOPPED
    assert RF.folder_status(run, reached_end=True) == RunStatus.FINISHED
    (run / RF.FINAL).mkdir()
    assert RF.folder_status(run) == RunStatus.FINISHED


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="no /proc on this OS")


@needs_proc
def test_a_trainer_stays_live_when_the_wall_clock_steps(tmp_path):
    """psutil's create_time follows a stepped wall clock (measured: a restored VM moved it 31 s
    under two running trainers, which then read as stopped); the start in ticks since boot does not."""
    me = psutil.Process()
    ticks = RF.process_start_ticks(me.pid)
    assert ticks == RF.process_start_ticks(me.pid) and ticks >= 0
    record = {"pid": me.pid, "host": socket.gethostname(), "started_at": 0.0}
    write_json(tmp_path / RF.TRAINER, record | {"create_time": me.create_time() - 31, "start_ticks": ticks})
    assert RF.live_trainer(tmp_path) == me.pid
    # the same pid, started at another tick: another process, whatever the clock says
    write_json(tmp_path / RF.TRAINER, record | {"create_time": me.create_time(), "start_ticks": ticks + 1})
    assert RF.live_trainer(tmp_path) is None
    assert RF.process_start_ticks(_dead_pid()) is None


def test_the_trainer_records_this_process(tmp_path):
    rec = RF.write_trainer_record(tmp_path)
    assert RF.read_trainer_record(tmp_path) == rec and rec.pid == os.getpid()
    assert (rec.start_ticks is not None) == Path("/proc/self/stat").is_file()
    assert RF.live_trainer(tmp_path) == os.getpid()


def test_an_exited_unreaped_trainer_is_not_live(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ps = psutil.Process(proc.pid)  # Popen reaps only in wait()/poll(): a zombie until then
    try:
        deadline = time.time() + 10
        while ps.status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
            time.sleep(0.01)
        _record(tmp_path, proc.pid, ps.create_time())
        assert RF.live_trainer(tmp_path) is None
    finally:
        proc.wait()


def test_how_the_trainer_ended_decides_failed_over_stopped(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    RF.write_exit(run, RunStatus.FAILED, "training stopped at step 3: the loss is not finite", step=3)
    ended = RF.read_exit(run)
    assert (ended.status, ended.step) == (RunStatus.FAILED, 3) and ended.at > 0
    assert RF.folder_state(run) == RF.RunState(RunStatus.FAILED, "training stopped at step 3: the loss is not finite")
    # an error after the last row (e.g. exporting final/) is still an error
    assert RF.folder_state(run, reached_end=True).status == RunStatus.FAILED
    me = psutil.Process()
    _record(run, me.pid, me.create_time())  # a resumed trainer is live: the old ending is past
    assert RF.folder_state(run).status == RunStatus.EXTERNAL
    (run / RF.TRAINER).unlink()
    RF.write_exit(run, RunStatus.STOPPED, "stopped (checkpoint saved) by SIGTERM after 4 steps", step=4)
    assert RF.folder_state(run) == RF.RunState(RunStatus.STOPPED, "stopped (checkpoint saved) by SIGTERM after 4 steps")
    RF.clear_exit(run)
    assert RF.read_exit(run) is None and RF.folder_state(run) == RF.RunState(RunStatus.STOPPED, "")
    RF.clear_exit(run)  # nothing to clear: no error
    (run / RF.EXIT).write_text('{"status": "exploded", "message": "x", "at": 1}')
    assert RF.read_exit(run) is None  # not a status this version knows: as if absent
    (run / RF.FINAL).mkdir()
    RF.write_exit(run, RunStatus.FAILED, "late")
    assert RF.folder_state(run).status == RunStatus.FINISHED  # the exported model is there
