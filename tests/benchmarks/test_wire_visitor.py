"""The wire visitor (benchmarks/wire_visitor.py, app_load.py --visitors wire): its pure parts
on hand-built protobuf messages (a widget found by its label, the BackMsgs it sends, the media
URLs a run has it fetch), one step against a scripted socket, the load benchmark's wire
options. One visit of one case against the real app server: tests/app/test_wire_visitor_e2e.py."""

from __future__ import annotations

import asyncio
import sys

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

MAIN_HASH, CASES_HASH, ZERO_HASH = "main0", "page-cases", "page-zero"


@pytest.fixture(scope="module")
def wv():
    from benchmark_script import load

    return load("wire_visitor")


@pytest.fixture(scope="module")
def al():
    from benchmark_script import load

    return load("app_load")


def element(kind: str, path=(0, 0), script=CASES_HASH, **fields) -> ForwardMsg:
    """A ForwardMsg drawing one element of ``kind`` (e.g. "selectbox") with ``fields``."""
    msg = ForwardMsg()
    msg.metadata.delta_path.extend(path)
    msg.metadata.active_script_hash = script
    part = getattr(msg.delta.new_element, kind)
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(part, name).extend(value)
        else:
            setattr(part, name, value)
    return msg


def elements(*msgs: ForwardMsg) -> list:
    return [m.delta.new_element for m in msgs]


# --------------------------------------------------------------------------- widgets
def test_a_widget_is_found_by_its_label(wv):
    drawn = elements(element("markdown", body="Case"),  # no widget: no id
                     element("selectbox", id="w-case", label="Case"),
                     element("selectbox", id="w-cases", label="Cases shown"),
                     element("text_input", id="w-prompt",
                             label="Text prompt (the map explains image ↔ prompt similarity)"))
    assert wv.find_widget(drawn, "Case") == "w-case"  # exact: not "Cases shown"
    assert wv.find_widget(drawn, "Text prompt", exact=False) == "w-prompt"
    with pytest.raises(LookupError, match="Text prompt"):
        wv.find_widget(drawn, "Text prompt")
    assert wv.labelled("Case")(drawn) and not wv.labelled("Classes, one per line")(drawn)


@pytest.mark.parametrize("kind, label, value", [
    ("selectbox", "Case", "demo00007"),
    ("text_area", "Classes, one per line", "edema: There is edema.\ncardiomegaly: big heart."),
    ("text_input", "Text prompt", "Small pleural effusion at the left base (v0-0)."),
])
def test_the_backmsg_for_a_changed_widget(wv, kind, label, value):
    wid = wv.find_widget(elements(element(kind, id=f"w-{kind}", label=label)), label)
    msg = BackMsg.FromString(wv.rerun_msg(CASES_HASH, [wv.string_state(wid, value)], "case=x",
                                          "http://127.0.0.1:1").SerializeToString())
    state = msg.rerun_script
    assert msg.WhichOneof("type") == "rerun_script" and state.page_script_hash == CASES_HASH
    assert [(w.id, w.WhichOneof("value"), w.string_value) for w in state.widget_states.widgets] == [
        (f"w-{kind}", "string_value", value)]
    assert state.query_string == "case=x" and state.context_info.url == "http://127.0.0.1:1"


def test_the_backmsg_that_loads_the_default_page(wv):
    state = wv.rerun_msg("").rerun_script
    assert state.page_script_hash == "" and not state.widget_states.widgets
    assert not state.cached_message_hashes  # nothing cached: the server never sends a ref_hash


# --------------------------------------------------------------------------- media
def test_media_urls_are_those_a_browser_fetches(wv):
    image = element("imgs")
    image.delta.new_element.imgs.imgs.add(url="/media/abc123.png")
    html = element("markdown", body='<img src="/media/d4e5.jpg" width="40"> and /media/f6.png.')
    download = element("download_button", id="d", label="Download", url="/media/zip9.zip")
    chart = element("plotly_chart", spec='{"data": [], "layout": {"images": []}}')
    config = ForwardMsg()
    config.page_config_changed.favicon = "/media/fav.png"
    assert wv.media_urls(image) == {"/media/abc123.png"}
    assert wv.media_urls(html) == {"/media/d4e5.jpg", "/media/f6.png"}
    assert wv.media_urls(download) == set()  # fetched on a click only
    assert wv.media_urls(chart) == set()
    assert wv.media_urls(config) == {"/media/fav.png"}
    assert wv.media_urls(ForwardMsg(script_finished=0)) == set()


def test_a_run_keeps_the_values_of_shown_widgets_and_the_apps_own(wv):
    run = wv.Run()
    for msg in (element("text_input", (0, 1), id="w-prompt", label="Text prompt", value="app's",
                        set_value=True),
                element("selectbox", (1, 0), MAIN_HASH, id="w-data", label="Dataset folder"),
                element("exception", (0, 2), message="boom")):
        run.take(msg, MAIN_HASH)
    states = {"w-prompt": "mine", "w-data": "d", "w-gone": "x"}
    states = {k: wv.string_state(k, v) for k, v in states.items()}
    kept = run.settle(states)
    assert {k: s.string_value for k, s in kept.items()} == {"w-prompt": "app's", "w-data": "d"}
    assert run.main_ids == {"w-data"} and run.exceptions == ["boom"]


# --------------------------------------------------------------------------- one step, scripted
class ScriptedSocket:
    """A websocket whose server answers every message with the next scripted run."""

    def __init__(self, runs: list[list[ForwardMsg]]):
        self.runs, self.sent, self.inbox = list(runs), [], []

    async def send(self, data: bytes) -> None:
        self.sent.append(BackMsg.FromString(data))
        self.inbox.extend(m.SerializeToString() for m in self.runs.pop(0))

    async def recv(self) -> bytes:
        return self.inbox.pop(0)


class NoHttp:
    def __init__(self):
        self.got = []

    async def get(self, url):
        self.got.append(url)
        return type("Response", (), {"status_code": 404 if "gone" in url else 200})()


def page_run(page: str, *drawn: ForwardMsg, status: int = 0, sid: str = "") -> list[ForwardMsg]:
    new = ForwardMsg()
    new.new_session.main_script_hash = MAIN_HASH
    if sid:
        new.new_session.initialize.session_id = sid
    nav = ForwardMsg()
    nav.navigation.page_script_hash = page
    for name, page_hash in (("Case browser", CASES_HASH), ("Zero-shot", ZERO_HASH)):
        nav.navigation.app_pages.add(page_name=name, page_script_hash=page_hash)
    return [new, nav, *drawn, ForwardMsg(script_finished=status)]


def test_steps_send_the_pages_hash_and_time_until_the_run_ended(wv, al):
    old = ForwardMsg(script_finished=0)  # an earlier run's end: not this message's
    sidebar = element("selectbox", (1, 0), MAIN_HASH, id="w-data", label="Dataset folder")
    case = element("selectbox", (0, 1), id="w-case", label="Case")
    runs = [[old] + page_run(CASES_HASH, sidebar, case, sid="s-1"),
            page_run(CASES_HASH, sidebar, case, element("markdown", (0, 2), body="#### demo7")),
            page_run(ZERO_HASH, sidebar, element("heading", (0, 0), ZERO_HASH, body="Zero-shot"),
                     element("imgs", (0, 1), ZERO_HASH)),
            page_run(ZERO_HASH, sidebar, status=1)]
    runs[2][4].delta.new_element.imgs.imgs.add(url="/media/gone.png")
    v, http = al.Visitor("v0"), NoHttp()
    session = wv.WireSession("http://127.0.0.1:1", v, timeout_s=5)
    session.ws, session.http = ScriptedSocket(runs), http

    async def visit():
        await session.act(None, lambda: wv.rerun_msg(""), wv.labelled("Case"))
        await session.set_value("change case", "Case", "demo7", wv.shows("demo7", "markdown"))
        await session.switch_page("Zero-shot")
        await session.switch_page("Case browser")  # the run ends with a compile error

    asyncio.run(visit())
    sent = [m.rerun_script for m in session.ws.sent]
    assert [s.page_script_hash for s in sent] == ["", CASES_HASH, ZERO_HASH, CASES_HASH]
    assert [(w.id, w.string_value) for w in sent[1].widget_states.widgets] == [("w-case", "demo7")]
    assert not sent[2].widget_states.widgets  # the Case box is the page's, not the sidebar's
    assert v.session == "s-1" and len(v.times["change case"]) == len(v.times["switch page"]) == 1
    assert [k for k, *_ in v.windows] == ["change case", "switch page"]
    assert http.got == ["http://127.0.0.1:1/media/gone.png"]
    assert v.error_at == ["switch page", "switch page"]
    assert "HTTP 404" in v.errors[0] and "status 1" in v.errors[1]


# --------------------------------------------------------------------------- the benchmark's options
def test_wire_options(al, tmp_path):
    (tmp_path / "manifest.csv").write_text("id\n")
    base = ["--data", str(tmp_path), "--chromium", str(tmp_path / "no-chromium")]
    a = al.parse_args([*base, "--visitors", "wire", "--loops", "2"])
    assert (a.visitors, a.ref_loops, a.probe) == ("wire", al.WIRE_REF_LOOPS, False)
    assert al.parse_args([*base, "--visitors", "wire", "--ref-loops", "4"]).ref_loops == 4
    browser = al.parse_args(["--data", str(tmp_path), "--chromium", sys.executable, "--loops", "2"])
    assert (browser.visitors, browser.ref_loops) == ("browser", 2)  # as before: --loops
    for bad in (["--probe"], ["--visitors", "wire", "--ref-loops", "0"], []):  # [] needs chromium
        with pytest.raises(SystemExit):
            al.parse_args([*base, *bad])


def test_a_probe_is_summarised_apart_and_the_verdict_names_the_visitors(al):
    wire, probe = al.Visitor("L1n8v1"), al.Visitor("L1n8v0probe")
    wire.times["change case"], probe.times["change case"] = [0.1], [0.9]
    res = al.summarise([probe, wire])
    assert res["times"]["change case"] == [0.1] and res["probe"]["times"]["change case"] == [0.9]
    assert "probe" not in al.summarise([wire])
    levels = {1: al.summarise([wire]), 8: res}
    assert "8 wire visitors" in al.sweep_verdict(levels, (5.0, 15.0), kind="wire")[1]
    assert "samples of the one visitor (the reference): change case 1," in al.samples_line(levels[1])
