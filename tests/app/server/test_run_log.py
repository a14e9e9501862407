"""The server's script-run log (app.server.serve.logged_run, $ECLIP_RUN_LOG): what a load
benchmark reads to tell the server's part of an interaction from the browser's. Written
around every run of app/main.py when set, never otherwise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.server import serve

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"


def test_nothing_is_logged_without_the_variable(tmp_path):
    with serve.logged_run(environ={}):
        pass
    assert list(tmp_path.iterdir()) == []


def test_one_line_per_run_however_the_run_ends(tmp_path):
    log = tmp_path / "runs.jsonl"
    env = {serve.RUN_LOG_ENV: str(log)}
    before = time.time()
    with serve.logged_run(environ=env):
        time.sleep(0.05)
    with pytest.raises(RuntimeError), serve.logged_run(environ=env):
        raise RuntimeError("st.stop and reruns end a run with an exception")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["session"] == ""  # outside a Streamlit script run
    assert before - 0.01 <= first["start"] <= time.time()  # the epoch clock a tool reads too
    assert first["wall"] >= 0.05 and 0 <= first["cpu"] < first["wall"]  # sleeping costs no CPU


def test_read_groups_runs_by_session_and_skips_a_torn_line(tmp_path):
    log = tmp_path / "runs.jsonl"
    assert serve.read_run_log(log) == {}  # no file yet: no run
    log.write_text("\n".join([
        json.dumps({"session": "a", "start": 100.0, "wall": 0.5, "cpu": 0.4}),
        json.dumps({"session": "b", "start": 101.0, "wall": 0.25, "cpu": 0.2}),
        json.dumps({"session": "a", "start": 102.0, "wall": 1.0, "cpu": 0.9}),
        '{"session": "a", "start": 10',  # the server was writing it
    ]))
    assert serve.read_run_log(log) == {"a": [(100.0, 100.5), (102.0, 103.0)], "b": [(101.0, 101.25)]}
    recs = serve.read_run_records(log)  # every field, in the order written
    assert [(r["session"], r["cpu"]) for r in recs] == [("a", 0.4), ("b", 0.2), ("a", 0.9)]
    assert serve.read_run_records(tmp_path / "none.jsonl") == []


def test_start_server_sets_the_log_only_when_asked(tmp_path, monkeypatch):
    envs = []
    monkeypatch.setattr(serve.subprocess, "Popen", lambda cmd, **kw: envs.append(kw["env"]))
    monkeypatch.setenv(serve.RUN_LOG_ENV, "/elsewhere.jsonl")  # the caller's own: never inherited
    serve.start_server(tmp_path, None, 1, tmp_path / "a.log")
    serve.start_server(tmp_path, None, 1, tmp_path / "b.log", run_log=tmp_path / "runs.jsonl")
    assert serve.RUN_LOG_ENV not in envs[0]
    assert envs[1][serve.RUN_LOG_ENV] == str(tmp_path / "runs.jsonl")


def test_every_run_of_the_app_is_logged_with_its_session(app_env, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(serve.RUN_LOG_ENV, str(log))
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.run()
    runs = serve.read_run_log(log)
    assert len(runs) == 1 and sum(map(len, runs.values())) == 2
    (session,) = runs
    assert session  # the Streamlit session's id, as its browser learns it
