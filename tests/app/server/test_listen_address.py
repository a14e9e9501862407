"""Where the demo server listens: 127.0.0.1 unless told to serve the room (`make run
HOST=0.0.0.0`, `python -m app --room`), never every interface by accident (Streamlit's own
default); docs/app.md says how."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.__main__ import listen_args
from eclip.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _address(argv: list[str]) -> str:
    return argv[argv.index("--server.address") + 1]


def test_python_m_app_listens_on_this_machine_unless_it_serves_the_room():
    assert _address(listen_args(["--server.port", "8502"], environ={})) == "127.0.0.1"
    assert listen_args(["--room", "--server.port", "8502"], environ={}) == [
        "--server.port", "8502", "--server.address", "0.0.0.0"]
    assert listen_args(["--server.address", "10.1.2.3"], environ={}) == ["--server.address", "10.1.2.3"]
    assert listen_args(["--server.address=10.1.2.3"], environ={}) == ["--server.address=10.1.2.3"]
    assert listen_args([], environ={"STREAMLIT_SERVER_ADDRESS": "10.1.2.3"}) == []  # Streamlit reads it
    with pytest.raises(ConfigError, match="--room"):
        listen_args(["--room", "--server.address", "10.1.2.3"], environ={})


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_run_listens_on_127_0_0_1_and_host_serves_the_room():
    def command(*extra: str) -> str:
        out = subprocess.run(["make", "-n", "run", *extra], cwd=REPO, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "HOST": "my-laptop"}, check=True).stdout
        return next(line for line in out.splitlines() if " -m app " in line)
    assert command().endswith("--server.address 127.0.0.1")  # a shell's $HOST is not asked for
    assert command("HOST=0.0.0.0").endswith("--server.address 0.0.0.0")


def test_streamlit_run_and_the_docs_agree():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"  # `streamlit run app/main.py` too
    doc = (REPO / "docs" / "app.md").read_text(encoding="utf-8")
    assert "make run HOST=0.0.0.0" in doc and "python -m app --room" in doc
