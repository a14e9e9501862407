"""What the browser tests share: Debian's Chromium (the app's own constants, app/serve.py),
and ways to act on a Streamlit page and wait for what the action caused, never for a fixed
time. A fixed sleep is too short on a busy machine and wasted on an idle one; these waits
end when what the action's script run draws is there (a heading naming the case, a
button) and the app says no run is going on (the ``data-test-script-state`` attribute of
its root element). The state alone cannot tell that a run has begun: right after a click
it still reads "notRunning", and a run the app answers from its caches can start and end
within one frame of the browser without the attribute ever reading "running"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.serve import CHROME_ARGS, CHROMIUM

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: `make browser`")

APP = '[data-testid="stApp"]'
TIMEOUT_MS = 60_000
# Counts the script runs the page has seen start: installed before the app's own scripts on
# every navigation, it sees a run that starts and ends between two polls, though not one
# that starts and ends within one frame (see above).
_COUNT_RUNS = """
window.__eclipRuns = 0;
new MutationObserver(records => {
  for (const r of records) {
    if (r.target.getAttribute('data-test-script-state') === 'running' && r.oldValue !== 'running') {
      window.__eclipRuns += 1;
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""
_IDLE = f"""() => {{
  const app = document.querySelector('{APP}');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning';
}}"""


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)


def new_page(browser, width: int = 1600, height: int = 1000):
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    page.add_init_script(_COUNT_RUNS)
    return page


def wait_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until no script run is going on and what the last one drew has loaded: images,
    fonts, then two animation frames (Plotly draws on the next frame)."""
    page.wait_for_function(_IDLE, timeout=timeout_ms)
    page.wait_for_function("[...document.images].every(image => image.complete)", timeout=timeout_ms)
    page.evaluate("""async () => {
      await document.fonts.ready;
      await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    }""")


def runs(page) -> int:
    return page.evaluate("window.__eclipRuns")


def after_run(page, action: Callable[[], object], expect: Callable[[], object] | None = None,
              timeout_ms: int = TIMEOUT_MS) -> None:
    """Do ``action`` (a click, a choice, an upload), wait for ``expect`` (a wait for what its
    run draws and was not there before), then until no run is going on. Without ``expect``
    a run must be seen to start, which only a run that outlasts a frame is (filtering a
    demo corpus, say)."""
    before = runs(page)
    action()
    if expect is None:
        page.wait_for_function("n => window.__eclipRuns > n", arg=before, timeout=timeout_ms)
    else:
        expect()
    wait_idle(page, timeout_ms)


def choose(page, box: str, option: str, expect: Callable[[], object] | None = None) -> None:
    """Open the selectbox labelled ``box``, type to bring ``option`` into view (the list is
    virtualised) and click it, as a person would; then as :func:`after_run`."""
    combo = page.get_by_role("combobox", name=box, exact=True)
    combo.click()
    combo.fill(option)
    after_run(page, page.get_by_role("option", name=option, exact=True).click, expect)


def select_table_row(page, text: str, expect: Callable[[], object] | None = None) -> None:
    """Select the row of the first table (a canvas grid) whose cell reads ``text`` with the
    keyboard: the grid keeps an accessible copy of its cells, focusing one makes it the
    grid's cursor, and Shift+Space selects the cursor's row."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    grid.hover()  # Streamlit takes a cell cursor from the grid only while the pointer is over it
    # The grid's first focus puts its cursor on the first cell, over any other: let it.
    grid.get_by_role("gridcell", include_hidden=True).first.focus()
    grid.locator('td[aria-selected="true"]').wait_for(state="attached")
    cell = grid.get_by_role("gridcell", name=text, exact=True, include_hidden=True)
    cell.focus()
    page.wait_for_function("cell => cell.getAttribute('aria-selected') === 'true'", arg=cell.element_handle())
    after_run(page, lambda: page.keyboard.press("Shift+Space"), expect)


def sidebar_pages(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"]').get_by_role("link")
    return [t.split("\n")[-1] for t in links.all_inner_texts()]


def open_page(page, title: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Open a page from the sidebar, as a visitor would, and let its run finish: every page
    of the app starts with its title as a heading."""
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link").filter(has_text=title)
    heading = page.get_by_role("heading", name=title, level=1)
    after_run(page, link.click, lambda: heading.wait_for(timeout=timeout_ms), timeout_ms)


def leaving(urls: list[str]) -> list[str]:
    """The requests that would leave this machine (data: and blob: URLs never do)."""
    return sorted({u for u in urls
                   if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"})
