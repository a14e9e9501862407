"""One end-to-end test in a real browser: `streamlit run app/main.py` on a free localhost
port, Debian chromium driven by Playwright, a click on a case, a screenshot, then every page
of the sidebar. Every request the browser makes is recorded: the app must serve everything
itself (a demo server may be offline), so a request to any host but 127.0.0.1 fails it.

With ECLIP_UPDATE_SCREENSHOT=1 it also writes assets/screenshot_explore.png for the README,
against a demo corpus ($ECLIP_SCREENSHOT_DATA, else data/demo) when one exists, else the
tiny dataset."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import after_run, choose, launch, leaving, needs_chromium, new_page, open_page, select_table_row
from browser import sidebar_pages, wait_idle

from app.server import serve

REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = REPO / ".cache" / "e2e"  # ignored by git
README_SHOT = REPO / "assets" / "screenshot_explore.png"
CASE_TITLE = '[data-testid="stMarkdownContainer"] h4'  # the case viewer's heading names the case

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def streamlit_server(tiny_dataset, tmp_path):
    data, showcase = Path(tiny_dataset), False
    if os.environ.get("ECLIP_UPDATE_SCREENSHOT") == "1":
        # For the README: a demo corpus (ECLIP_SCREENSHOT_DATA, else data/demo) when present.
        demo = Path(os.environ.get("ECLIP_SCREENSHOT_DATA") or REPO / "data" / "demo")
        if (demo / "manifest.csv").is_file():
            data, showcase = demo, True
    # data/demo as the app's own default names it (relative), so the sidebar shows no server path
    shown = "data/demo" if data == REPO / "data" / "demo" else str(data)
    port, log = serve.free_port(), tmp_path / "streamlit.log"
    proc = serve.start_server(shown, checkpoint=None if showcase else "none", port=port, log_path=log)
    try:
        serve.wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "showcase": showcase, "data": data, "log": log}
    finally:
        serve.stop_server(proc)


def _pick_case(page, case_id: str) -> None:
    choose(page, "Case", case_id, expect=page.locator(CASE_TITLE, has_text=case_id).wait_for)


@needs_chromium
def test_browser_case_click_and_overlay(streamlit_server):
    from playwright.sync_api import sync_playwright

    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser)
            page.set_default_timeout(20000)
            requests, page_errors = [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.goto(streamlit_server["url"], wait_until="domcontentloaded")
            page.wait_for_selector(".js-plotly-plot", timeout=60000)
            wait_idle(page)
            assert page.get_by_text("SIMULATED data").first.is_visible()
            if streamlit_server["showcase"]:
                _pick_demo_showcase(page, streamlit_server["data"])
            else:
                _pick_case(page, "case001")  # no gaze: the page must say so
                page.get_by_text("No gaze for this case").wait_for()
                _pick_case(page, "case002")  # gaze: the heatmap layer is drawn
                # a row picked in the case table selects its case
                select_table_row(page, "case004", expect=page.locator(CASE_TITLE, has_text="case004").wait_for)
            page.wait_for_selector(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm", state="attached")
            page.locator('[data-testid="stSidebar"]').hover()  # no hover toolbars in the shot
            wait_idle(page)
            shot = SHOT_DIR / "explore.png"
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            if os.environ.get("ECLIP_UPDATE_SCREENSHOT") == "1":
                README_SHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, README_SHOT)
            visited = sidebar_pages(page)
            for title in visited:
                open_page(page, title)
        finally:
            browser.close()
    assert b"Traceback" not in streamlit_server["log"].read_bytes()
    assert {"Case browser", "Model vs gaze", "Draft report"} <= set(visited), visited
    assert not page_errors, page_errors
    assert requests and not leaving(requests), (
        f"the browser fetched from outside the app on {visited}: {leaving(requests)}")


def _showcase_case(root: Path) -> str:
    """A gaze case whose finding masks are clearly visible (largest mask area up to 15 %)."""
    import numpy as np

    from eclip.data.manifest import read_manifest

    df = read_manifest(root)
    best, best_area = None, 0.0
    for row in df[(df["gaze_path"] != "") & (df["mask_path"] != "")].head(300).itertuples():
        with np.load(root / row.mask_path) as masks:
            area = sum(float(masks[k].mean()) for k in masks.files)
        if best_area < area <= 0.15:
            best, best_area = row.id, area
    return best


def _pick_demo_showcase(page, root: Path) -> None:
    """For the README: a gaze case with its finding masks shown."""
    after_run(page, page.get_by_text("with gaze", exact=True).click)
    case_id = _showcase_case(root)
    if case_id:
        _pick_case(page, case_id)
        after_run(page, page.get_by_text("Masks", exact=True).first.click)
