"""Start and stop the app's own server from a tool: the screenshots command, the load and scale
benchmarks. Always on 127.0.0.1 and a free port; the caller owns the process and stops it
with ``stop_server`` (also on errors), so no tool leaves a server behind.

A tool that measures the server can also have it log every script run (``run_log``:
``$ECLIP_RUN_LOG``, written by ``logged_run`` around app/main.py): the server's own part of an
interaction, which a browser on a busy machine sees late (benchmarks/app_load.py)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from eclip.locations import root

REPO = root()  # the server runs here, so the app's relative folders (data/demo) are this one's
RUN_LOG_ENV = "ECLIP_RUN_LOG"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path | str, checkpoint: Path | str | None, port: int, log_path: Path,
                 cpus: set[int] | None = None, env: dict | None = None,
                 run_log: Path | None = None) -> subprocess.Popen:
    """The app's server (``python -m app``: ``streamlit run app/main.py`` after loading the
    default dataset and models) headless on 127.0.0.1:``port``, its output in
    ``log_path``; runs launched from it go next to the log, never into the repo's runs/.
    ``checkpoint`` None: the app's own default (the shipped demo model); "none": no model.
    ``run_log``: where the server logs its script runs (``logged_run``)."""
    full_env = {**os.environ, "ECLIP_DATA": str(data),
                "ECLIP_RUNS": str(log_path.parent / "runs"), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    full_env.pop("ECLIP_CHECKPOINT", None)
    full_env.pop(RUN_LOG_ENV, None)
    if run_log is not None:
        full_env[RUN_LOG_ENV] = str(run_log)
    if checkpoint is not None:
        full_env["ECLIP_CHECKPOINT"] = str(checkpoint)
    full_env.update(env or {})
    pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    return subprocess.Popen(
        pin + [sys.executable, "-m", "app",  # loads the default model etc. before it listens
               "--server.headless", "true", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--theme.base", "light",
               "--client.toolbarMode", "viewer"],
        cwd=REPO, env=full_env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen | None, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"streamlit at {url} did not answer /_stcore/health in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def logged_run(environ=None) -> Iterator[None]:
    """Around a script run (app/main.py): with $ECLIP_RUN_LOG set, append one JSON line when
    the run ends, however it ends (st.stop and reruns end it with an exception): the browser
    session's id, the start (seconds since the epoch, the clock a tool on the same machine
    reads) and the run's wall and thread-CPU seconds. Without it: nothing, not even a clock
    read. One short append per run, so the runs of concurrent sessions never interleave."""
    path = (os.environ if environ is None else environ).get(RUN_LOG_ENV)
    if not path:
        yield
        return
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    start, t0, cpu0 = time.time(), time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        line = json.dumps({"session": ctx.session_id if ctx else "", "start": round(start, 4),
                           "wall": round(time.perf_counter() - t0, 4),
                           "cpu": round(time.thread_time() - cpu0, 4)})
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_run_records(path: Path | str) -> list[dict]:
    """``logged_run``'s lines as dicts (session, start, wall, cpu), in the order written; a
    missing file is no run, a torn or incomplete line (read while the server writes) is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            out.append({"session": str(rec.get("session", "")), "start": float(rec["start"]),
                        "wall": float(rec["wall"]), "cpu": float(rec["cpu"])})
        except (ValueError, KeyError, TypeError):
            continue
    return out


def read_run_log(path: Path | str) -> dict[str, list[tuple[float, float]]]:
    """``logged_run``'s lines -> session id -> [(start, end)] in seconds since the epoch
    (``read_run_records``: a missing file is no run, a torn last line is skipped)."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for rec in read_run_records(path):
        runs.setdefault(rec["session"], []).append((rec["start"], rec["start"] + rec["wall"]))
    return runs
