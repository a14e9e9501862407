"""What the browser tests share: Debian's Chromium (the app's own constants, app/core/chromium.py),
and ways to act on a Streamlit page and wait for what the action caused, never for a fixed
time (app/server/page_waits.py, which the screenshots command uses too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.core.chromium import CHROME_ARGS, CHROMIUM
from app.server.page_waits import TIMEOUT_MS, after_run, count_runs, open_sidebar, runs, wait_idle

__all__ = ["TIMEOUT_MS", "after_run", "choose", "launch", "leaving", "new_page", "open_page", "runs",
           "select_table_row", "sidebar_pages", "wait_idle"]

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: `make browser`")


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)


def new_page(browser, width: int = 1600, height: int = 1000):
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    count_runs(page)
    return page


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
    open_sidebar(page, link, timeout_ms)  # the Presenter leaves it folded
    after_run(page, link.click, lambda: heading.wait_for(timeout=timeout_ms), timeout_ms)


def leaving(urls: list[str]) -> list[str]:
    """The requests that would leave this machine (data: and blob: URLs never do)."""
    return sorted({u for u in urls
                   if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"})
