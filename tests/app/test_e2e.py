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
from urllib.parse import urlsplit

import pytest

from app import serve
from app.serve import CHROME_ARGS, CHROMIUM

REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = REPO / ".cache" / "e2e"  # ignored by git
README_SHOT = REPO / "assets" / "screenshot_explore.png"

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
    """Open the 'Case' selectbox and click the option, as a person would."""
    box = page.get_by_role("combobox", name="Case", exact=True)
    box.click()
    box.fill(case_id)  # the option list is virtualised: type to bring the case into view
    page.get_by_role("option", name=case_id, exact=True).click()
    page.locator('[data-testid="stMarkdownContainer"] h4', has_text=case_id).wait_for(timeout=20000)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: `make browser`")
def test_browser_case_click_and_overlay(streamlit_server):
    from playwright.sync_api import sync_playwright

    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000},
                                    device_scale_factor=1)
            requests, page_errors = [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.goto(streamlit_server["url"], wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=60000)
            page.wait_for_selector(".js-plotly-plot", timeout=60000)
            assert page.get_by_text("SIMULATED data").first.is_visible()
            if streamlit_server["showcase"]:
                _pick_demo_showcase(page, streamlit_server["data"])
            else:
                _pick_case(page, "case001")  # no gaze: the page must say so
                page.get_by_text("No gaze for this case").wait_for(timeout=20000)
                _pick_case(page, "case002")  # gaze: the heatmap layer is drawn
                _click_table_row(page, 4)  # a click in the case table selects case004
                page.locator('[data-testid="stMarkdownContainer"] h4',
                             has_text="case004").wait_for(timeout=20000)
            page.wait_for_selector(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm",
                                   state="attached", timeout=20000)
            page.mouse.move(5, 995)  # no hover toolbars in the shot
            page.wait_for_timeout(800)  # let plotly finish its transition before the shot
            shot = SHOT_DIR / "explore.png"
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            if os.environ.get("ECLIP_UPDATE_SCREENSHOT") == "1":
                README_SHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, README_SHOT)
            visited = _visit_every_page(page)
        finally:
            browser.close()
    assert b"Traceback" not in streamlit_server["log"].read_bytes()
    assert {"Case browser", "Model vs gaze", "Draft report"} <= set(visited), visited
    assert not page_errors, page_errors
    assert requests and not _leaving(requests), (
        f"the browser fetched from outside the app on {visited}: {_leaving(requests)}")


def _leaving(urls: list[str]) -> list[str]:
    """The requests that would leave this machine (data: and blob: URLs never do)."""
    return sorted({u for u in urls
                   if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"})


def _visit_every_page(page) -> list[str]:
    """Open each page from the sidebar, as a visitor would, and let it finish its run."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    titles = [t.split("\n")[-1] for t in links.all_inner_texts()]
    for title in titles:
        links.filter(has_text=title).click()
        _wait_idle(page)
    return titles


def _wait_idle(page, timeout_ms: int = 60000) -> None:
    """Wait for the script run a click started to end: Streamlit shows its running indicator
    (stStatusWidget) from about 0.5 s into a run until the run ends."""
    page.wait_for_timeout(700)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout_ms)
    page.wait_for_timeout(500)  # late fetches of what the run drew (images, the favicon)


def _click_table_row(page, row: int) -> None:
    """Click the selection cell of a row of the case table (a canvas grid: by position)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    row_h = 35  # Streamlit's default row height; the header row has the same height
    page.mouse.click(box["x"] + 14, box["y"] + row_h * (row + 1) + row_h / 2)


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
    page.get_by_text("with gaze", exact=True).click()
    page.wait_for_timeout(1500)
    case_id = _showcase_case(root)
    if case_id:
        _pick_case(page, case_id)
        page.get_by_text("Masks", exact=True).first.click()
        page.wait_for_timeout(1500)
