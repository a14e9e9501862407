"""Start and stop the app's own server from a tool: the screenshots command, the load and scale
benchmarks. Always on 127.0.0.1 and a free port; the caller owns the process and stops it
with ``stop_server`` (also on errors), so no tool leaves a server behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from eclip.locations import root

REPO = root()  # the server runs here, so the app's relative folders (data/demo) are this one's


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path | str, checkpoint: Path | str | None, port: int, log_path: Path,
                 cpus: set[int] | None = None, env: dict | None = None) -> subprocess.Popen:
    """The app's server (``python -m app``: ``streamlit run app/main.py`` after loading the
    default dataset and models) headless on 127.0.0.1:``port``, its output in
    ``log_path``; runs launched from it go next to the log, never into the repo's runs/.
    ``checkpoint`` None: the app's own default (the shipped demo model); "none": no model."""
    full_env = {**os.environ, "ECLIP_DATA": str(data),
                "ECLIP_RUNS": str(log_path.parent / "runs"), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    full_env.pop("ECLIP_CHECKPOINT", None)
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
