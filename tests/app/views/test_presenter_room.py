"""The Presenter laid out for a room (app/components/room.py), with AppTest and the micro model:
films sized to the window (1280 x 720 until the browser says), the sidebar folded, the
full-screen layout and the way out of it, films that zoom on the Presenter and the case pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components import room

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TOUR = "".join(f'[[stop]]\ncase = "{c}"\ntitle = "Title {c}"\npoint = "The point of {c}."\n\n'
               for c in ("case000", "case002", "case004"))


@pytest.fixture
def tour_env(model_env, tmp_path, monkeypatch):
    path = tmp_path / "tour.toml"
    path.write_text(TOUR)
    monkeypatch.setenv("ECLIP_TOUR", str(path))
    return model_env


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.query_params["case"] = "case000"
    at.switch_page(f"views/{page}").run()
    return _ok(at)


def _charts(at: AppTest) -> list[dict]:
    return [{"height": json.loads(c.proto.spec)["layout"]["height"], "config": json.loads(c.proto.config)}
            for c in at.get("plotly_chart")]


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_films_and_talking_point_fit_the_window(size, n):
    width, height = size
    for full in (False, True):
        fit = room.layout(width, height, n, full)
        films = n * fit.film + (n - 1) * room.GAP
        assert films <= width - 2 * room.SIDE_PAD  # side by side, inside the window
        used = room.ABOVE_FILMS + fit.film + room.UNDER_FILMS + (0 if full else room.HEADER)
        assert used + (0 if fit.beside else fit.text_height) <= height  # the talking point on screen too
        if fit.beside:
            assert fit.text_width >= room.MIN_TEXT_WIDTH
    three = room.layout(1280, 720, 3)
    assert three.film >= 330 and not three.beside  # three 190 px films before, the text squeezed beside
    assert room.layout(1920, 1080, 3).film >= 540
    assert room.layout(1280, 720, 3, full=True).film > three.film  # full screen: no header


def test_presenter_folds_the_sidebar_and_sizes_its_films(tour_env):
    at = _page("presenter.py")
    assert at.session_state["pr_stop"] == 0
    charts = _charts(at)
    assert len(charts) == 2 and {c["height"] for c in charts} == {room.layout(1280, 720, 2).film}
    assert all(c["config"]["scrollZoom"] for c in charts)  # zoom to the film's own pixels
    source = (MAIN.parent / "views" / "presenter.py").read_text()
    assert 'st.set_page_config(initial_sidebar_state="collapsed")' in source
    assert any("The point of case000" in m.value for m in at.markdown)


def test_full_screen_shows_the_films_and_the_talking_point_alone_and_leaves(tour_env):
    at = _page("presenter.py")
    assert at.button(key="pr_full").proto.label == "Full screen"
    assert any(e.label == "Typicality and model card" for e in at.expander)
    at.button(key="pr_full").click().run()
    _ok(at)
    assert at.button(key="pr_full").proto.label == "Exit full screen"
    assert not at.expander and not [b for b in at.button if b.key == "pr_export"]
    assert any("display: none !important" in m.value for m in at.markdown)  # no header, no sidebar
    assert len(_charts(at)) == 2 and any("The point of case000" in m.value for m in at.markdown)
    at.button(key="pr_next").click().run()  # the tour goes on in full screen
    assert any("The point of case002" in m.value for m in _ok(at).markdown)
    at.button(key="pr_full").click().run()
    _ok(at)
    assert at.button(key="pr_full").proto.label == "Full screen" and at.expander


def test_model_vs_gaze_films_zoom(model_env):
    at = _page("explain.py")
    charts = _charts(at)
    assert charts and all(c["config"]["scrollZoom"] for c in charts)
    assert any("Scroll on a film to zoom" in c.value for c in at.caption)
