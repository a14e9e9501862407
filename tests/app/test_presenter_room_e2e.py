"""The Presenter in a room, in a real browser (`python -m app` on 127.0.0.1, Debian chromium via
Playwright, tests/browser.py's waits): at 1280 x 720 the sidebar is folded and the films and
the talking point fit the window; a clicker's PageDown/PageUp and the arrow keys walk the tour;
F and Esc enter and leave the full-screen layout; F then PageDown at once lands on the next stop
and stays there when the full screen's size report comes, and Back returns to the stop left;
keys pressed right after F, faster than the app answers, each count once and in order;
scrolling on a film zooms it and dragging pans it."""

from __future__ import annotations

import re

import pytest
from browser import after_run, launch, needs_chromium, new_page, wait_idle
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from app.server.page_waits import window_reported
from app.server.serve import free_port, start_server, stop_server, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TOUR = "".join(f'[[stop]]\ncase = "{c}"\ntitle = "Title {c}"\npoint = "The point of {c}."\n\n'
               for c in ("case000", "case002", "case004"))
STOP = '[data-testid="stMain"] strong'
X_RANGE = "el => el._fullLayout.xaxis.range[1] - el._fullLayout.xaxis.range[0]"
# Plotly draws a wheel's zoom (plotly_relayout) once the wheel has stopped; a drag begun before
# that is lost to it (the pan's range overwritten by the zoom's). Times the last of each.
WATCH_ZOOM = """el => { el.__wheel = 0; el.__drawn = 0;
  el.addEventListener('wheel', () => { el.__wheel = performance.now(); }, true);
  el.on('plotly_relayout', () => { el.__drawn = performance.now(); }); }"""
# Keys that reach the page back to back, as a clicker's do while the page is busy (F's full
# screen redraws every film): Chromium hands them over one after the other, before Streamlit's
# next turn sends the first press to the app.
BURST = """keys => { for (const key of keys)
  document.dispatchEvent(new KeyboardEvent('keydown', {key: key, bubbles: true, cancelable: true})); }"""
# The room component has pressed every key it was given and the app has drawn each press.
KEYS_DONE = """() => [...document.querySelectorAll('.st-key-pr_room iframe')].every(frame => {
  const root = frame.contentDocument && frame.contentDocument.documentElement;
  return !!root && !root.dataset.keys;
})"""


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


def _leave_full(page) -> None:
    """Esc, and wait for the layout to be left (the button's own name: "Full screen" alone
    also names "Exit full screen"). In the browser's own full screen Esc is the browser's,
    and the page leaves the layout when the browser leaves it; headless Chromium does not
    leave it on a test's Esc, so the test leaves it as the browser's Esc would."""
    left = page.get_by_role("button", name="Full screen", exact=True)
    if page.evaluate("!!document.fullscreenElement"):
        after_run(page, lambda: page.evaluate("document.exitFullscreen()"), left.wait_for, 60000)
    else:
        after_run(page, lambda: page.keyboard.press("Escape"), left.wait_for, 60000)


class Relay:
    """The page's websocket to the app, passed through the test. Armed, it lets the size
    report that follows Next reach the app only once the app has written Next's ?case=, and
    lets the page hear of that write only after: the report's rerun carries the address bar
    from before Next's run changed it, as when the report's 200 ms end just then. Which run
    comes first is then fixed, not left to the machine's load."""

    def __init__(self, page):
        self.armed = False
        page.route_web_socket(re.compile(r"/_stcore/stream"), self._route)

    def _route(self, ws) -> None:
        self.tab, self.app = ws, ws.connect_to_server()
        ws.on_message(self._up)
        self.app.on_message(self._down)

    def arm(self) -> None:
        self.armed, self.next_sent, self.written, self.up, self.down = True, False, False, [], []

    def _up(self, message) -> None:
        if self.armed and isinstance(message, bytes):
            msg = BackMsg.FromString(message)
            if msg.WhichOneof("type") == "rerun_script":
                if not self.next_sent:
                    self.next_sent = any(w.id.endswith("-pr_next") and w.trigger_value
                                         for w in msg.rerun_script.widget_states.widgets)
                else:  # the size report
                    self.up.append(message)
                    return self._release()
        self.app.send(message)

    def _down(self, message) -> None:
        if not (self.armed and self.next_sent):
            return self.tab.send(message)
        self.down.append(message)
        if isinstance(message, bytes) and ForwardMsg.FromString(message).WhichOneof("type") == "page_info_changed":
            self.written = True
        self._release()

    def _release(self) -> None:
        if self.written and self.up:
            self.armed = False
            for message in self.up:
                self.app.send(message)
            for message in self.down:
                self.tab.send(message)


@needs_chromium
def test_presenter_fits_a_projector_and_walks_on_a_clickers_keys(room_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, 1280, 720)
            relay = Relay(page)
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
            _leave_full(page)
            _stop(page, 2)

            # F, then PageDown before the full screen's size report (200 ms after the resize;
            # headless Chromium's full screen keeps the viewport, so the test resizes it): the
            # report's rerun carries ?case=case002, the stop Next left (taken for a link, it took
            # the Presenter back there).
            relay.arm()
            page.keyboard.press("f")
            # F's own run first: a second key pressed before it is sent can replace its button
            # trigger (Streamlit keeps the latest), which is a different race from the one here
            page.get_by_role("button", name="Exit full screen").wait_for(timeout=60000)
            page.keyboard.press("PageDown")
            page.set_viewport_size({"width": 1280, "height": 800})
            page.locator(".st-key-pr_window_1280x800").wait_for(state="attached", timeout=120000)
            window_reported(page)
            wait_idle(page)  # the report's run has drawn the new size, and has ended
            assert page.locator(STOP).filter(has_text=re.compile(r"^Stop \d of 3")).first.inner_text().startswith(
                "Stop 3 of 3")
            assert page.evaluate("location.search") == "?case=case004"
            assert page.get_by_role("button", name="Exit full screen").is_visible()  # F's layout too
            after_run(page, page.go_back, lambda: _stop(page, 2))  # the browser's Back reopens the stop left
            assert page.evaluate("location.search") == "?case=case002"
            _leave_full(page)
            after_run(page, lambda: page.set_viewport_size({"width": 1280, "height": 720}),
                      lambda: page.locator(".st-key-pr_window_1280x720").wait_for(state="attached"), 60000)
            window_reported(page)

            film = films.first
            film.evaluate(WATCH_ZOOM)
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
            page.wait_for_function("el => el.__drawn > el.__wheel", arg=film.element_handle())  # zoom drawn
            zoomed = film.evaluate("el => el._fullLayout.xaxis.range.slice()")
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=5)
            page.mouse.up()
            page.wait_for_function("([el, x0]) => el._fullLayout.xaxis.range[0] < x0",
                                   arg=[film.element_handle(), zoomed[0]])  # dragged right: earlier columns
        finally:
            browser.close()


@needs_chromium
def test_keys_pressed_right_after_f_each_count_once_in_order(room_server):
    """F, then PageDown twice before the app has answered F: two stops on, in full screen. The
    page used to click Next for each key at once; Streamlit sends the clicks of one turn of the
    page together, and one button's two clicks are one press (the second PageDown was lost), and
    a key the app took while a run was under way could act on the stop before it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, 1280, 720)
            page.goto(room_server + "/presenter", wait_until="domcontentloaded")
            page.locator(".st-key-pr_window_1280x720").wait_for(state="attached", timeout=180000)
            wait_idle(page, 180000)
            _stop(page, 1)
            page.locator('[data-testid="stMain"] h1').click()  # the focus on the page, as after a click

            page.keyboard.press("f")
            page.evaluate(BURST, ["PageDown", "PageDown"])
            page.set_viewport_size({"width": 1280, "height": 800})  # the full screen's own resize
            page.wait_for_function(KEYS_DONE, timeout=120000)
            page.locator(".st-key-pr_window_1280x800").wait_for(state="attached", timeout=120000)
            window_reported(page)
            wait_idle(page)
            assert page.locator(STOP).filter(has_text=re.compile(r"^Stop \d of 3")).first.inner_text().startswith(
                "Stop 3 of 3")
            assert page.evaluate("location.search") == "?case=case004"
            assert page.get_by_role("button", name="Exit full screen").is_visible()

            # In order: Next, then Previous twice (round to the last stop), then F out of the layout
            page.evaluate(BURST, ["PageDown", "PageUp", "PageUp", "f"])
            page.wait_for_function(KEYS_DONE, timeout=120000)
            wait_idle(page)
            assert page.locator(STOP).filter(has_text=re.compile(r"^Stop \d of 3")).first.inner_text().startswith(
                "Stop 2 of 3")
            assert page.evaluate("location.search") == "?case=case002"
            assert page.get_by_role("button", name="Full screen", exact=True).is_visible()
        finally:
            browser.close()
