"""Every model page says which image the model read (app/components/model_reads.py): a
dataset film as stored, a visitor's upload with the Case browser's display window or as
stored; where a window is chosen, a switch scores the stored image instead, on every page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_helpers import dicom_bytes

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TIMEOUT = 60
pytestmark = pytest.mark.slow
PAGES = ("zero_shot.py", "explain.py", "report.py", "presenter.py", "retrieval.py", "embeddings.py")


@pytest.fixture
def quiet_env(model_env, tmp_path, monkeypatch):
    """No embedded-model warm-up, no Ollama, a Presenter tour of the tiny dataset."""
    tour = tmp_path / "tour.toml"
    tour.write_text('[[stop]]\ncase = "case000"\ntitle = "A film"\npoint = "Look here."\n')
    monkeypatch.setenv("ECLIP_TOUR", str(tour))
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    for var in ("OLLAMA_HOST", "ECLIP_OLLAMA_MODEL", "ECLIP_REPORT_BACKEND", "ECLIP_REPORT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return model_env


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _reads(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("The model read ")]


def _at() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.run()
    return _ok(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_model_page_says_the_film_was_read_as_stored(quiet_env, page):
    at = _at()
    at.switch_page(f"views/{page}").run()
    _ok(at)
    if page == "retrieval.py":  # both directions say it
        assert any("dataset's films as stored" in r for r in _reads(at)), _reads(at)
        at.radio(key="ret_mode").set_value("Image → reports").run()
    assert any("no display window is applied" in r for r in _reads(at)), (page, _reads(at))


def _windowed_upload(tmp_path) -> AppTest:
    at = _at()
    at.file_uploader[0].set_value(("scan", dicom_bytes(tmp_path, "MONOCHROME2"), "application/dicom")).run()
    at.selectbox(key="wl_preset").set_value("bone").run()
    return _ok(at)


def _upload_bars(at: AppTest) -> list[float]:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "zs_upload_bar" in c.proto.id)
    return json.loads(chart.proto.spec)["data"][0]["x"]


@pytest.mark.parametrize("page", ("explain.py", "report.py", "presenter.py", "retrieval.py"))
def test_a_windowed_upload_says_its_window_and_offers_the_stored_image(quiet_env, tmp_path, page):
    at = _windowed_upload(tmp_path)
    at.switch_page(f"views/{page}").run()
    _ok(at)
    if page == "retrieval.py":
        at.radio(key="ret_mode").set_value("Image → reports").run()
    assert any("with the display window chosen on the Case browser (centre" in r for r in _reads(at)), _reads(at)
    at.toggle(key="model_reads_stored").set_value(True).run()
    _ok(at)
    assert any("as stored (the file's own window), not with the display window" in r for r in _reads(at))


def test_scoring_the_stored_image_changes_the_scores_on_every_page(quiet_env, tmp_path):
    at = _windowed_upload(tmp_path)
    at.switch_page("views/zero_shot.py").run()
    at.selectbox(key="zs_set").select("binary").run()
    windowed = _upload_bars(_ok(at))
    at.toggle(key="model_reads_stored").set_value(True).run()
    stored = _upload_bars(_ok(at))
    assert stored != windowed  # the model read other pixels
    at.switch_page("views/explain.py").run()  # the choice holds on the next page
    _ok(at)
    assert at.toggle(key="model_reads_stored").value is True
    assert any("as stored (the file's own window), not with" in r for r in _reads(at))
    at.switch_page("views/explore.py").run()
    at.selectbox(key="wl_preset").set_value("as stored").run()
    at.switch_page("views/zero_shot.py").run()
    _ok(at)
    assert any("your image as stored (the file's own window): no display window" in r for r in _reads(at))
    assert not at.toggle  # no window to leave out: no switch
