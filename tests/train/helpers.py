"""Shared bits for the training tests: the tiny config and a subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "test-tiny.toml"


def cli_args(data_root, out, *sets: str) -> list[str]:
    args = ["--config", str(TINY), "--set", f"data.root={data_root}", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return args


def env() -> dict:
    e = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def popen(args: list[str], module: str = "eclip.train", prefix: list[str] | None = None) -> subprocess.Popen:
    cmd = (prefix or [sys.executable, "-m"]) + [module] + args
    return subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float) -> str:
    """Wait for ``proc``; on timeout kill its whole process group (torchrun workers too)."""
    import signal

    try:
        return proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def state(ckpt_dir: Path) -> dict:
    from safetensors.torch import load_file

    out = load_file(str(ckpt_dir / "model.safetensors"))
    out.update(load_file(str(ckpt_dir / "train_state.safetensors")))
    return out
