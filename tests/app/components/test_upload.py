"""Your own image (upload, window/level, typicality, the simulated-data banner) and deep links
(?case=ID), with Streamlit's AppTest against the tiny dataset: real files, real pages."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_helpers import SECRETS, dicom_bytes, page_text, png_bytes

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TIMEOUT = 60
UPLOAD = "uploaded image"


def _app(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.query_params.update(query)
    if page:  # opened on that page, as a link to /page?case=ID does
        at.switch_page(f"views/{page}")
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _upload(at: AppTest, name: str, data: bytes, mime: str = "application/octet-stream") -> AppTest:
    at.file_uploader[0].set_value((name, data, mime)).run()
    _ok(at)
    return at


def _image_source(at: AppTest, key: str = "upload_view") -> str:
    chart = next(c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["data"][0]["type"] == "image"
                 and c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)["data"][0]["source"]


# --------------------------------------------------------------------------- Case browser
def test_png_upload_becomes_the_current_case(app_env):
    at = _upload(_app(), "my film.png", png_bytes(), "image/png")
    assert at.selectbox(key="case_id").value == UPLOAD
    assert at.selectbox(key="case_id").options[0] == UPLOAD  # the dataset stays listed after it
    assert "#### uploaded image" in [m.value for m in at.markdown]
    assert "PNG · 64×80 px" in " ".join(c.value for c in at.caption)
    assert "my film" not in page_text(at)  # the uploader was replaced: no file name left
    assert "Choose a model in the sidebar to see how typical" in " ".join(c.value for c in at.caption)
    at.selectbox(key="case_id").set_value("case003").run()
    assert "#### case003" in [m.value for m in at.markdown]
    at.selectbox(key="case_id").set_value(UPLOAD).run()
    at.button(key="upload_remove").click().run()
    _ok(at)
    assert UPLOAD not in at.selectbox(key="case_id").options


def test_dicom_upload_never_shows_or_logs_identifiers(app_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    name = "Zqxwy^Mortimer PID-99887766"  # a file named after the patient, no extension
    at = _upload(_app(), name, dicom_bytes(tmp_path))
    assert at.selectbox(key="case_id").value == UPLOAD
    facts = " ".join(c.value for c in at.caption)
    assert "DICOM · 96×120 px" in facts and "MONOCHROME1" in facts
    at.selectbox(key="wl_preset").set_value("bone").run()
    text = page_text(at) + caplog.text
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the page or the log"


def test_unreadable_upload_says_why_and_keeps_the_dataset(app_env):
    at = _upload(_app(), "notes.txt", b"hello, not an image" * 20)
    assert any("uploaded image: not a DICOM" in e.value for e in at.error)
    assert at.selectbox(key="case_id").value == "case000"


def test_window_presets_and_sliders(app_env, tmp_path):
    at = _upload(_app(), "scan", dicom_bytes(tmp_path, "MONOCHROME2"))
    assert at.selectbox(key="wl_preset").value == "as stored"
    # as stored: the sliders show the file's own window
    assert (at.slider(key="wl_center").value, at.slider(key="wl_width").value) == (2000, 3000)
    stored = _image_source(at)
    at.selectbox(key="wl_preset").set_value("lung").run()
    lung = (at.slider(key="wl_center").value, at.slider(key="wl_width").value)
    assert lung[0] < 2000 and _image_source(at) != stored  # a darker band, a new image
    at.selectbox(key="wl_preset").set_value("bone").run()
    assert at.slider(key="wl_center").value > lung[0]
    at.slider(key="wl_width").set_value(500.0).run()
    assert at.selectbox(key="wl_preset").value == "custom"
    custom = _image_source(at)
    at.switch_page("views/embeddings.py").run()
    at.switch_page("views/explore.py").run()  # widget keys were dropped off-page
    _ok(at)
    assert at.selectbox(key="wl_preset").value == "custom"
    assert at.slider(key="wl_width").value == 500.0 and _image_source(at) == custom
    at.selectbox(key="wl_preset").set_value("as stored").run()
    assert _image_source(at) == stored


# --------------------------------------------------------------------------- deep links
def test_deep_link_opens_the_case_and_follows_changes(app_env):
    at = _app(case="case007")
    assert at.selectbox(key="case_id").value == "case007"
    assert "#### case007" in [m.value for m in at.markdown]
    at.selectbox(key="case_id").set_value("case010").run()
    assert at.query_params["case"] == "case010"
    at.switch_page("views/embeddings.py").run()
    at.switch_page("views/explore.py").run()
    assert at.selectbox(key="case_id").value == "case010" and at.query_params["case"] == "case010"


def test_deep_link_to_an_unknown_case_says_so(app_env):
    at = _app(case="nope42")
    assert any("nope42" in w.value for w in at.warning)
    assert at.selectbox(key="case_id").value == "case000"


def test_a_rerun_carrying_the_address_bar_the_session_left_keeps_the_new_case(app_env, monkeypatch):
    """A rerun (a widget, the Presenter's size report) sent before the browser heard of the new
    case carries the old ?case=: the address bar catching up, not a link. A new link still opens
    its case, and the browser's Back brings an old one back."""
    from app.components.case import current_case

    at = _app(case="case007")
    at.selectbox(key="case_id").set_value("case010").run()
    at.query_params["case"] = "case007"  # sent before the browser had ?case=case010
    at.run()
    _ok(at)
    assert at.selectbox(key="case_id").value == "case010" and "#### case010" in [m.value for m in at.markdown]
    assert at.query_params["case"] == "case010"  # put back in the address bar
    at.query_params["case"] = "case012"  # a link the session never had
    at.run()
    assert at.selectbox(key="case_id").value == "case012" and at.query_params["case"] == "case012"
    monkeypatch.setattr(current_case, "history_navigation", lambda: True)
    at.query_params["case"] = "case010"  # Back
    at.run()
    assert at.selectbox(key="case_id").value == "case010" and at.query_params["case"] == "case010"


def test_a_rerun_carrying_the_case_an_upload_replaced_keeps_the_upload(app_env):
    at = _upload(_app(case="case007"), "my film.png", png_bytes(), "image/png")
    assert at.selectbox(key="case_id").value == UPLOAD and "case" not in at.query_params
    at.query_params["case"] = "case007"  # sent before the browser heard the link was dropped
    at.run()
    _ok(at)
    assert at.selectbox(key="case_id").value == UPLOAD and "case" not in at.query_params


# --------------------------------------------------------------------------- with a model
@pytest.fixture
def simulated_model_env(model_env, tmp_path, monkeypatch):
    """The micro checkpoint with a card that says it was trained on simulated films, as the
    shipped demo checkpoints' cards do (no dataset needs to be found for that)."""
    ckpt = Path(shutil.copytree(model_env["checkpoint"], tmp_path / "sim-ckpt"))
    card = json.loads((ckpt / "card.json").read_text())
    card.update(data_fingerprint="trained-elsewhere", training_data={"simulated": True})
    (ckpt / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(ckpt))
    return {**model_env, "checkpoint": ckpt}


def _banner(at: AppTest) -> bool:
    return any("trained on simulated radiographs only" in e.value for e in at.error)


@pytest.mark.slow
def test_typicality_and_banner_on_the_case_browser(simulated_model_env, tmp_path):
    at = _app()
    assert "**Typicality**" in " ".join(m.value for m in at.markdown)
    assert "nearest of the model's own training images" in " ".join(c.value for c in at.caption)
    assert not _banner(at)  # a simulated case under a simulated-trained model
    _upload(at, "scan", dicom_bytes(tmp_path))
    assert _banner(at)
    assert "**Typicality**" in " ".join(m.value for m in at.markdown)


@pytest.mark.slow
def test_no_banner_when_the_card_does_not_say_simulated(model_env, tmp_path):
    at = _upload(_app(), "scan", dicom_bytes(tmp_path))
    assert "**Typicality**" in " ".join(m.value for m in at.markdown)
    assert not _banner(at)  # the micro model's card names no training data


@pytest.mark.slow
def test_upload_works_on_every_model_page(simulated_model_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    at = _upload(_app(), "Zqxwy^Mortimer.dcm", dicom_bytes(tmp_path))
    texts = [page_text(at)]

    at.switch_page("views/explain.py").run()
    _ok(at)
    assert at.selectbox(key="xp_case").value == UPLOAD and _banner(at)
    assert any("No gaze for an uploaded image" in i.value for i in at.info)
    model_chart = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [t["type"] for t in model_chart["data"]] == ["image", "heatmap"]
    assert "**Typicality**" in " ".join(m.value for m in at.markdown)
    for i, method in enumerate(at.selectbox(key="xp_method").options):
        at.selectbox(key="xp_method").select_index(i)
        if method.startswith("Integrated"):
            at.run()
            at.toggle(key="xp_ig_ok").set_value(True)
        at.run()
        _ok(at)
        assert len(at.get("plotly_chart")) == 2, method
    texts.append(page_text(at))

    at.switch_page("views/retrieval.py").run()
    at.radio(key="ret_mode").set_value("Image → reports").run()
    _ok(at)
    assert at.selectbox(key="ret_case").value == UPLOAD
    assert "Nearest cases" in " ".join(m.value for m in at.markdown)
    assert len(at.dataframe[0].value) == 3  # the tiny dataset's 3 unique reports
    texts.append(page_text(at))

    at.switch_page("views/zero_shot.py").run()
    _ok(at)
    assert "Your uploaded image" in [s.value for s in at.subheader]
    texts.append(page_text(at))

    at.switch_page("views/report.py").run()
    at.radio(key="rep_backend").set_value("retrieval").run()
    at.button(key="rep_go").click().run()
    _ok(at)
    assert at.selectbox(key="rep_case").value == UPLOAD and _banner(at)
    assert at.session_state["rep_last"]["text"].strip()
    texts.append(page_text(at))
    for secret in SECRETS:
        assert not any(secret in t for t in texts + [caplog.text]), secret


@pytest.mark.slow
def test_deep_link_to_a_model_page_opens_that_case(model_env):
    # case001 has no gaze: the page's "only cases with gaze" switch starts off for it
    at = _app("explain.py", case="case001")
    assert at.title[0].value == "Model vs gaze"
    assert at.selectbox(key="xp_case").value == "case001"
    at.selectbox(key="xp_case").set_value("case004").run()
    assert at.query_params["case"] == "case004"
    at.switch_page("views/retrieval.py").run()
    at.radio(key="ret_mode").set_value("Image → reports").run()
    assert at.selectbox(key="ret_case").value == "case004"
