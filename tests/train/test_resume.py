"""Kill/resume exactness, SIGTERM, and non-finite losses."""

import json
import os
import shutil
import signal
import threading
import time

import psutil
import pytest
import torch

from eclip.model import load_model
from eclip.train.__main__ import main
from eclip.train import runfolder as RF
from eclip.train.runfolder import read_progress

from .helpers import cli_args, finish, popen, state
from floats import assert_close
from tiny_data import make_tiny_dataset

SETS = ("train.steps=12", "train.ckpt_every=6", "train.keep_checkpoints=5", "train.log_every=1")


def _simulate_kill_after(run, step):
    """Leave the run as a kill right after checkpoint ``step`` would have left it."""
    ck = run / "checkpoints"
    for d in ck.glob("step_*"):
        if int(d.name.split("_")[1]) > step:
            shutil.rmtree(d)
    shutil.rmtree(run / "final", ignore_errors=True)
    (ck / "latest.json").write_text(json.dumps({"step": step, "dir": f"step_{step:06d}"}))


def _assert_same_state(a, b, atol=None):
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        if k.startswith("rng."):
            continue
        if atol is None:  # bit for bit: the same steps replayed in the same order
            assert torch.equal(sa[k], sb[k]), k
        else:
            assert_close(sa[k].float(), sb[k].float(), atol=atol, rtol=0, err_msg=str(k))


def test_half_then_resume_equals_straight(tiny_dataset, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(cli_args(tiny_dataset, straight, *SETS)) == 0
    assert main(cli_args(tiny_dataset, resumed, *SETS)) == 0
    _simulate_kill_after(resumed, 6)
    assert main(["--resume", str(resumed)]) == 0
    _assert_same_state(straight / "checkpoints/step_000012", resumed / "checkpoints/step_000012", atol=1e-6)
    a, b = read_progress(straight), read_progress(resumed)
    assert [r.step for r in b] == list(range(1, 13))  # 7..12 once: the first run's were dropped
    assert [r.losses["loss"] for r in a] == pytest.approx([r.losses["loss"] for r in b], abs=1e-6)
    assert load_model(resumed / "final").card["steps"] == 12


def test_resume_refuses_existing_out_and_missing_checkpoints(tiny_dataset, tmp_path):
    run = tmp_path / "r"
    assert main(cli_args(tiny_dataset, run, "train.steps=2")) == 0
    assert main(cli_args(tiny_dataset, run, "train.steps=2")) == 2  # would clobber checkpoints
    shutil.rmtree(run / "checkpoints")
    assert main(["--resume", str(run)]) == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "nan"
    assert main(cli_args(tiny_dataset, run, "train.steps=12", "train.ckpt_every=6")) == 0
    _simulate_kill_after(run, 6)
    good = (run / "checkpoints/step_000006/model.safetensors").read_bytes()
    assert main(["--resume", str(run), "--set", "train.lr=1e30"]) == 2
    err = capsys.readouterr().err
    assert "not finite" in err and "step_000006" in err and "Lower train.lr" in err
    assert json.loads((run / "checkpoints/latest.json").read_text())["step"] == 6
    assert (run / "checkpoints/step_000006/model.safetensors").read_bytes() == good
    assert not (run / "final").exists()
    # log_every 5: the first run logged 5, 10, 12; the resume from step 6 must drop 10 and 12,
    # and it fails before its own next row (10), so the row before the checkpoint remains, once.
    steps = [r.step for r in read_progress(run)]
    assert steps == [5]


def _wait_for(path, proc, timeout=60):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < timeout, "timed out waiting for " + str(path)
        time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_saves_and_exits_zero(tiny_dataset, tmp_path):
    run = tmp_path / "term"
    proc = popen(cli_args(tiny_dataset, run, "train.steps=100000", "train.log_every=1"))
    _wait_for(run / "progress.jsonl", proc)
    while not (run / "progress.jsonl").read_text().strip():
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out = finish(proc, timeout=60)
    assert proc.returncode == 0, out
    assert "stopped (checkpoint saved)" in out
    latest = json.loads((run / "checkpoints/latest.json").read_text())
    assert 0 < latest["step"] < 100000
    rows = [json.loads(x) for x in (run / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == latest["step"]
    assert not (run / "final").exists()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_straight(tiny_dataset, tmp_path):
    sets = ("train.steps=20", "train.ckpt_every=5", "train.keep_checkpoints=20")
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    proc = popen(cli_args(tiny_dataset, killed, *sets))
    _wait_for(killed / "checkpoints/step_000010", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (killed / "final").exists()
    assert main(["--resume", str(killed)]) == 0
    assert main(cli_args(tiny_dataset, straight, *sets)) == 0
    _assert_same_state(straight / "checkpoints/step_000020", killed / "checkpoints/step_000020", atol=1e-6)


def _wait_for_rows(run, proc, timeout=120):
    _wait_for(run / "progress.jsonl", proc, timeout)
    while not read_progress(run):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)


@pytest.mark.slow
def test_group_sigterm_with_a_loader_worker_saves_then_resume_finishes(tiny_dataset, tmp_path):
    """The app's Stop: SIGTERM to the run's whole process group, data-loader worker
    included. The worker used to die of it and take the trainer down unsaved (exit 1)."""
    run = tmp_path / "group"
    sets = ("train.steps=24", "train.log_every=1", "train.ckpt_every=1000", "data.workers=1")
    proc = popen(cli_args(tiny_dataset, run, *sets))
    _wait_for_rows(run, proc)
    workers = psutil.Process(proc.pid).children()
    assert workers, "no data-loader worker: the test would not test it"
    os.killpg(proc.pid, signal.SIGTERM)
    out = finish(proc, timeout=120)
    assert proc.returncode == 0, out
    assert "stopped (checkpoint saved) by SIGTERM" in out and "killed by signal" not in out
    stopped_at = json.loads((run / "checkpoints/latest.json").read_text())["step"]
    assert 0 < stopped_at < 24 and read_progress(run)[-1].step == stopped_at
    assert RF.read_exit(run).status == RF.RunStatus.STOPPED
    assert RF.folder_status(run) == RF.RunStatus.STOPPED and not (run / "final").exists()
    psutil.wait_procs(workers, timeout=15)  # the trainer shut its worker down
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    resumed = popen(["--resume", str(run)])
    out = finish(resumed, timeout=300)
    assert resumed.returncode == 0, out
    assert (run / "final").is_dir() and RF.read_exit(run).status == RF.RunStatus.FINISHED
    assert [r.step for r in read_progress(run)] == list(range(1, 25))  # each step once


def _read_lines(proc, seen: list[str], marker: str, found: threading.Event) -> None:
    for line in iter(proc.stdout.readline, ""):
        seen.append(line)
        if marker in line:
            found.set()


@pytest.mark.slow
def test_a_second_ctrl_c_aborts_without_saving(tmp_path):
    """Ctrl-C reaches the terminal's whole foreground group. The first asks for a save at
    the end of the step; a second, sent as soon as the first is acknowledged (long before
    the first step and its checkpoint are done), aborts: exit 130, nothing saved."""
    run = tmp_path / "abort"
    # A 12-block ViT at 224 px on batches of 32: the first step takes several seconds, so the
    # second Ctrl-C lands inside it even on a loaded machine (at batch 8 the ~1 s step could
    # finish and save first while the test waited for a core).
    data = make_tiny_dataset(tmp_path / "data", n=60)
    proc = popen(cli_args(data, run, "train.steps=1000", "train.log_every=1", "data.workers=1",
                          "model.arch=eclip-vit-tiny", "train.batch_size=32"))
    seen, acknowledged = [], threading.Event()
    reader = threading.Thread(target=_read_lines, args=(proc, seen, "SIGINT received", acknowledged))
    reader.start()
    try:
        _wait_for(run / RF.TRAINER, proc, timeout=120)  # the model is built, the loop about to start
        os.killpg(proc.pid, signal.SIGINT)
        assert acknowledged.wait(30), "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join()
    out = "".join(seen)
    assert proc.returncode == 130, out
    assert "aborted by Ctrl-C" in out and "stopped (checkpoint saved)" not in out
    assert not (run / "checkpoints").exists()
    ended = RF.read_exit(run)
    assert ended.status == RF.RunStatus.STOPPED and "aborted" in ended.message
