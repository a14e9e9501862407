"""The server-wide heavy-job slot (app/jobs/slot.py; app/components/heavy.py on a page), with
real threads and a real child process for the index build: two holders never overlap, a
waiter is told why it waits, a failure frees the slot, and a live index build holds it."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from app.jobs import launcher
from app.jobs.launcher import JobKind
from app.jobs.slot import HeavySlot, INDEX_BUILD, SLOT, live_index_build

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TIMEOUT = 10  # seconds; every wait below ends in well under one when the slot works


def _holder(slot, job, entered, leave, on_wait=None, at_most_s=TIMEOUT):
    """A thread that holds the slot as ``job`` until ``leave`` is set (or ``at_most_s``)."""
    def body():
        with slot.hold(job, on_wait=on_wait):
            entered.set()
            leave.wait(at_most_s)
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def _wait_until(condition, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_holders_never_overlap():
    slot, lock = HeavySlot(poll_s=0.05), threading.Lock()
    inside, most = [0], [0]

    def work():
        for _ in range(5):
            with slot.hold("IG map"):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.002)  # let the other threads try to get in
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert most[0] == 1 and slot.holder is None and slot.waiting == 0


def test_second_visitor_sees_the_queue_message_then_runs():
    slot = HeavySlot(poll_s=0.05)
    first_in, first_leave, second_in = threading.Event(), threading.Event(), threading.Event()
    messages: list[str] = []
    first = _holder(slot, "Integrated Gradients map", first_in, first_leave)
    assert first_in.wait(TIMEOUT)
    second_leave = threading.Event()
    second = _holder(slot, "embedded-LLM draft", second_in, second_leave, on_wait=messages.append)
    _wait_until(lambda: messages)
    assert messages[0] == ("Another visitor's Integrated Gradients map is running; yours starts "
                           "when it finishes — 1 waiting")
    assert not second_in.is_set() and slot.waiting == 1
    first_leave.set()
    assert second_in.wait(TIMEOUT)
    assert slot.holder == "embedded-LLM draft"
    second_leave.set()
    first.join(TIMEOUT)
    second.join(TIMEOUT)


def test_waiters_count_and_go_first_come_first_served():
    slot = HeavySlot(poll_s=0.05)
    held, leave = threading.Event(), threading.Event()
    _holder(slot, "index build", held, leave)
    assert held.wait(TIMEOUT)
    order: list[str] = []
    seen: dict[str, list[str]] = {"b": [], "c": []}

    def waiter(name):
        with slot.hold(name, on_wait=seen[name].append):
            order.append(name)

    b = threading.Thread(target=waiter, args=("b",))
    b.start()
    _wait_until(lambda: slot.waiting == 1)
    c = threading.Thread(target=waiter, args=("c",))
    c.start()
    _wait_until(lambda: any(m.endswith("— 2 waiting") for m in seen["c"]))
    leave.set()
    b.join(TIMEOUT)
    c.join(TIMEOUT)
    assert order == ["b", "c"]


def test_a_failure_releases_the_slot():
    slot = HeavySlot(poll_s=0.05)
    with pytest.raises(RuntimeError), slot.hold("IG map"):
        raise RuntimeError("out of memory")
    assert slot.holder is None
    messages: list[str] = []
    done, leave = threading.Event(), threading.Event()
    leave.set()
    _holder(slot, "IG map", done, leave, on_wait=messages.append).join(TIMEOUT)
    assert done.is_set() and messages == []  # went straight in: nobody held it


def test_a_waiter_that_gives_up_leaves_the_queue():
    """Streamlit stops a waiting page (visitor left, widget changed) by raising from the
    call back; the place is freed for the ones behind."""
    slot = HeavySlot(poll_s=0.05)
    held, leave = threading.Event(), threading.Event()
    _holder(slot, "IG map", held, leave)
    assert held.wait(TIMEOUT)

    class Stopped(Exception):
        pass

    def give_up(message):
        raise Stopped(message)

    with pytest.raises(Stopped), slot.hold("draft", on_wait=give_up):
        pytest.fail("must not run while the slot is held")
    assert slot.waiting == 0
    leave.set()
    _wait_until(lambda: slot.holder is None)


def test_a_job_elsewhere_holds_the_slot_until_it_ends():
    elsewhere = ["index build"]
    slot = HeavySlot(busy_elsewhere=lambda: elsewhere[0], poll_s=0.02)
    messages: list[str] = []
    entered, leave = threading.Event(), threading.Event()
    thread = _holder(slot, "IG map", entered, leave, on_wait=messages.append)
    _wait_until(lambda: messages)
    assert "Another visitor's index build is running" in messages[0]
    assert not entered.is_set()
    elsewhere[0] = None  # the build process ended: nobody wakes the waiter, its poll does
    assert entered.wait(TIMEOUT)
    leave.set()
    thread.join(TIMEOUT)


def test_a_live_index_build_record_holds_the_slot(tmp_path):
    """Real child processes recorded by the launcher, as app/jobs/index_build.py records its
    builds; a training run recorded the same way does not count, nor does a build that ended.
    The kind is the record's, whatever the process runs."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    assert live_index_build(tmp_path) is None
    train = launcher.launch(tmp_path, "run1", JobKind.TRAINING, sleeper)
    build = None
    try:
        assert live_index_build(tmp_path) is None  # a training run: no build
        build = launcher.launch(tmp_path, "index-abc", JobKind.INDEX_BUILD, sleeper)
        assert launcher.load_launch(tmp_path, "index-abc").kind == JobKind.INDEX_BUILD
        assert live_index_build(tmp_path) == INDEX_BUILD
    finally:
        launcher.stop(train)
        if build is not None:
            launcher.stop(build)
    _wait_until(lambda: live_index_build(tmp_path) is None)


def test_a_record_without_a_kind_is_no_job_of_any_kind(tmp_path):
    """A record an older app wrote (no kind) loads, but counts as neither a training run nor a
    build: the kind is never guessed from the command line."""
    from eclip.io import write_json

    write_json(launcher.record_path(tmp_path, "old"),
               {"name": "old", "pid": 1, "create_time": 0.0, "argv": ["python", "-m", "eclip.index", "build"],
                "log": str(tmp_path / "old.log"), "started_at": 0.0})
    rec = launcher.load_launch(tmp_path, "old")
    assert rec is not None and rec.kind is None
    assert launcher.launch_records(tmp_path) == [rec]
    assert not launcher.launch_records(tmp_path, JobKind.INDEX_BUILD)
    assert not launcher.launch_records(tmp_path, JobKind.TRAINING)


def _page_with_a_heavy_job():
    import streamlit as st

    from app.components import heavy

    with heavy.heavy_job("Integrated Gradients map"):
        st.markdown("map drawn")


def test_a_page_waits_for_the_server_slot_and_clears_the_queue_message():
    """AppTest runs the page in a thread of this process, like a visitor's session: it waits
    while another session holds the server's slot, then runs, with no message left over."""
    from streamlit.testing.v1 import AppTest

    held, leave = threading.Event(), threading.Event()
    other = _holder(SLOT, "embedded-LLM draft", held, leave)
    assert held.wait(TIMEOUT)
    at = AppTest.from_function(_page_with_a_heavy_job, default_timeout=TIMEOUT)
    page = threading.Thread(target=at.run)
    page.start()
    _wait_until(lambda: SLOT.waiting == 1)  # the page is queued, not running
    page.join(0.2)
    assert page.is_alive()
    leave.set()
    page.join(TIMEOUT)
    other.join(TIMEOUT)
    assert [m.value for m in at.markdown] == ["map drawn"] and not at.info and not at.exception
    assert SLOT.holder is None and SLOT.waiting == 0


def test_integrated_gradients_wait_for_the_slot_but_a_cached_map_does_not(model_env):
    """The Model vs gaze page, as visitors share it: its IG map waits while another visitor's
    heavy job runs; the same map again (a slider moved) comes from the cache, at once."""
    from streamlit.testing.v1 import AppTest

    from eclip.explain.maps import clear_cache

    clear_cache()
    at = AppTest.from_file(str(MAIN), default_timeout=120).run()
    at.switch_page("views/explain.py").run()
    at.selectbox(key="xp_method").select("integrated_gradients").run()
    held, leave = threading.Event(), threading.Event()
    other = _holder(SLOT, "embedded-LLM draft", held, leave)
    assert held.wait(TIMEOUT)
    page = threading.Thread(target=at.toggle(key="xp_ig_ok").set_value(True).run)
    page.start()
    _wait_until(lambda: SLOT.waiting == 1)
    leave.set()
    page.join(120)
    other.join(TIMEOUT)
    assert not at.exception and len(at.get("plotly_chart")) == 2
    held, leave = threading.Event(), threading.Event()
    other = _holder(SLOT, "embedded-LLM draft", held, leave, at_most_s=120)
    assert held.wait(TIMEOUT)
    try:  # had it waited for the slot, this run would time out
        at.slider(key="xp_opacity").set_value(0.3).run(timeout=60)
        assert not at.exception and SLOT.waiting == 0
    finally:
        leave.set()
        other.join(TIMEOUT)


def _report_page(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    config = tmp_path / "report.toml"
    config.write_text("[report]\nmax_new_tokens = 3\n")
    monkeypatch.setenv("ECLIP_REPORT_CONFIG", str(config))
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    for var in ("OLLAMA_HOST", "ECLIP_OLLAMA_MODEL", "ECLIP_REPORT_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    at = AppTest.from_file(str(MAIN), default_timeout=600).run()
    at.switch_page("views/report.py").run()
    return at


@pytest.mark.slow  # loads the embedded LLM (~20 s)
def test_an_embedded_llm_draft_waits_for_the_slot_a_retrieval_draft_does_not(
        model_env, monkeypatch, tmp_path):
    at = _report_page(monkeypatch, tmp_path)
    held, leave = threading.Event(), threading.Event()
    other = _holder(SLOT, "Integrated Gradients map", held, leave, at_most_s=600)
    assert held.wait(TIMEOUT)
    try:
        at.radio(key="rep_backend").set_value("retrieval").run()
        at.button(key="rep_go").click().run(timeout=60)  # no LLM: it never queues
        assert at.session_state["rep_last"]["provenance"]["backend"] == "retrieval"
        at.radio(key="rep_backend").set_value("embedded").run()
        page = threading.Thread(target=at.button(key="rep_go").click().run)
        page.start()
        _wait_until(lambda: SLOT.waiting == 1, timeout=60)
    finally:
        leave.set()
    page.join(600)
    other.join(TIMEOUT)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.session_state["rep_last"]["provenance"]["backend"] == "embedded"


def test_an_index_build_starts_only_when_the_slot_is_free(model_env, monkeypatch, tmp_path):
    """The admin's "Build the index now" waits for a running heavy job; the build's process
    then holds the slot through its launch record until it ends."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "no-index-yet"))
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["admin_ok"] = True
    at.run().switch_page("views/retrieval.py").run()
    held, leave = threading.Event(), threading.Event()
    other = _holder(SLOT, "Integrated Gradients map", held, leave)
    assert held.wait(TIMEOUT)
    page = threading.Thread(target=at.button(key="build_index").click().run)
    page.start()
    _wait_until(lambda: SLOT.waiting == 1)
    assert not list((model_env["runs"] / launcher.APP_DIR).glob("index-*.json"))  # not started
    leave.set()
    page.join(60)
    other.join(TIMEOUT)
    [record] = (model_env["runs"] / launcher.APP_DIR).glob("index-*.json")
    rec = launcher.load_launch(model_env["runs"], record.stem)
    try:  # the build imports torch for seconds: it is alive here
        assert live_index_build(model_env["runs"]) == INDEX_BUILD
    finally:
        launcher.stop(rec)
