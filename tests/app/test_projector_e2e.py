"""Ready for the projector, in a real browser (`python -m app` on 127.0.0.1, Debian chromium via
Playwright, tests/browser.py's waits) over a dataset of more cases than a case box lists: an id
typed in the Case box opens a case past the first 1,000; a refused upload leaves no file chip
(no file name) on screen and the next file dropped is taken; a link to an id the dataset lacks
says so."""

from __future__ import annotations

import pytest
from browser import after_run, launch, needs_chromium, new_page, wait_idle
from app_helpers import UPLOAD_NAME, png_bytes

from app.server.serve import free_port, start_server, stop_server, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CASE_TITLE = '[data-testid="stMarkdownContainer"] h4'


@pytest.fixture
def big_server(big_dataset, tmp_path):  # noqa: F811 (the fixture imported above)
    port, log = free_port(), tmp_path / "streamlit.log"
    proc = start_server(big_dataset, "none", port, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield {"url": f"http://127.0.0.1:{port}", "log": log}
    finally:
        stop_server(proc)


def _drop(page, name: str, data: bytes, mime: str, shows) -> None:
    """Drop a file on the uploader, then wait for ``shows`` (a locator its run draws)."""
    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    after_run(page, lambda: dropzone.set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}]),
              lambda: shows.wait_for(timeout=120000), timeout_ms=120000)


@needs_chromium
def test_typed_ids_refused_uploads_and_bad_links_in_the_browser(big_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser)
            page.goto(big_server["url"], wait_until="domcontentloaded")
            page.locator(CASE_TITLE, has_text="case000").wait_for(timeout=180000)  # a cold server
            wait_idle(page, 180000)

            combo = page.get_by_role("combobox", name="Case", exact=True)
            combo.click()
            combo.fill("case1050")  # past the 1,000 the box lists: no option to click
            # Enter takes the typed id once the box offers it (before that, Enter can land on an
            # empty filter and no run comes)
            page.get_by_role("option", name="Add: case1050").wait_for()
            # waits on what the run draws: a run too short to outlast a frame is never seen to start
            after_run(page, lambda: page.keyboard.press("Enter"),
                      lambda: page.locator(CASE_TITLE, has_text="case1050").wait_for(timeout=60000))
            assert "case=case1050" in page.url

            _drop(page, UPLOAD_NAME, b"not an image at all" * 20, "text/plain",
                  page.get_by_text("not a DICOM").first)
            assert "Zqxwy" not in page.content()  # no file chip left on the projector
            assert not page.locator('[data-testid="stFileUploaderFile"]').count()
            _drop(page, "film.png", png_bytes(), "image/png",  # the box on screen takes it
                  page.locator(CASE_TITLE, has_text="uploaded image"))
            assert "Zqxwy" not in page.content() and "film.png" not in page.content()

            page.goto(big_server["url"] + "/?case=nosuch042", wait_until="domcontentloaded")
            page.get_by_text("not in this dataset").first.wait_for(timeout=120000)
            assert "nosuch042" in page.content()
        finally:
            browser.close()
    assert "Traceback" not in big_server["log"].read_text(errors="replace")
