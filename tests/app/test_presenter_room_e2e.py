"""The Presenter in a room, in a real browser (`python -m app` on 127.0.0.1, Debian chromium via
Playwright, tests/browser.py's waits): at 1280 x 720 the sidebar is folded and the films and
the talking point fit the window; a clicker's PageDown/PageUp and the arrow keys walk the tour;
F and Esc enter and leave the full-screen layout; scrolling on a film zooms it and dragging
pans it."""

from __future__ import annotations

import re

import pytest
from browser import after_run, launch, needs_chromium, new_page, wait_idle

from app.server.serve import free_port, start_server, stop_server, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TOUR = "".join(f'[[stop]]\ncase = "{c}"\ntitle = "Title {c}"\npoint = "The point of {c}."\n\n'
               for c in ("case000", "case002", "case004"))
STOP = '[data-testid="stMain"] strong'
X_RANGE = "el => el._fullLayout.xaxis.range[1] - el._fullLayout.xaxis.range[0]"


@pytest.fixture
def room_server(model_env, tmp_path):
    tour = tmp_path / "tour.toml"
    tour.write_text(TOUR)
    port, log = free_port(), tmp_path / "streamlit.log"
    proc = start_server(model_env["data"], model_env["checkpoint"], port, log,
                        env={"ECLIP_TOUR": str(tour), "ECLIP_INDEX_DIR": str(model_env["index_root"])})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def _stop(page, i: int) -> None:
    page.locator(STOP, has_text=re.compile(rf"^Stop {i} of 3\b")).first.wait_for(timeout=120000)


def _key(page, key: str, i: int) -> None:
    """Press ``key`` with the focus on the page (not in a box), wait for stop ``i``."""
    after_run(page, lambda: page.keyboard.press(key), lambda: _stop(page, i), 120000)


@needs_chromium
def test_presenter_fits_a_projector_and_walks_on_a_clickers_keys(room_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, 1280, 720)
            page.goto(room_server + "/presenter", wait_until="domcontentloaded")
            page.locator(".st-key-pr_window_1280x720").wait_for(state="attached", timeout=180000)
            wait_idle(page, 180000)
            _stop(page, 1)
            sidebar = "document.querySelector('[data-testid=stSidebar]').getBoundingClientRect()"
            assert page.evaluate(f"{sidebar}.right") <= 1  # folded away: the room sees the films
            films = page.locator('[data-testid="stMain"] .js-plotly-plot')
            films.nth(1).wait_for(timeout=60000)  # Plotly draws after the run
            assert films.count() == 2  # the gaze and the model's map
            boxes = [films.nth(k).bounding_box() for k in range(2)]
            assert all(b["height"] >= 330 for b in boxes), boxes  # three 190 px films before
            point = page.locator(".st-key-pr_point").get_by_text("The point of case000.")
            assert point.bounding_box()["y"] + point.bounding_box()["height"] <= 720  # on screen

            page.locator('[data-testid="stMain"] h1').click()  # the focus on the page, as after a click
            _key(page, "PageDown", 2)  # what a presenter's clicker sends
            _key(page, "ArrowRight", 3)
            _key(page, "PageDown", 1)  # round to the first stop
            _key(page, "PageUp", 3)
            _key(page, "ArrowLeft", 2)

            after_run(page, lambda: page.keyboard.press("f"),
                      lambda: page.get_by_role("button", name="Exit full screen").wait_for(), 60000)
            assert not page.locator('header[data-testid="stHeader"]').is_visible()
            assert not page.get_by_text("Export case report").count()
            if page.evaluate("!!document.fullscreenElement"):  # the browser's own: Esc leaves both
                page.keyboard.press("Escape")
            else:
                after_run(page, lambda: page.keyboard.press("Escape"), None, 60000)
            page.get_by_role("button", name="Full screen").wait_for(timeout=60000)
            wait_idle(page)
            _stop(page, 2)

            film = films.first
            box = film.bounding_box()
            before = film.evaluate(X_RANGE)
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            span = before
            for _ in range(12):  # each notch of the wheel zooms in a little (scroll up: in)
                page.mouse.wheel(0, -300)
                page.wait_for_function(f"el => ({X_RANGE})(el) < {span}", arg=film.element_handle())
                span = film.evaluate(X_RANGE)
                if span < before / 2:
                    break
            assert span < before / 2, (before, span)
            zoomed = film.evaluate("el => el._fullLayout.xaxis.range.slice()")
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=5)
            page.mouse.up()
            page.wait_for_function("([el, x0]) => el._fullLayout.xaxis.range[0] < x0",
                                   arg=[film.element_handle(), zoomed[0]])  # dragged right: earlier columns
        finally:
            browser.close()
