"""Ready for the projector, with Streamlit's AppTest against real datasets and the micro model:
what a visitor (not signed in as admin) sees names no server host or folder and no uploaded
file's name; a refused upload clears itself; every case of a dataset can be opened (a link, a
typed id, typed words); links that name no case here say so; the smaller things a room notices
(integer window sliders, the gaze switch and the IG switch on Model vs gaze, the Draft page's
captions, report search without negated mentions)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from streamlit.proto.Slider_pb2 import Slider as SliderProto
from streamlit.testing.v1 import AppTest
from app_helpers import BIG, UPLOAD_NAME, dicom_bytes, png_bytes

from eclip.report.ollama_backend import DEFAULT_HOST

from app.core import paths

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TIMEOUT = 120


def _app(page: str | None = None, session: dict | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    at.query_params.update(query)
    if page:  # opened on that page, as a link to /page?case=ID does
        at.switch_page(f"views/{page}")
    at.run()
    return _ok(at)


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _type(at: AppTest, key: str, text: str) -> AppTest:
    """Type ``text`` in the case box ``key`` and press Enter: the browser then sends the text
    itself as the box's value (a new option: the box takes any text)."""
    box = at.selectbox(key=key)
    box.options.append(text)
    box.set_value(text).run()
    return _ok(at)


def shown_text(at: AppTest) -> str:
    """What the page shows: every element's protobuf as text (markdown, captions, code, alerts,
    JSON, widget labels, options and help), without the element ids the browser never shows."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.extend(line for line in str(proto).splitlines()
                       if not re.match(r"\s*(id|form_id): ", line))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def big_env(app_env, big_dataset, monkeypatch):
    monkeypatch.setenv("ECLIP_DATA", str(big_dataset))
    return {**app_env, "data": big_dataset}


@pytest.fixture
def report_env(model_env, monkeypatch):
    """Model pages without the embedded model's background warm-up and without Ollama."""
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    for var in ("OLLAMA_HOST", "ECLIP_OLLAMA_MODEL", "ECLIP_REPORT_BACKEND", "ECLIP_REPORT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return model_env


# --------------------------------------------------------------------------- uploads
def test_a_refused_upload_clears_itself_and_the_next_one_is_taken(app_env):
    at = _app()
    at.file_uploader[0].set_value((UPLOAD_NAME, b"not an image at all" * 20, "text/plain")).run()
    _ok(at)
    said = [e.value for e in at.error]
    assert any("not a DICOM" in e for e in said), said  # what went wrong...
    assert "Zqxwy" not in shown_text(at)  # ...without the file's name
    assert at.selectbox(key="case_id").value == "case000"
    at.file_uploader[0].set_value(("film.png", png_bytes(), "image/png")).run()  # the box on screen now
    _ok(at)
    assert at.selectbox(key="case_id").value == "uploaded image"  # taken at once, not ignored
    assert not at.error


def test_a_too_large_upload_says_what_to_do_without_code(app_env, monkeypatch):
    monkeypatch.setenv("ECLIP_MAX_PIXELS", "1000")  # the 64 x 80 PNG is 5,120 pixels
    at = _app()
    at.file_uploader[0].set_value(("film.png", png_bytes(), "image/png")).run()
    _ok(at)
    said = " ".join(e.value for e in at.error)
    assert "too large" in said and "Downscale" in said and "5,120 pixels" in said
    for code in ("load_image", "max_pixels", "ECLIP_MAX_PIXELS", "decompression"):
        assert code not in said, code


def test_window_sliders_are_whole_numbers_never_below_zero_for_unsigned_data(app_env, tmp_path):
    at = _app()
    at.file_uploader[0].set_value(("scan", dicom_bytes(tmp_path), "application/octet-stream")).run()
    _ok(at)
    for key in ("wl_center", "wl_width"):
        proto = at.slider(key=key).proto
        assert proto.data_type == SliderProto.INT, key  # "2000", not "2000.00"
        assert proto.min >= 0 and float(proto.step).is_integer(), key
    assert (at.slider(key="wl_center").value, at.slider(key="wl_width").value) == (2000, 3000)
    at.selectbox(key="wl_preset").set_value("bone").run()
    _ok(at)
    assert isinstance(at.slider(key="wl_center").value, int)


# --------------------------------------------------------------------------- every case reachable
def test_a_link_opens_a_case_beyond_the_first_thousand(big_env):
    at = _app(case="case1050")
    assert at.selectbox(key="case_id").value == "case1050"
    assert "#### case1050" in [m.value for m in at.markdown]
    assert not at.warning, [w.value for w in at.warning]


def test_an_id_typed_in_the_case_box_opens_any_case(big_env):
    at = _app()
    assert len(at.selectbox(key="case_id").options) == 1000  # the list stays short...
    _type(at, "case_id", "CASE1075")  # ...and any case is a typed id away
    assert at.selectbox(key="case_id").value == "case1075"
    assert "#### case1075" in [m.value for m in at.markdown]
    assert at.query_params["case"] == "case1075"
    at.switch_page("views/embeddings.py").run()
    at.switch_page("views/explore.py").run()
    assert at.selectbox(key="case_id").value == "case1075"  # it stays the current case


def test_words_typed_in_the_case_box_list_the_cases_they_find(big_env):
    at = _app()
    _type(at, "case_id", "costophrenic")  # report text of every third case
    box = at.selectbox(key="case_id")
    assert box.value == "case000"  # the case on screen stays until one is picked
    assert set(box.options) == {f"case{i:03d}" for i in range(1, BIG, 3)} | {"case000"}
    assert any("**367** cases that “costophrenic” finds" in c.value for c in at.caption)
    _type(at, "case_id", "case10")  # an id's start: case100..case109, case1000..case1099
    assert set(at.selectbox(key="case_id").options) == {f"case{i}" for i in range(100, 110)} | {
        f"case{i}" for i in range(1000, 1100)} | {"case000"}
    at.selectbox(key="case_id").select("case1099").run()
    assert "#### case1099" in [m.value for m in at.markdown]
    at.button(key="case_id_find_clear").click().run()
    options = at.selectbox(key="case_id").options  # every case again: the first 1,000 and the current one
    assert len(options) == 1001 and options[-1] == "case1099" and at.selectbox(key="case_id").value == "case1099"
    _type(at, "case_id", "nothing like this")
    assert any("Nothing here matches “nothing like this”" in w.value for w in at.warning)


def test_a_link_to_an_unknown_case_says_it_is_not_in_this_dataset(app_env):
    at = _app(case="demo01674")
    said = [w.value for w in at.warning]
    assert any("`demo01674`" in w and "not in this dataset" in w for w in said), said


def test_report_search_leaves_negated_mentions_out_unless_asked(app_env):
    at = _app()
    assert at.checkbox(key="f_affirmed").value  # on by default
    at.text_input(key="f_text").input("effusion").run()
    # "Small left pleural effusion" (every third case), never "No effusion or pneumothorax"
    assert list(at.selectbox(key="case_id").options) == [f"case{i:03d}" for i in range(1, 24, 3)]
    at.checkbox(key="f_affirmed").uncheck().run()
    assert len(at.selectbox(key="case_id").options) == 16


# --------------------------------------------------------------------------- with a model
@pytest.mark.slow
def test_model_vs_gaze_links_and_the_gaze_switch(model_env, big_dataset, monkeypatch):
    at = _app("explain.py", case="nosuch042")
    said = [w.value for w in at.warning]
    assert any("`nosuch042`" in w and "not in this dataset" in w for w in said), said

    monkeypatch.setenv("ECLIP_DATA", str(big_dataset))
    at = _app("explain.py", case="case1051")  # beyond the first 1,000, and without gaze
    assert at.selectbox(key="xp_case").value == "case1051"
    assert not at.toggle(key="xp_gaze_only").value


@pytest.mark.slow
def test_model_vs_gaze_hides_the_gaze_switch_for_an_upload(model_env):
    at = _app()
    at.file_uploader[0].set_value(("film.png", png_bytes(), "image/png")).run()
    at.switch_page("views/explain.py").run()
    _ok(at)
    assert at.selectbox(key="xp_case").value == "uploaded image"
    assert not [t for t in at.toggle if t.key == "xp_gaze_only"]  # an upload has no gaze to filter on


@pytest.mark.slow
def test_the_integrated_gradients_switch_keeps_its_state_and_says_what_it_does(model_env):
    at = _app("explain.py")
    at.selectbox(key="xp_method").select("integrated_gradients").run()
    _ok(at)
    assert not at.toggle(key="xp_ig_ok").value
    placeholder = " ".join(i.value for i in at.info)
    assert "switch on **Compute integrated gradients**" in placeholder  # never an empty page
    at.toggle(key="xp_ig_ok").set_value(True).run()
    _ok(at)
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="xp_method").select("gradcam").run()
    at.selectbox(key="xp_method").select("integrated_gradients").run()
    _ok(at)
    assert at.toggle(key="xp_ig_ok").value and len(at.get("plotly_chart")) == 2


@pytest.mark.slow
def test_the_agreement_command_names_no_server_folder_for_a_visitor(model_env):
    at = _app("explain.py")
    command = next(c.value for c in at.caption if "python -m eclip.explain agreement" in c.value)
    assert "--checkpoint <checkpoint> --data <dataset>" in command  # both live outside the repository
    at = _app("explain.py", session={"admin_ok": True})
    command = next(c.value for c in at.caption if "python -m eclip.explain agreement" in c.value)
    assert f"--checkpoint {model_env['checkpoint']} --data {model_env['data']}" in command


@pytest.mark.slow
def test_draft_fallback_names_no_ollama_host_to_a_visitor(report_env, monkeypatch):
    host = f"http://127.0.0.1:{_free_port()}"  # nothing listens: the draft falls back
    monkeypatch.setenv("OLLAMA_HOST", host)
    at = _app("report.py")
    at.radio(key="rep_backend").set_value("ollama").run()
    at.button(key="rep_go").click().run()
    _ok(at)
    prov = at.session_state["rep_last"]["provenance"]
    assert prov["backend"] == "retrieval" and host in prov["fallback_reason"]  # kept as drafted
    at.run()  # the draft as it stays on screen, with its provenance
    at.button(key="rep_export").click().run()
    _ok(at)
    html = at.session_state["_case_report:rep"]["html"]
    bare = host.split("://")[1]
    for text in (shown_text(at), html):
        assert bare not in text
    assert "the configured server" in html  # the reason stays, its address does not

    at = _app("report.py", session={"admin_ok": True})  # the admin reads it in full
    at.radio(key="rep_backend").set_value("ollama").run()
    at.button(key="rep_go").click().run()
    at.run()
    assert host in shown_text(at)


@pytest.mark.slow
def test_an_auto_draft_export_names_no_default_host(report_env):
    auto = {"backend": "embedded", "model": "SmolLM2-135M", "checkpoint": "micro", "weights_sha256": "",
            "retrieved_ids": ["case000", "case005"], "fallback_reason": "", "created_at": "2026-01-01",
            "selection": f"auto: No Ollama server answers at {DEFAULT_HOST}. Start it with `ollama "
                         "serve`, or set OLLAMA_HOST / --ollama-host to where it runs. -> embedded"}
    last = {"case": "case004", "text": "FINDINGS: clear.\n\nbackend: embedded", "provenance": auto,
            "evidence": {"conflicts": [], "checked": 0}, "hosts": (DEFAULT_HOST,)}
    for admin in (False, True):
        at = _app("report.py", session={"rep_last": last, "admin_ok": admin})
        at.button(key="rep_export").click().run()
        _ok(at)
        html = at.session_state["_case_report:rep"]["html"]
        assert ("127.0.0.1:11434" in html) is admin and ("127.0.0.1:11434" in shown_text(at)) is admin
        assert "<td>case000, case005</td>" in html  # the retrieved ids as text, not a Python list


@pytest.mark.slow
def test_the_draft_page_names_no_ollama_model_nobody_configured_and_no_split_for_an_upload(report_env):
    at = _app("report.py")
    captions = " ".join(c.value for c in at.caption)
    assert "mistral" not in captions and "No Ollama server is configured" in captions
    assert "Cases of the `test` split" in captions
    at.switch_page("views/explore.py").run()
    at.file_uploader[0].set_value(("film.png", png_bytes(), "image/png")).run()
    at.switch_page("views/report.py").run()
    _ok(at)
    assert at.selectbox(key="rep_case").value == "uploaded image"
    captions = " ".join(c.value for c in at.caption)
    assert "split" not in captions and "Your uploaded image" in captions


@pytest.mark.slow
def test_presenter_links_open_every_stop_and_a_bad_link_says_why(model_env, big_dataset, tmp_path, monkeypatch):
    tour = tmp_path / "tour.toml"
    tour.write_text("".join(f'[[stop]]\ncase = "{c}"\ntitle = "Stop {c}"\npoint = "A point."\n\n'
                            for c in ("case003", "case1050", "case006", "case1081")))
    monkeypatch.setenv("ECLIP_TOUR", str(tour))
    monkeypatch.setenv("ECLIP_DATA", str(big_dataset))
    at = _app("presenter.py", case="case042")  # in the dataset, not on the tour
    said = " ".join(w.value for w in at.warning)
    assert "`case042`" in said and "not on this page's list" in said and "tour" in said
    at = _app("presenter.py", case="nosuch042")
    said = " ".join(w.value for w in at.warning)
    assert "`nosuch042`" in said and "not in this dataset" in said
    for stop, case in ((1, "case1050"), (3, "case1081")):  # the stops past the first 1,000 cases
        at = _app("presenter.py", session={"pr_stop": stop})
        assert f"#### {case}" in [m.value for m in at.markdown]
        at.switch_page("views/explore.py").run()  # its "open on a full page" link
        _ok(at)
        assert at.selectbox(key="case_id").value == case and not at.warning


# --------------------------------------------------------------------------- every page, grepped
@pytest.mark.slow
def test_no_page_shows_a_visitor_a_server_host_folder_or_uploaded_file_name(model_env, tmp_path, monkeypatch):
    """Every page as a visitor, after a refused upload (named after a patient) and after a
    draft that fell back from an Ollama server: no host, no absolute folder of this server
    (the repository, the dataset, the checkpoint, the index), no file name anywhere."""
    host = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    tour = tmp_path / "tour.toml"
    tour.write_text('[[stop]]\ncase = "case004"\ntitle = "A stop"\npoint = "A point."\n')
    monkeypatch.setenv("ECLIP_TOUR", str(tour))
    secrets = {"Ollama host": host.split("://")[1], "repository": str(paths.ROOT),
               "dataset folder": str(model_env["data"]), "checkpoint folder": str(model_env["checkpoint"]),
               "index folder": str(model_env["index_root"]), "tour file": str(tour),
               "uploaded file": "Zqxwy", "default Ollama host": DEFAULT_HOST.split("://")[1]}
    at = _app()
    at.file_uploader[0].set_value((UPLOAD_NAME, b"not an image" * 40, "text/plain")).run()
    seen = {"explore.py": shown_text(_ok(at))}
    for page in ("embeddings.py", "zero_shot.py", "retrieval.py", "explain.py", "presenter.py", "admin.py",
                 "report.py"):
        at.switch_page(f"views/{page}").run()
        seen[page] = shown_text(_ok(at))
    at.radio(key="rep_backend").set_value("ollama").run()
    at.button(key="rep_go").click().run()
    at.run()
    at.button(key="rep_export").click().run()
    seen["report.py, after the draft"] = shown_text(_ok(at))
    seen["the exported report"] = at.session_state["_case_report:rep"]["html"]
    assert "fallback" in json.dumps(at.session_state["rep_last"]["provenance"])
    leaks = [f"{what} on {page}" for page, text in seen.items() for what, secret in secrets.items()
             if secret in text]
    assert not leaks, leaks
