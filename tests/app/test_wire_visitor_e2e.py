"""One wire visitor (benchmarks/wire_visitor.py, app_load.py --visitors wire) through one case
against the real app server on the tiny dataset and the micro model, 127.0.0.1 only: every step
timed, no error, the server's run log covering each (no timed assertion). Here rather than in
tests/benchmarks so that it runs on a clean clone, where data/demo is not built."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.slow
def test_one_wire_visitor_goes_through_one_case(tiny_dataset, micro_model, tmp_path):
    from app.server.serve import free_port, read_run_log, start_server, stop_server, wait_healthy
    from benchmark_script import load

    al = load("app_load")
    port, run_log = free_port(), tmp_path / "runs.jsonl"
    url = f"http://127.0.0.1:{port}"
    proc = start_server(tiny_dataset, micro_model["checkpoint"], port, tmp_path / "streamlit.log",
                        env={"ECLIP_INDEX_DIR": str(micro_model["index_root"])}, run_log=run_log)
    try:
        wait_healthy(url, proc)
        case = al.gaze_cases(tiny_dataset, 1)
        v = asyncio.run(al.visit(None, url, "wire0", case, timeout_s=120))
    finally:
        stop_server(proc)
    assert v.errors == []
    assert {k: len(t) for k, t in v.times.items()} == {
        "change case": 1, "zero-shot prompt edit": 1, "Grad-CAM map": 1, "switch page": 2}
    assert v.session and len(v.windows) == 5
    part = al.server_part(v, read_run_log(run_log))  # the server logged this session's runs
    assert all(len(part[k]) == len(v.times[k]) for k in al.INTERACTIONS)
