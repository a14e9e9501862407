"""Your own image in a real browser: `streamlit run` with a (micro) model, Debian chromium via
Playwright. Upload a DICOM whose header names a patient, a hospital and an ID, change its
window, see its Grad-CAM map on Model vs gaze, export the case report, follow a deep link,
and find none of the identifiers in any page's HTML, the exported report or the server's log.
Each interaction's time is printed (`pytest -s`) as measured in the browser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser import after_run, choose, launch, leaving, needs_chromium, new_page, open_page, wait_idle
from app_helpers import SECRETS, dicom_bytes

from app.server.serve import free_port, start_server, stop_server, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UPLOAD_NAME = "Zqxwy^Mortimer PID-99887766"  # named after the patient, no extension


@pytest.fixture
def model_server(tiny_dataset, micro_model, tmp_path):
    port, log = free_port(), tmp_path / "streamlit.log"
    # debug logging: whatever the app or Streamlit would log about the upload is in the file
    proc = start_server(tiny_dataset, micro_model["checkpoint"], port, log,
                        env={"ECLIP_INDEX_DIR": str(micro_model["index_root"]),
                             "STREAMLIT_LOGGER_LEVEL": "debug"})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield {"url": f"http://127.0.0.1:{port}", "log": log}
    finally:
        stop_server(proc)


def _timed(label: str, timings: dict, wait) -> None:
    start = time.perf_counter()
    wait()
    timings[label] = time.perf_counter() - start


def _image_href(page) -> str:
    return page.locator(".js-plotly-plot .layer-below image, .js-plotly-plot image").first.get_attribute("href") or ""


def _export_report(page, timings: dict) -> str:
    """Export case report -> Download report (HTML), as a person does: the downloaded file."""
    _timed("export case report", timings, lambda: (
        after_run(page, page.get_by_role("button", name="Export case report").click,
                  lambda: page.get_by_role("button", name="Download report (HTML)").wait_for(timeout=120000),
                  120000)))
    with page.expect_download() as got:
        page.get_by_role("button", name="Download report (HTML)").click()
    return Path(got.value.path()).read_text(encoding="utf-8")


@needs_chromium
def test_uploaded_dicom_through_the_browser(model_server, tmp_path):
    from playwright.sync_api import sync_playwright

    timings, html, requests = {}, [], []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(model_server["url"], wait_until="domcontentloaded")
            page.wait_for_selector(".js-plotly-plot", timeout=180000)  # a cold server, busy CPUs
            wait_idle(page, 180000)
            dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
            _timed("upload -> image shown", timings, lambda: (
                after_run(page, lambda: dropzone.set_input_files(files=[{
                    "name": UPLOAD_NAME, "mimeType": "application/dicom", "buffer": dicom_bytes(tmp_path)}]),
                    lambda: page.locator('[data-testid="stMarkdownContainer"] h4',
                                         has_text="uploaded image").wait_for(timeout=120000), 120000)))
            page.get_by_text("Typicality").first.wait_for(timeout=60000)
            assert "case=" not in page.url  # an upload is never put in a link
            before = _image_href(page)
            _timed("window preset -> image redrawn", timings, lambda: (
                choose(page, "Window", "lung", expect=lambda: page.wait_for_function(
                    "old => [...document.querySelectorAll('.js-plotly-plot image')]"
                    ".some(i => (i.getAttribute('href') || '') !== old && i.getAttribute('href'))",
                    arg=before, timeout=60000))))
            html.append(page.content())
            page.screenshot(path=str(tmp_path / "upload.png"))

            _timed("Model vs gaze -> Grad-CAM on the upload", timings, lambda: (
                open_page(page, "Model vs gaze", 120000),
                page.wait_for_selector(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm", state="attached",
                                       timeout=120000)))
            page.get_by_text("No gaze for an uploaded image").wait_for(timeout=60000)
            page.get_by_text("Typicality").first.wait_for(timeout=60000)
            wait_idle(page)
            html.append(page.content())
            page.screenshot(path=str(tmp_path / "explain.png"))
            report = _export_report(page, timings)
            assert "uploaded image" in report and "not a diagnosis" in report
            assert report.count("data:image/png;base64,") >= 1  # the Grad-CAM figure, embedded
            html.append(report)

            _timed("deep link -> case shown", timings, lambda: (
                page.goto(model_server["url"] + "/explain?case=case004", wait_until="domcontentloaded"),
                page.get_by_role("combobox", name="Case", exact=True).wait_for(timeout=120000)))
            wait_idle(page, 120000)
            assert "case004" in page.locator('[data-testid="stSelectbox"]').filter(
                has=page.get_by_role("combobox", name="Case", exact=True)).inner_html()
            assert "case=case004" in page.url
            html.append(page.content())
        finally:
            browser.close()
    for label, seconds in timings.items():
        print(f"{label}: {seconds:.2f} s")
    server_log = model_server["log"].read_text(errors="replace")
    assert "Traceback" not in server_log
    for secret in SECRETS:
        assert not any(secret in h for h in html), f"{secret!r} in the page HTML"
        assert secret not in server_log, f"{secret!r} in the server log"
    assert not leaving(requests), leaving(requests)
