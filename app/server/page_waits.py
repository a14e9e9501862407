"""Waiting on a Streamlit page in a real browser (Playwright) for what an action caused, never
for a fixed time: the screenshots command and the browser tests share these.

A fixed sleep is too short on a busy machine and wasted on an idle one; these waits end when
what the action's script run draws is there (a heading naming the case, a button) and the
app says no run is going on (the ``data-test-script-state`` attribute of its root element).
The state alone cannot tell that a run has begun: right after a click it still reads
"notRunning", and a run the app answers from its caches can start and end within one frame
of the browser without the attribute ever reading "running".
"""

from __future__ import annotations

from collections.abc import Callable

APP = '[data-testid="stApp"]'
TIMEOUT_MS = 60_000
# Counts the script runs the page has seen start: installed before the app's own scripts on
# every navigation, it sees a run that starts and ends between two polls, though not one
# that starts and ends within one frame (see above).
COUNT_RUNS = """
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


def count_runs(page) -> None:
    """Count the script runs of ``page`` from its next navigation on (before ``goto``)."""
    page.add_init_script(COUNT_RUNS)


def settled(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """What is drawn has loaded: images, fonts, then two animation frames (Plotly draws on
    the next frame, and redraws on the one after a resize)."""
    page.wait_for_function("[...document.images].every(image => image.complete)", timeout=timeout_ms)
    page.evaluate("""async () => {
      await document.fonts.ready;
      await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    }""")


def wait_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until no script run is going on and what the last one drew has loaded."""
    page.wait_for_function(_IDLE, timeout=timeout_ms)
    settled(page, timeout_ms)


# The Presenter's room component (app/static/room/index.html) reports the window's size 200 ms
# after a resize ends; each report is a rerun. Settled: no report to come, the last one this size.
_WINDOW_REPORTED = """() => [...document.querySelectorAll('.st-key-pr_room iframe')].every(frame => {
  const root = frame.contentDocument && frame.contentDocument.documentElement;
  return !!root && !root.dataset.pending
    && root.dataset.sent === JSON.stringify({width: innerWidth, height: innerHeight});
})"""


def window_reported(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """After the window was resized: until the page has been told its size and no report is
    to come (a page without the room component is told nothing). A report sent after the next
    click would start a rerun that cuts the click's run short (a button's True is lost) and
    carries the address bar as it was before the click's run changed it (the case pages take
    that for the address bar catching up, app/components/case/current_case.py; the Presenter's
    Next used to go back to the stop it left)."""
    page.wait_for_function(_WINDOW_REPORTED, timeout=timeout_ms)


def runs(page) -> int:
    return page.evaluate("window.__eclipRuns")


def after_run(page, action: Callable[[], object], expect: Callable[[], object] | None = None,
              timeout_ms: int = TIMEOUT_MS) -> None:
    """Do ``action`` (a click, a choice, an upload), wait for ``expect`` (a wait for what its
    run draws and was not there before), then until no run is going on. Without ``expect``
    a run must be seen to start, which only a run that outlasts a frame is (filtering a
    demo corpus, say); the page must count its runs (``count_runs``)."""
    before = runs(page)
    action()
    if expect is None:
        page.wait_for_function("n => window.__eclipRuns > n", arg=before, timeout=timeout_ms)
    else:
        expect()
    wait_idle(page, timeout_ms)


def open_sidebar(page, link, timeout_ms: int = TIMEOUT_MS) -> None:
    """The Presenter folds the sidebar for the room, and it stays folded on the next page: open
    it as a person does (the header's expand button) when a sidebar link is needed."""
    expand = page.locator('[data-testid="stExpandSidebarButton"]')
    if not (expand.count() and expand.first.is_visible()):
        return
    expand.first.click()
    link.wait_for(state="visible", timeout=timeout_ms)
    page.wait_for_function(  # the slide-in has ended: the link lies inside the window
        "el => { const r = el.getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth; }",
        arg=link.element_handle(), timeout=timeout_ms)
