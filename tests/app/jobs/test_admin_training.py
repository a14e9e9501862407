"""The admin page driving real `python -m eclip.train` processes on the tiny dataset:
launch -> poll -> finish, launch -> Stop (SIGTERM) -> Resume, and launches that fail."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from app.jobs import launcher
from eclip.train.runfolder import RunStatus, read_exit, read_progress, read_trainer_record

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
CONFIG = "configs/test-tiny.toml"
pytestmark = pytest.mark.slow


def _unlocked_admin(monkeypatch) -> AppTest:
    monkeypatch.setenv("ECLIP_ADMIN_PASSWORD", "pw")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page("views/admin.py").run()
    at.text_input(key="admin_pw").input("pw")
    at.button[0].click().run()
    assert not at.exception
    return at


def _launch(at: AppTest, root: Path, name: str, overrides: str) -> launcher.LaunchRecord:
    at.main.text_input[0].input(name)
    cfg_box = at.main.selectbox[0]
    if CONFIG in cfg_box.options:
        cfg_box.select(CONFIG)
    at.text_area[0].input(overrides)
    next(b for b in at.button if b.label == "Launch").click().run()
    assert not at.exception
    return launcher.load_launch(root, name)


def _wait_exit(rec: launcher.LaunchRecord, timeout: float = 120) -> int | None:
    try:
        return psutil.Process(rec.pid).wait(timeout=timeout)
    except psutil.NoSuchProcess:
        return None


def _stop_quietly(rec: launcher.LaunchRecord | None) -> None:
    if rec is not None and launcher.stop(rec):
        _wait_exit(rec, 60)


def test_admin_launches_real_training_and_sees_it_finish(app_env, monkeypatch):
    """The form starts the trainer, which writes its run folder; the polling panel reads
    it; the exported model becomes selectable in the sidebar."""
    at = _unlocked_admin(monkeypatch)
    rec = _launch(at, app_env["runs"], "real", f"data.root={app_env['data']}\ntrain.steps=4\ntrain.log_every=2\n")
    try:
        assert _wait_exit(rec) in (0, None), launcher.tail(rec.log)
    finally:
        _stop_quietly(rec)
    # the trainer names itself in the run folder: the launched process, no process scan
    assert read_trainer_record(app_env["runs"] / "real").pid == rec.pid
    at.run()
    assert not at.exception
    assert at.dataframe[0].value.set_index("run").loc["real", "status"] == "finished"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["status"] == "finished" and metrics["loss"] != "–"
    assert at.get("progress")[0].proto.value == 100
    box = at.selectbox(key="model_choice")
    assert "real/final" in box.options  # runs/ is outside the repository here: its name only
    box.select(str(app_env["runs"] / "real" / "final")).run()  # the value is the whole folder
    assert not at.exception and at.sidebar.selectbox(key="model_choice").value.endswith("real/final")


def test_stop_sends_sigterm_and_resume_continues(app_env, monkeypatch):
    """Stop signals the run's whole process group, as the shipped configs run it: with a
    data-loader worker, which must not die of it and take the trainer down unsaved."""
    at = _unlocked_admin(monkeypatch)
    rec = _launch(at, app_env["runs"], "long", f"data.root={app_env['data']}\n"
                  "train.steps=100000\ntrain.log_every=1\ntrain.ckpt_every=100000\ndata.workers=1\n")
    resumed = None
    try:
        deadline = time.time() + 120
        while not read_progress(app_env["runs"] / "long") and time.time() < deadline:
            time.sleep(0.5)
        assert read_progress(app_env["runs"] / "long"), launcher.tail(rec.log)
        at.run()
        assert {m.label: m.value for m in at.metric}["status"] == "running"
        at.button(key="stop_long").click().run()
        assert _wait_exit(rec) in (0, None), launcher.tail(rec.log)  # saved a checkpoint, exit 0
        log = launcher.tail(rec.log, 20_000)
        assert "stopped (checkpoint saved) by SIGTERM" in log and "killed by signal" not in log, log
        assert read_exit(app_env["runs"] / "long").status == RunStatus.STOPPED
        at.run()
        assert at.dataframe[0].value.set_index("run").loc["long", "status"] == "stopped"
        assert list((app_env["runs"] / "long" / "checkpoints").glob("step_*"))
        at.button(key="resume_long").click().run()
        resumed = launcher.load_launch(app_env["runs"], "long")
        assert resumed.pid != rec.pid and "--resume" in resumed.argv
        assert launcher.is_alive(resumed) or _wait_exit(resumed, 1) is not None
    finally:
        _stop_quietly(rec)
        _stop_quietly(resumed)


def test_launches_that_fail_show_failed_with_their_error(app_env, monkeypatch):
    """Two ways to fail: a typo in an override stops the CLI before any run folder exists
    (the error is in the launch log only); a diverging loss stops the trainer, which records
    its error in the folder. Both must read "failed" with the error, never "stopped"."""
    at = _unlocked_admin(monkeypatch)
    data = f"data.root={app_env['data']}\n"
    typo = _launch(at, app_env["runs"], "typo", data + "train.stepz=3\n")
    nan = _launch(at, app_env["runs"], "nan", data + "train.steps=20\ntrain.lr=1e30\ndata.workers=1\n")
    try:
        for rec in (typo, nan):
            _wait_exit(rec)
    finally:
        _stop_quietly(typo)
        _stop_quietly(nan)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["typo", "status"] == "failed" and "unknown key 'stepz'" in table.loc["typo", "error"]
    assert table.loc["nan", "status"] == "failed" and "loss is not finite" in table.loc["nan", "error"]
    assert not (app_env["runs"] / "typo").exists()
    for name, words in (("typo", "unknown key 'stepz'"), ("nan", "Lower train.lr")):
        at.selectbox(key="watch_run").select(name).run()
        assert {m.label: m.value for m in at.metric}["status"] == "failed"
        assert any(words in e.value for e in at.error), name
