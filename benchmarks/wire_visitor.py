"""A visitor without a browser: Streamlit's own websocket protocol, spoken from Python.

Why it exists: on a small machine the load sweep's browser visitors (benchmarks/app_load.py)
were limited by their own CPU, not the server's. Eight Chromium renderers sharing one core
spend several times the server's CPU drawing each page, so the sweep measured how many pages
one core draws, while in a room every visitor brings their own device. A wire visitor costs
the load generator almost nothing, so N of them put N visitors' load on the server.

What it does, as a browser would: opens a session on ``/_stcore/stream`` (one ``rerun_script``
``BackMsg``, as the page sends when it loads), reads the ``ForwardMsg`` stream (the pages'
script hashes from ``st.navigation``'s message, every element drawn), changes a widget by
sending its new value (the widget's id taken from the element with that label in the last
run) with the page's other widget values, switches pages by their script hash, and fetches
over HTTP every media URL (images, the favicon) a run's elements reference that the previous
run did not (an element that stays the same is not fetched again). An interaction is timed
from sending the ``BackMsg`` until the server's ``script_finished`` has arrived and the new
media are fetched; an exception element, a run that does not finish successfully, a media
request that fails and a timeout are errors.

What it does not measure: the visitor's own rendering (React, Plotly, layout, paint) and the
browser's own requests (scripts, fonts). Its seconds are the server's answer as the network
delivers it; the browser visitor's (``app_load.visit``) add the page's drawing on top.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin

# ForwardMsg.ScriptFinishedStatus: ended well (a full run or a fragment's); ended for a rerun
FINISHED_OK = (0, 3)
FINISHED_FOR_RERUN = 2
MEDIA_URL = re.compile(r"/(?:media|app/static)/[\w%-]+(?:\.[\w%-]+)*")  # no trailing dot
NOT_FETCHED = frozenset({"download_button"})  # a browser fetches their file only on a click


# --------------------------------------------------------------------------- the messages
def element_kind(element) -> str:
    return element.WhichOneof("type") or ""


def find_widget(elements: Iterable, label: str, exact: bool = True) -> str:
    """The id of the widget labelled ``label`` (``exact`` False: whose label contains it)
    among ``elements`` (``Element`` protos), as a person finds a box by its label."""
    for element in elements:
        part = getattr(element, element_kind(element), None)
        fields = part.DESCRIPTOR.fields_by_name if part is not None else {}
        if "id" in fields and "label" in fields and (
                part.label == label if exact else label in part.label):
            return part.id
    raise LookupError(f"no widget labelled {label!r}")


def string_state(widget_id: str, value: str):
    """A select box's, text area's or text input's value (all strings, the shown option's
    text for a select box) as the page sends it."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return WidgetState(id=widget_id, string_value=value)


def rerun_msg(page_hash: str, states: Iterable = (), query: str = "", url: str = ""):
    """The ``rerun_script`` ``BackMsg`` a page sends: on load (``page_hash`` "": the default
    page), on a widget change (the current page's hash, every widget's value) and on a page
    switch (the new page's hash, the values of the widgets outside the page)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    state = msg.rerun_script
    state.query_string, state.page_script_hash = query, page_hash
    state.widget_states.widgets.extend(states)
    state.context_info.timezone, state.context_info.locale = "UTC", "en-US"
    state.context_info.url = url
    return msg


def strings(part) -> Iterable[str]:
    """Every string in a protobuf message, nested messages included."""
    for fd, value in part.ListFields():
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            values = [v for item in value.items() for v in item]  # a map: keys and values
        else:
            values = value if fd.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif hasattr(item, "ListFields"):
                yield from strings(item)


def media_urls(msg) -> set[str]:
    """The media URLs (``/media/…``, ``/app/static/…``) a ``ForwardMsg`` has a browser
    fetch: in an element (its image, audio, video; in a markdown or HTML body too), the page
    config (the favicon) or the logo; not a download button's file."""
    kind = msg.WhichOneof("type")
    if kind == "delta":
        if msg.delta.WhichOneof("type") != "new_element":
            return set()
        if element_kind(msg.delta.new_element) in NOT_FETCHED:
            return set()
        part = msg.delta.new_element
    elif kind in ("page_config_changed", "logo"):
        part = getattr(msg, kind)
    else:
        return set()
    return {url for text in strings(part) for url in MEDIA_URL.findall(text)}


def body(element) -> str:
    part = getattr(element, element_kind(element), None)
    return getattr(part, "body", "") if part is not None else ""


def shows(text: str, *kinds: str) -> Callable[[list], bool]:
    """An expectation: some element (of ``kinds``, default markdown and headings) whose body
    has ``text``."""
    kinds = kinds or ("markdown", "heading")
    return lambda elements: any(element_kind(e) in kinds and text in body(e) for e in elements)


def at_least(count: int, kind: str) -> Callable[[list], bool]:
    """An expectation: ``count`` or more elements of ``kind`` (e.g. plotly_chart)."""
    return lambda elements: sum(element_kind(e) == kind for e in elements) >= count


def labelled(label: str) -> Callable[[list], bool]:
    """An expectation: a widget labelled ``label``."""
    def check(elements: list) -> bool:
        try:
            return bool(find_widget(elements, label))
        except LookupError:
            return False
    return check


# --------------------------------------------------------------------------- one run
@dataclass
class Run:
    """What one interaction's script run(s) sent: the elements by place, the media URLs,
    the exceptions drawn, how it finished, and when its end arrived (seconds since epoch)."""
    elements: dict = field(default_factory=dict)  # delta path -> Element
    main_ids: set = field(default_factory=set)  # widgets the main script drew (the sidebar)
    urls: set = field(default_factory=set)
    exceptions: list = field(default_factory=list)
    status: int | None = None
    seen: float = 0.0

    def take(self, msg, main_hash: str) -> None:
        """One ``ForwardMsg`` of the run."""
        self.urls |= media_urls(msg)
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            return
        element = msg.delta.new_element
        self.elements[tuple(msg.metadata.delta_path)] = element
        if element_kind(element) == "exception":
            self.exceptions.append(element.exception.message or element.exception.type)
        if msg.metadata.active_script_hash == main_hash:
            part = getattr(element, element_kind(element))
            if "id" in part.DESCRIPTOR.fields_by_name:
                self.main_ids.add(part.id)

    def widget_ids(self) -> set[str]:
        out = set()
        for element in self.elements.values():
            part = getattr(element, element_kind(element))
            if "id" in part.DESCRIPTOR.fields_by_name and part.id:
                out.add(part.id)
        return out

    def settle(self, states: dict) -> dict:
        """The widget values a page keeps after this run: those of widgets still shown, a
        value the app set (``st.session_state``) replacing the one the visitor gave."""
        kept = {}
        for element in self.elements.values():
            part = getattr(element, element_kind(element))
            wid = getattr(part, "id", None)
            if wid not in states:
                continue
            kept[wid] = states[wid]
            if getattr(part, "set_value", False):
                value = part.raw_value if element_kind(element) == "selectbox" else part.value
                kept[wid] = string_state(wid, value)
        return kept


# --------------------------------------------------------------------------- one visitor
class WireSession:
    """One visitor's Streamlit session over the websocket. ``record`` is what the visitor
    measured and saw (benchmarks/app_load.py's ``Visitor``: ``times``, ``windows``,
    ``session``, ``error``); each step is timed into it, or its error recorded."""

    def __init__(self, url: str, record, timeout_s: float):
        self.url, self.record, self.timeout_s = url.rstrip("/"), record, timeout_s
        self.ws = self.http = None
        self.pages: dict[str, str] = {}  # page title -> script hash (st.navigation's)
        self.page_hash = self.main_hash = self.query = ""
        self.last = Run()  # the last run that ended well: what the page shows
        self.states: dict = {}  # widget id -> the value this visitor gave it

    async def open(self, expect: Callable[[list], bool] | None = None) -> None:
        """Connect and run the default page, as a page does when it loads (not timed: a
        failure ends the visit)."""
        import httpx
        from websockets.asyncio.client import connect

        self.ws = await connect(f"ws{self.url[4:]}/_stcore/stream", origin=self.url,
                                subprotocols=["streamlit"], proxy=None, max_size=None,
                                max_queue=None, open_timeout=self.timeout_s)
        self.http = httpx.AsyncClient(base_url=self.url, timeout=self.timeout_s, trust_env=False)
        await self.act(None, lambda: rerun_msg("", (), "", self.url), expect)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.aclose()

    def has_widget(self, label: str, exact: bool = True) -> bool:
        try:
            find_widget(self.last.elements.values(), label, exact)
        except LookupError:
            return False
        return True

    async def switch_page(self, title: str, expect=None) -> None:
        """Click ``title`` in the sidebar: its script hash, the sidebar's widget values."""
        def msg():
            kept = [s for wid, s in self.states.items() if wid in self.last.main_ids]
            return rerun_msg(self.pages[title], kept, self.query, self.url)

        await self.act("switch page", msg, expect or shows(title, "heading"))

    async def set_value(self, kind: str | None, label: str, value: str, expect=None,
                        exact: bool = True) -> None:
        """Give the widget labelled ``label`` ``value`` (a select box's option, a text
        box's text, submitted), with the page's other widget values."""
        def msg():
            wid = find_widget(self.last.elements.values(), label, exact)
            self.states[wid] = string_state(wid, value)
            return rerun_msg(self.page_hash, self.states.values(), self.query, self.url)

        await self.act(kind, msg, expect)

    async def act(self, kind: str | None, build: Callable, expect=None) -> None:
        """Send ``build()``'s message and time it until its run has ended and the run's new
        media are fetched; check ``expect`` on the run's elements. ``kind`` None: a step
        the next ones need, not timed, whose failure ends the visit."""
        rec = self.record
        rec.current = kind
        try:
            t0, wall0 = time.perf_counter(), time.time()
            await self.ws.send(build().SerializeToString())
            run, failed = await asyncio.wait_for(self._answer(), self.timeout_s)
            elapsed = time.perf_counter() - t0
            if run.status not in FINISHED_OK:
                raise RuntimeError(f"the script run ended with status {run.status}")
            if expect is not None and not expect(list(run.elements.values())):
                raise LookupError("the run did not draw what it should")
        except Exception as exc:  # noqa: BLE001  (a timeout, a lost connection: an error)
            rec.current = None
            if kind is None:
                raise
            rec.error(f"{kind} did not finish: {type(exc).__name__}: "
                      f"{(str(exc).splitlines() or [''])[0][:160]}", kind)
            return
        if kind is not None:
            rec.times[kind].append(elapsed)
            rec.windows.append((kind, wall0, run.seen))
        for message in failed:
            rec.error(message, kind)
        for text in run.exceptions:
            rec.error(f"exception drawn by the app: {text[:200]}", kind)
        rec.current = None

    async def _answer(self) -> tuple[Run, list[str]]:
        """The run this visitor's message started, and the errors fetching its new media."""
        run = await self._finish()
        failed = [m for m in await asyncio.gather(*map(self._get, sorted(run.urls - self.last.urls)))
                  if m]
        if run.status in FINISHED_OK:
            self.states, self.last = run.settle(self.states), run
        return run, failed

    async def _finish(self) -> Run:
        """Read the stream until the run this message started has ended (one that ends for
        a rerun goes on in the next); what came before its start is an earlier run's."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        run = None
        while True:
            msg = ForwardMsg.FromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._new_session(msg.new_session)
                run = Run(urls=run.urls if run else set())
            elif run is None:
                continue
            elif kind == "navigation":
                self.page_hash = msg.navigation.page_script_hash
                self.pages = {p.page_name: p.page_script_hash for p in msg.navigation.app_pages}
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "script_finished" and msg.script_finished != FINISHED_FOR_RERUN:
                run.status, run.seen = msg.script_finished, time.time()
                return run
            run.take(msg, self.main_hash)

    def _new_session(self, new) -> None:
        self.main_hash = new.main_script_hash
        if new.HasField("initialize") and not self.record.session:
            self.record.session = new.initialize.session_id

    async def _get(self, url: str) -> str | None:
        """Fetch one media URL as the page's <img> does; its failure as an error line."""
        import httpx

        try:
            response = await self.http.get(urljoin(self.url + "/", url.lstrip("/")))
        except httpx.HTTPError as exc:
            return f"failed request: {url[:120]} ({type(exc).__name__})"
        return f"failed request: {url[:120]} (HTTP {response.status_code})" \
            if response.status_code >= 400 else None
