"""No full garbage collection after every script run: both ways the server starts (`python -m
app`, and `streamlit run app/main.py` from the repository) turn Streamlit's runner.postScriptGC
off unless told otherwise (it cost as much CPU as a run under load; docs/benchmarks.md)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.__main__ import GC_OPTION, gc_args

REPO = Path(__file__).resolve().parents[3]


def test_python_m_app_turns_the_collection_off_unless_given():
    assert gc_args(["--server.port", "8502"]) == ["--server.port", "8502", GC_OPTION, "false"]
    assert gc_args([GC_OPTION, "true"]) == [GC_OPTION, "true"]  # the presenter's own choice stands
    assert gc_args([f"{GC_OPTION}=true"]) == [f"{GC_OPTION}=true"]


def test_streamlit_run_from_the_repository_reads_it_off_too():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
