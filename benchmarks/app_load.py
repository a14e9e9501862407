"""The demo server under load: N visitors at once in real browsers, against one visitor.

Starts `streamlit run app/main.py` on 127.0.0.1 (the demo corpus and the shipped eCLIP
checkpoint by default) and drives it with Playwright: one Debian chromium, one browser
context per visitor (its own Streamlit session). Every visitor loops over three
interactions, each on fresh inputs so that no cache answers for it:

  change case            Case browser: pick another case in the "Case" box
  zero-shot prompt edit  Zero-shot, typed prompts: edit the classes, Ctrl+Enter
  Grad-CAM map           Model vs gaze: type a new prompt, Enter (Grad-CAM is the default)

plus the page switches between them. An interaction ends when the server has sent the end
of its script run (Streamlit's ``script_finished`` message on the page's websocket), the
element it should draw is shown, and Streamlit's running indicator (stStatusWidget) is
gone. After an unrecorded warm-up loop (model and index loads, the browser's first Plotly)
it runs one visitor alone, then N visitors together, and prints p50/p95 seconds per
interaction side by side, with the errors seen: page exceptions, console errors, failed
requests (and responses >= 400), requests leaving 127.0.0.1, exceptions the app drew.
Beside them, the server's part: the interaction's script runs as the server timed them
(its run log, app.server.serve.logged_run), from the first run's start to the last one's end.
Each level also says how the server's runs shared its CPUs: the share that overlapped another
run and each run's wait beyond its own CPU time, alone and overlapped (the load tail's cause).

The browsers run on the same machine as the server, so on a small machine their rendering
takes CPU from the server: the N-visitor times are an upper bound for remote visitors. With
``--pin`` they have CPUs of their own, but all N share them: a visitor's Chromium spends
several times the server's CPU on an interaction (drawing the page, not computing it), so
at N visitors the browsers' CPUs, not the server, can set the times. Each level's CPU line
says how busy the browsers kept theirs; the server's part says what the server took.

Two paces. Closed loop (the default): every visitor starts the next interaction as soon as
the last one is drawn, which saturates the server. A room's pace (``--think LO-HI``): a
visitor pauses before every step (page switches included) for a time drawn uniformly from
LO..HI seconds, seeded per visitor (``--seed``), as people read a film before they type.
``--sweep 1,2,4,8,16`` runs those numbers of visitors one level after another against one
server (one warm-up) and prints one table, visitors x interaction -> p50 / p95 / n /
errors and the p95 ratio to one visitor's with its bootstrap 95 % interval (a p95 of a
few dozen samples moves between reruns), with a verdict against the room's target:
8 visitors at a room's pace, 0 errors and every interaction's p95 within 1.5x of one
visitor's.

Two kinds of visitor. ``--visitors browser`` (the default): Chromium pages, as above.
``--visitors wire``: Python clients speaking Streamlit's websocket protocol
(benchmarks/wire_visitor.py), the same steps and pauses without a browser, so that on a
small machine the visitors' own drawing does not set the times (each brings their own device
in a room); an interaction runs from the message sent to the end of its script run received
and the media it shows fetched, the visitor's rendering not included. They are cheap, so the
one visitor (the reference) goes through ``--ref-loops`` cases (10 by default; browsers:
``--loops``). ``--probe`` makes one visitor of each level a Chromium page, in a table of its
own: what a person sees while the others load the server.

    python benchmarks/app_load.py                      # 8 visitors vs 1, 3 loops each
    python benchmarks/app_load.py --sessions 4 --loops 2
    python benchmarks/app_load.py --url http://127.0.0.1:8501   # a server already running
    python benchmarks/app_load.py --pin 1    # server on CPU 0, browsers on the others
    python benchmarks/app_load.py --sweep 1,2,4,8,16 --think 5-15 --pin 1   # a room's pace
    python benchmarks/app_load.py --visitors wire --sweep 1,2,4,8,16 --think 5-15 --pin 1
    python benchmarks/app_load.py --visitors wire --probe --sweep 1,2,4,8,16 --think 5-15 --pin 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from app.core.chromium import CHROME_ARGS, CHROMIUM
from app.server.serve import free_port, read_run_log, read_run_records, start_server, stop_server, wait_healthy

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

INTERACTIONS = ("change case", "zero-shot prompt edit", "Grad-CAM map", "switch page")
TARGET_RATIO = 3.0  # closed loop: N visitors' p95 within 3x one visitor's
ROOM_VISITORS, ROOM_RATIO = 8, 1.5  # a room's pace: 8 visitors' p95 within 1.5x one visitor's
FINDINGS = ("pleural effusion", "cardiomegaly", "pneumothorax", "atelectasis", "edema",
            "consolidation", "lung opacity")
STATUS = '[data-testid="stStatusWidget"]'
MAIN = '[data-testid="stMain"]'


# --------------------------------------------------------------------------- the server
def split_cpus(server_cpus: int) -> tuple[set[int], set[int]]:
    """(the server's CPUs, the browsers'): the first ``server_cpus`` of this process's."""
    mine = sorted(os.sched_getaffinity(0))
    if not 0 < server_cpus < len(mine):
        raise SystemExit(f"--pin {server_cpus}: this process may use {len(mine)} CPUs; give the "
                         "server at least one and leave the browsers at least one")
    return set(mine[:server_cpus]), set(mine[server_cpus:])


# --------------------------------------------------------------------------- the pace
def parse_think(values: list[str]) -> tuple[float, float]:
    """``--think``: "5-15", "5 15" (uniform between) or "10" (always 10 s) -> (lo, hi)."""
    parts = [p for v in values for p in v.replace("-", " ").split()]
    try:
        if not 1 <= len(parts) <= 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[-1])
    except ValueError:
        raise ValueError(f"--think {' '.join(values)}: give seconds as LO-HI, LO HI or S") from None
    if not 0 <= lo <= hi:
        raise ValueError(f"--think {' '.join(values)}: need 0 <= LO <= HI")
    return lo, hi


def parse_sweep(text: str) -> list[int]:
    """``--sweep 1,2,4,8,16`` -> the levels, ascending, one visitor always among them (the
    reference every ratio is taken to)."""
    try:
        levels = {int(p) for p in text.replace(" ", "").split(",") if p}
    except ValueError:
        raise ValueError(f"--sweep {text}: give numbers of visitors, e.g. 1,2,4,8,16") from None
    if not levels or min(levels) < 1:
        raise ValueError(f"--sweep {text}: every level needs at least 1 visitor")
    return sorted(levels | {1})


class Pace:
    """A visitor's pauses: uniform in ``think`` = (lo, hi) seconds, from a generator seeded
    by the run's seed and the visitor's name (the same visitor pauses alike in every run);
    no pause without ``think`` (closed loop)."""

    def __init__(self, think: tuple[float, float] | None, seed: int, name: str):
        self.think, self.total = think, 0.0
        self._rng = random.Random(f"{seed}/{name}")

    def next(self) -> float:
        seconds = self._rng.uniform(*self.think) if self.think else 0.0
        self.total += seconds
        return seconds

    async def pause(self) -> None:
        seconds = self.next()
        if seconds:
            await asyncio.sleep(seconds)


# --------------------------------------------------------------------------- a visitor
@dataclass
class Visitor:
    """One browser context = one Streamlit session, with what it measured and saw."""
    name: str
    page: object = None
    finished: int = 0  # script runs the server reported finished (websocket)
    times: dict = field(default_factory=lambda: {k: [] for k in INTERACTIONS})
    windows: list = field(default_factory=list)  # (interaction, trigger, end of run seen): epoch s
    session: str = ""  # the Streamlit session's id, from its first script run
    errors: list = field(default_factory=list)
    error_at: list = field(default_factory=list)  # the interaction under way at each error
    current: str | None = None  # the interaction under way (None: between them)
    thought: float = 0.0  # seconds paused (--think)

    def error(self, message: str, kind: str | None = None) -> None:
        self.errors.append(message)
        self.error_at.append(kind or self.current or "other")

    def watch(self, page) -> None:
        self.page = page
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("pageerror", lambda exc: self.error(f"page exception: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.error(
            f"console error: {msg.text[:200]}"))
        page.on("requestfailed", lambda req: self.error(
            f"failed request: {req.url[:120]} ({req.failure})"))
        page.on("response", lambda resp: resp.status >= 400 and self.error(
            f"failed request: {resp.url[:120]} (HTTP {resp.status})"))
        page.on("request", self._request)

    def _request(self, req) -> None:
        parts = urlsplit(req.url)
        if parts.scheme not in ("data", "blob") and parts.hostname != "127.0.0.1":
            self.error(f"request leaving 127.0.0.1: {req.url[:120]}")

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes):
            return
        msg = ForwardMsg.FromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "new_session" and not self.session and msg.new_session.HasField("initialize"):
            self.session = msg.new_session.initialize.session_id  # sent with a session's first run
        if kind == "script_finished" and msg.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
            self.finished += 1

    async def timed(self, kind: str | None, trigger, expect, timeout_s: float,
                    prepare=None) -> None:
        """``prepare`` (not timed: typing, opening a list), then time from ``trigger`` (the
        key press or click that starts the script run) until the run has ended and
        ``expect`` shows. Also kept: the window in which the server's runs for it started,
        from the trigger to the end of the run seen (``server_part`` reads them in the
        server's run log)."""
        self.current = kind
        try:
            if prepare is not None:
                await prepare()
            before, t0, wall0 = self.finished, time.perf_counter(), time.time()
            await trigger()
            deadline = t0 + timeout_s
            while self.finished <= before:
                if time.perf_counter() > deadline:
                    raise TimeoutError("no end of the script run")
                await asyncio.sleep(0.02)
            window = (kind, wall0, time.time())
            left_ms = max(1000, (deadline - time.perf_counter()) * 1000)
            await expect.first.wait_for(state="visible", timeout=left_ms)
            await self.page.locator(STATUS).wait_for(state="detached", timeout=left_ms)
        except Exception as exc:  # a timeout or a page that lost its element: an error
            self.current = None
            if kind is None:
                raise  # a step the next ones need: the visit ends (and says why)
            self.error(f"{kind} did not finish: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:160]}", kind)
            return
        if kind is not None:
            self.times[kind].append(time.perf_counter() - t0)
            self.windows.append(window)
        drawn = self.page.locator('[data-testid="stException"]')
        if await drawn.count():
            self.error(f"exception drawn by the app: {(await drawn.first.inner_text())[:200]}", kind)
        self.current = None


# --------------------------------------------------------------------------- interactions
async def open_page(v: Visitor, title: str, timeout_s: float) -> None:
    page = v.page
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title)
    await v.timed("switch page", link.click, page.locator(f"{MAIN} h1", has_text=title), timeout_s)


async def pick(v: Visitor, kind: str | None, label: str, option: str, expect,
               timeout_s: float) -> None:
    """Choose ``option`` in the select box ``label`` as a person does: open it and type
    (the option list is virtualised: typing brings the option into view), then the timed
    click on the option."""
    box = v.page.get_by_role("combobox", name=label, exact=True)

    async def type_it():
        await box.click()
        await box.fill(option)

    await v.timed(kind, v.page.get_by_role("option", name=option, exact=True).click, expect,
                  timeout_s, prepare=type_it)


async def change_case(v: Visitor, case_id: str, timeout_s: float) -> None:
    header = v.page.locator(f'{MAIN} [data-testid="stMarkdownContainer"] h4', has_text=case_id)
    await pick(v, "change case", "Case", case_id, header, timeout_s)


def typed_classes(tag: str, extra: int) -> str:
    """3 + ``extra`` classes, worded afresh by ``tag`` (no prompt cache hit)."""
    lines = [f"{f}: There is {f} ({tag}).; Findings of {f}." for f in FINDINGS[:3 + extra]]
    return "\n".join(lines)


async def zero_shot_edit(v: Visitor, tag: str, extra: int, timeout_s: float) -> None:
    page = v.page
    area = page.locator(f'{MAIN} [data-testid="stTextArea"] textarea')
    if not await area.count():  # the typed-prompt mode, chosen once per visit of the page
        await pick(v, None, "Prompt set", "custom (type prompts)", area, timeout_s)
    caption = page.locator(f"{MAIN} [data-testid='stCaptionContainer']", has_text=f"{3 + extra} classes ·")
    await v.timed("zero-shot prompt edit", lambda: area.press("Control+Enter"), caption, timeout_s,
                  prepare=lambda: area.fill(typed_classes(tag, extra)))


def gradcam_prompt(tag: str) -> str:
    """A Grad-CAM prompt worded afresh by ``tag`` (no map cache hit)."""
    return f"Small pleural effusion at the left base ({tag})."


async def gradcam(v: Visitor, tag: str, timeout_s: float) -> None:
    page = v.page
    box = page.get_by_label("Text prompt", exact=False)
    chart = page.locator(f"{MAIN} .js-plotly-plot")
    await v.timed("Grad-CAM map", lambda: box.press("Enter"), chart.nth(1), timeout_s,
                  prepare=lambda: box.fill(gradcam_prompt(tag)))


class BrowserSteps:
    """A visitor's steps in a Chromium page (one browser context: one Streamlit session)."""

    def __init__(self, browser, url: str, v: Visitor, timeout_s: float):
        self.browser, self.url, self.v, self.timeout_s = browser, url, v, timeout_s
        self.context = None

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(self.timeout_s * 1000)  # clicks too: 8 pages load at once
        v = self.v
        v.watch(await self.context.new_page())
        await v.timed(None, lambda: v.page.goto(self.url, wait_until="domcontentloaded"),
                      v.page.locator(f"{MAIN} h1", has_text="Case browser"), self.timeout_s)

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    def open_page(self, title: str):
        return open_page(self.v, title, self.timeout_s)

    def change_case(self, case_id: str):
        return change_case(self.v, case_id, self.timeout_s)

    def zero_shot_edit(self, tag: str, extra: int):
        return zero_shot_edit(self.v, tag, extra, self.timeout_s)

    def gradcam(self, tag: str):
        return gradcam(self.v, tag, self.timeout_s)


def wire_module():
    """benchmarks/wire_visitor.py, the script beside this one (benchmarks/ is no package)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import wire_visitor

    return wire_visitor


class WireSteps:
    """The same steps over Streamlit's websocket, without a browser (wire_visitor.py)."""

    def __init__(self, url: str, v: Visitor, timeout_s: float):
        self.wire = wire_module()
        self.session = self.wire.WireSession(url, v, timeout_s)

    async def open(self) -> None:
        await self.session.open(self.wire.shows("Case browser", "heading"))

    async def close(self) -> None:
        await self.session.close()

    def open_page(self, title: str):
        return self.session.switch_page(title)

    def change_case(self, case_id: str):
        return self.session.set_value("change case", "Case", case_id,
                                      self.wire.shows(case_id, "markdown"))

    async def zero_shot_edit(self, tag: str, extra: int) -> None:
        area, s = "Classes, one per line", self.session
        if not s.has_widget(area):  # the typed-prompt mode, chosen once per visit of the page
            await s.set_value(None, "Prompt set", "custom (type prompts)", self.wire.labelled(area))
        await s.set_value("zero-shot prompt edit", area, typed_classes(tag, extra),
                          self.wire.shows(f"{3 + extra} classes ·", "markdown"))

    def gradcam(self, tag: str):
        return self.session.set_value("Grad-CAM map", "Text prompt", gradcam_prompt(tag),
                                      self.wire.at_least(2, "plotly_chart"), exact=False)


async def walk(v: Visitor, steps, cases: list[str], pace: Pace) -> Visitor:
    """One visitor: open the app, then per case: change case, edit a zero-shot prompt, draw
    a Grad-CAM map for a new prompt, the page switches between them; a pause (``pace``)
    before every step after the first. ``steps``: a browser's or a wire visitor's."""
    try:
        await steps.open()
        for i, case_id in enumerate(cases):
            if i:
                await pace.pause()
                await steps.open_page("Case browser")
            await pace.pause()
            await steps.change_case(case_id)
            await pace.pause()
            await steps.open_page("Zero-shot")
            await pace.pause()
            await steps.zero_shot_edit(f"{v.name}-{i}", 1 + i % 2)
            await pace.pause()
            await steps.open_page("Model vs gaze")
            await pace.pause()
            await steps.gradcam(f"{v.name}-{i}")
    except Exception as exc:  # noqa: BLE001  (whatever ended it is reported as an error)
        v.error(f"visit ended early: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}")
    finally:
        v.thought = pace.total
        await steps.close()
    return v


async def visit(browser, url: str, name: str, cases: list[str], timeout_s: float,
                pace: Pace | None = None) -> Visitor:
    """A browser visitor (``walk``); ``browser`` None: a wire visitor."""
    v = Visitor(name)
    steps = (BrowserSteps(browser, url, v, timeout_s) if browser is not None
             else WireSteps(url, v, timeout_s))
    return await walk(v, steps, cases, pace or Pace(None, 0, name))


async def phase(browser, url: str, n: int, cases: list[str], loops: int, label: str,
                timeout_s: float, think: tuple[float, float] | None = None,
                seed: int = 0, probe=None) -> list[Visitor]:
    """``n`` visitors at once, ``loops`` fresh cases each, pausing as ``think`` says; in
    ``browser`` (None: wire visitors), and with ``probe`` (a browser) the first of them in
    that browser instead, its name ending in "probe"."""
    shares = [cases[i * loops:(i + 1) * loops] for i in range(n)]
    names = [f"{label}{i}" + ("probe" if probe is not None and i == 0 else "") for i in range(n)]
    return list(await asyncio.gather(*(
        visit(probe if probe is not None and i == 0 else browser, url, name, share, timeout_s,
              Pace(think, seed, name))
        for i, (name, share) in enumerate(zip(names, shares)))))


# --------------------------------------------------------------------------- CPU
class CpuMeter:
    """CPU seconds of the server's processes and of the browser's (every other process this
    script started), sampled twice a second so that renderers of closed contexts count.
    ``own``: wire visitors run in this process, so its CPU counts as theirs ("browser")."""

    def __init__(self, server_pid: int | None, own: bool = False, who: str = "browsers"):
        import psutil

        self._me, self._server_pid, self._own, self.who = psutil.Process(), server_pid, own, who
        self._seen: dict[int, tuple[str, float]] = {}  # pid -> (whose, CPU seconds so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        import psutil

        server = set()
        if self._server_pid is not None:
            try:
                root = psutil.Process(self._server_pid)
                server = {root.pid} | {p.pid for p in root.children(recursive=True)}
            except psutil.Error:
                pass
        for proc in self._me.children(recursive=True) + ([self._me] if self._own else []):
            try:
                cpu = proc.cpu_times()
                self._seen[proc.pid] = ("server" if proc.pid in server else "browser",
                                        cpu.user + cpu.system)
            except psutil.Error:
                continue

    def totals(self) -> dict:
        self.sample()
        out = {"server": 0.0, "browser": 0.0}
        for whose, seconds in self._seen.values():
            out[whose] += seconds
        return out

    def close(self) -> None:
        self._stop.set()


def cpu_line(before: dict, after: dict, wall: float, browser_cpus: int | None = None,
             who: str = "browsers") -> str:
    """The level's wall time and CPU seconds; with the browsers pinned (``browser_cpus`` of
    them), also how busy they kept their own CPUs: near 100 % they, not the server, set the
    times."""
    server, browser = (after[k] - before[k] for k in ("server", "browser"))
    share = (f", {browser / wall / browser_cpus:.0%} of their {browser_cpus} "
             f"CPU{'s' if browser_cpus > 1 else ''}" if browser_cpus else "")
    return (f"{wall:.0f} s; CPU seconds: server {server:.0f} ({server / wall:.2f} cores), "
            f"{who} {browser:.0f} ({browser / wall:.2f} cores{share}), of {os.cpu_count()} cores")


# --------------------------------------------------------------------------- report
PERCENTILE_METHOD = "linear"  # numpy's default; the bootstrap's p95s are taken alike


def percentiles(values: list[float]) -> tuple[float, float] | None:
    import numpy as np

    if not values:
        return None
    return (float(np.percentile(values, 50, method=PERCENTILE_METHOD)),
            float(np.percentile(values, 95, method=PERCENTILE_METHOD)))


def ratio_interval(one: list[float], many: list[float], n_boot: int = 2000,
                   seed: int = 0) -> tuple[float, float] | None:
    """A percentile bootstrap 95 % interval of p95(``many``) / p95(``one``): each list
    resampled on its own, with replacement, ``n_boot`` times (seeded: the same samples give
    the same interval); None when either list is empty. From a few dozen samples a p95 is
    one or two slow steps, so this says how far a rerun's ratio may land from this one."""
    import numpy as np

    if not one or not many:
        return None
    rng = np.random.default_rng(seed)
    a, b = np.asarray(one, dtype=float), np.asarray(many, dtype=float)

    def p95s(x: np.ndarray) -> np.ndarray:  # the p95 of each of n_boot resamples of x
        draws = x[rng.integers(0, len(x), size=(n_boot, len(x)))]
        return np.percentile(draws, 95, axis=1, method=PERCENTILE_METHOD)

    lo, hi = np.percentile(p95s(b) / p95s(a), [2.5, 97.5])
    return float(lo), float(hi)


def ratio_text(ratio: float, interval: tuple[float, float] | None, digits: int = 2) -> str:
    """"1.58x [1.21, 2.30]": the ratio and its interval (none: the ratio alone)."""
    text = f"{ratio:.{digits}f}x"
    return text + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")


def unsettled(ratios: dict[str, float], intervals: dict[str, tuple[float, float] | None],
              target: float) -> str:
    """The verdict's clause when the intervals leave it open ("" when they settle it): met,
    but an interaction's interval spans ``target``; or not met only by interactions whose
    intervals all span it. The rule stays the point estimates against ``target``."""
    spans = [k for k, iv in intervals.items() if iv and iv[0] <= target <= iv[1]]
    over = [k for k, r in ratios.items() if r > target]
    if over and not set(over) <= set(spans):
        return ""  # over the target beyond what the samples leave open
    open_ = over or spans
    if not open_:
        return ""
    worst = max(ratios, key=ratios.get)
    whose = ("the interval spans" if open_ == [worst] else
             f"the interval{'s' if len(open_) > 1 else ''} of {', '.join(open_)} "
             f"span{'' if len(open_) > 1 else 's'}")
    return f"{whose} {target:g}x: more samples (--loops, --ref-loops) would settle it"


def server_part(v: Visitor, runs: dict[str, list[tuple[float, float]]]) -> dict:
    """Interaction -> seconds the server spent on each of ``v``'s: its script runs for the
    visitor's session (``runs``: app.server.serve.read_run_log) that started between the
    trigger and the end of the run seen, from the first start to the last end (reruns
    included). Timed in the server, so a browser that sees the messages late (a busy
    browser CPU) does not count; an interaction with no run in the log has no entry. Every
    interaction of this benchmark is a key; other kinds (benchmarks/app_scale.py's) once timed."""
    out = {k: [] for k in INTERACTIONS}
    mine = runs.get(v.session, []) if v.session else []
    for kind, start, seen in v.windows:
        inside = [(a, b) for a, b in mine if start <= a <= seen]
        if inside:
            out.setdefault(kind, []).append(max(b for _, b in inside) - min(a for a, _ in inside))
    return out


def summarise(visitors: list[Visitor], runs: dict | None = None) -> dict:
    """All visitors of one level together (``pooled``); a probe (``--probe``: the browser
    visitor among wire visitors) apart, under "probe"."""
    probes = [v for v in visitors if v.name.endswith("probe")]
    out = pooled([v for v in visitors if v not in probes], runs)
    if probes:
        out["probe"] = pooled(probes, runs)
    return out


def pooled(visitors: list[Visitor], runs: dict | None = None) -> dict:
    """Visitors' raw seconds per interaction (as seen, and the server's part, from the
    server's run log ``runs``), the errors with the interaction each came in ("other":
    between them) and the seconds each visitor paused."""
    parts = [server_part(v, runs or {}) for v in visitors]
    return {"times": {k: [t for v in visitors for t in v.times[k]] for k in INTERACTIONS},
            "server": {k: [t for p in parts for t in p[k]] for k in INTERACTIONS},
            "errors": [f"{v.name}: {e}" for v in visitors for e in v.errors],
            "error_at": [k for v in visitors for k in v.error_at],
            "think_s": [round(v.thought, 3) for v in visitors]}


def cells(p: tuple[float, float] | None) -> str:
    return f"{p[0]:>7.2f}{p[1]:>8.2f}" if p else f"{'–':>7}{'–':>8}"


def table(one: dict, many: dict, n: int, key: str = "times") -> str:
    """1 session against ``n``: p50 / p95 per interaction, the p95 ratio with its bootstrap
    95 % interval, the samples."""
    head = (f"{'interaction':<24}{'1 session p50':>14}{'p95':>8}   {f'{n} sessions p50':>15}"
            f"{'p95':>8}   {'p95 ratio [95 % CI]':>21}   samples")
    rows = [head, "-" * len(head)]
    for kind in INTERACTIONS:
        a, b = percentiles(one[key][kind]), percentiles(many[key][kind])
        ratio = (ratio_text(b[1] / a[1], ratio_interval(one[key][kind], many[key][kind]), 1)
                 if a and b else "–")
        rows.append(f"{kind:<24}{cells(a):>22}   {cells(b):>23}   {ratio:>21}   "
                    f"{len(one[key][kind])} / {len(many[key][kind])}")
    if key == "times":
        rows.append(f"{'errors':<24}{len(one['errors']):>22}   {len(many['errors']):>23}")
    return "\n".join(rows)


def verdict(one: dict, many: dict, n: int, target: float = TARGET_RATIO,
            kind: str = "browser") -> str:
    """The 1-vs-N run's verdict: no errors and every interaction's p95 (page switches
    aside) within ``target`` times one session's; the worst ratio with its bootstrap
    interval, and a clause when the intervals leave the verdict open (``unsettled``)."""
    ratios, intervals = {}, {}
    for step in INTERACTIONS[:3]:
        a, b = percentiles(one["times"][step]), percentiles(many["times"][step])
        if a and b:
            ratios[step] = b[1] / a[1]
            intervals[step] = ratio_interval(one["times"][step], many["times"][step])
    errors = one["errors"] or many["errors"]
    if len(ratios) == 3:
        step = max(ratios, key=ratios.get)
        worst = ratios[step]
        why = f"worst p95 ratio {ratio_text(worst, intervals[step], 1)} ({step})"
    else:
        worst, why = float("inf"), "worst p95 ratio infx"
    met = not errors and worst <= target
    clause = unsettled(ratios, intervals, target) if not errors and len(ratios) == 3 else ""
    return (f"target ({n} {kind} sessions, no errors, every interaction's p95 within "
            f"{target:g}x of one session): {'met' if met else 'NOT met'} "
            f"({why}){'; ' + clause if clause else ''}")


def machine() -> str:
    """The processor's name and how many cores this machine has (and this process may use)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip() + ", "
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0))
    mine = f" ({usable} usable)" if usable != os.cpu_count() else ""
    return f"{model}{os.cpu_count()} cores{mine}"


def think_text(think: tuple[float, float] | None, seed: int = 0) -> str:
    if think is None:
        return "closed loop (no pause between interactions)"
    lo, hi = think
    spread = f"{lo:g} s" if lo == hi else f"uniform {lo:g}-{hi:g} s"
    return f"think {spread} before every step, seeded per visitor (seed {seed})"


def load_text(args) -> str:
    """Who puts the load on the server: browsers, or wire visitors (and the probe)."""
    if args.visitors == "browser":
        return "browsers"
    return "wire visitors" + (" and the probe" if args.probe else "")


def pin_text(server_cpus: set[int] | None, browser_cpus: set[int] | None,
             who: str = "browsers") -> str:
    if not server_cpus:
        return f"no pinning (server and {who} share every CPU)"
    return f"server on CPUs {sorted(server_cpus)}, {who} on {sorted(browser_cpus)}"


SEEN = {"browser": "seconds as the visitor sees them (trigger -> drawn)",
        "wire": "seconds from the message sent to the run's end received and its media fetched "
                "(no rendering)"}


def header(think, seed: int, pin: str, loops: int, url: str, where: str | None = None,
           ref_loops: int | None = None, visitors: str = "browser") -> str:
    ref = f", {ref_loops} for the one visitor" if ref_loops not in (None, loops) else ""
    return "\n".join([f"visitors: {visitors}", f"pace: {think_text(think, seed)}",
                      f"CPU pinning: {pin}", f"machine: {where or machine()}",
                      f"{loops} loop(s) per visitor{ref} against {url}; {SEEN[visitors]}"])


def samples_line(res: dict, label: str = "the one visitor (the reference)") -> str:
    """How many times each interaction was timed: a p95 of a few is near their maximum."""
    counts = ", ".join(f"{k} {len(res['times'][k])}" for k in INTERACTIONS)
    return f"samples of {label}: {counts}"


def ratio_to_one(levels: dict[int, dict], n: int, kind: str, key: str = "times") -> float | None:
    """Level ``n``'s p95 over one visitor's for ``kind`` (None without times for both);
    ``key`` "server" compares the server's part instead of what the visitor saw."""
    a, b = percentiles(levels[1][key][kind]), percentiles(levels[n][key][kind])
    return b[1] / a[1] if a and b else None


def interval_to_one(levels: dict[int, dict], n: int, kind: str,
                    key: str = "times") -> tuple[float, float] | None:
    """``ratio_to_one``'s bootstrap 95 % interval (``ratio_interval``); None without times
    for both, and for one visitor itself (the reference: its ratio is 1 by definition)."""
    return None if n == 1 else ratio_interval(levels[1][key][kind], levels[n][key][kind])


def worst_text(levels: dict[int, dict], n: int, ratios: dict[str, float], key: str = "times") -> str:
    """"worst p95 ratio 1.58x [1.21, 2.30] (zero-shot prompt edit)" among ``ratios``."""
    kind = max(ratios, key=ratios.get)
    return f"worst p95 ratio {ratio_text(ratios[kind], interval_to_one(levels, n, kind, key))} ({kind})"


def sweep_table(levels: dict[int, dict]) -> str:
    """visitors x interaction -> p50 / p95 / n / errors, the p95 over one visitor's (with its
    bootstrap 95 % interval, ``ratio_interval``) and the server's p95 (its script runs, timed
    in the server: what is left is the browser, the network and waiting for the server's CPU)."""
    head = (f"{'visitors':>8}  {'interaction':<22}{'p50':>7}{'p95':>8}{'n':>5}{'errors':>8}"
            f"{'p95 / 1 visitor [95 % CI]':>27}{'server p95':>12}")
    rows = [head, "-" * len(head)]
    for n in sorted(levels):
        res = levels[n]
        for kind in INTERACTIONS:
            p, srv = percentiles(res["times"][kind]), percentiles(res["server"][kind])
            ratio = ratio_to_one(levels, n, kind)
            ratio = "–" if ratio is None else ratio_text(ratio, interval_to_one(levels, n, kind))
            rows.append(f"{n:>8}  {kind:<22}{cells(p)}"
                        + f"{len(res['times'][kind]):>5}{res['error_at'].count(kind):>8}{ratio:>27}"
                        + (f"{srv[1]:>12.2f}" if srv else f"{'–':>12}"))
        other = res["error_at"].count("other")
        if other:
            rows.append(f"{n:>8}  {'(between interactions)':<22}{'':>20}{other:>8}")
    return "\n".join(rows)


def level_line(levels: dict[int, dict], n: int) -> str:
    """One level in a line: its errors and its worst p95 ratio to one visitor's."""
    res = levels[n]
    ratios = {k: ratio_to_one(levels, n, k) for k in INTERACTIONS}
    have = {k: r for k, r in ratios.items() if r is not None}
    line = f"{n:>3} visitor(s): {len(res['errors'])} error(s)"
    if have and n != 1:
        line += f", {worst_text(levels, n, have)}"
    missing = [k for k in INTERACTIONS if ratios[k] is None]
    if missing:
        line += f", no times for {', '.join(missing)}"
    line += f"; {res['cpu']}" if res.get("cpu") else ""
    return line + (f"; {sharing_text(res['sharing'])}" if res.get("sharing") else "")


def sweep_verdict(levels: dict[int, dict], think: tuple[float, float] | None,
                  visitors: int = ROOM_VISITORS, target: float = ROOM_RATIO,
                  key: str = "times", kind: str = "browser") -> tuple[bool, str]:
    """(met, the verdict line): ``visitors`` at a room's pace, no errors (with them or with
    the one visitor they are compared to) and every interaction's p95 within ``target``
    times one visitor's, judged on the ``kind`` visitors' times (browser or wire; a probe's
    are not judged). ``key`` "server" judges the server's part alone: in a room every
    visitor's browser has its own machine, while here all of them share the browsers' CPUs."""
    whose = "the server's part of " if key == "server" else ""
    goal = (f"target ({visitors} {kind} visitors at a room's pace: 0 errors, {whose}every "
            f"interaction's p95 <= {target:g}x one visitor's)")
    if think is None:
        return False, f"{goal}: not judged, a closed loop (no --think) measures saturation"
    if visitors not in levels or 1 not in levels:
        return False, (f"{goal}: not measured (levels {', '.join(map(str, sorted(levels)))})")
    errors = len(levels[visitors]["errors"]) + len(levels[1]["errors"])
    ratios = {k: ratio_to_one(levels, visitors, k, key) for k in INTERACTIONS}
    missing = [k for k, r in ratios.items() if r is None]
    over = {k: r for k, r in ratios.items() if r is not None and r > target}
    met = not errors and not missing and not over
    why = [f"{errors} error(s)"]
    have = {k: r for k, r in ratios.items() if r is not None}
    if have:
        why.append(worst_text(levels, visitors, have, key))
    if missing:
        why.append(f"no times for {', '.join(missing)}")
    elif not errors:  # the ratios alone decide: say when their intervals leave it open
        clause = unsettled(have, {k: interval_to_one(levels, visitors, k, key) for k in have}, target)
        why += [clause] if clause else []
    return met, f"{goal}: {'met' if met else 'NOT met'} ({'; '.join(why)})"


def gaze_cases(data: Path, count: int) -> list[str]:
    """Distinct cases with gaze (Model vs gaze shows those by default), enough for every
    loop of every phase: among the rows the Case browser lists (its first LIST_LIMIT), and
    never its first case, on which it opens (picking the case already shown starts no run)."""
    from app.core.cases import LIST_LIMIT
    from eclip.data.manifest import read_manifest

    listed = read_manifest(data).head(LIST_LIMIT).iloc[1:]
    ids = listed.loc[listed["gaze_path"] != "", "id"].tolist()
    if len(ids) < count:
        raise SystemExit(f"{data} lists {len(ids)} cases with gaze; this run needs {count} "
                         "(fewer --sessions, --loops or --ref-loops)")
    return ids[:count]


async def timed_phase(meter: CpuMeter, label: str, coro, run_log: Path | None = None,
                      browser_cpus: int | None = None):
    before, t, t0 = meter.totals(), time.perf_counter(), time.time()
    visitors = await coro
    wall = time.perf_counter() - t
    line = cpu_line(before, meter.totals(), wall, browser_cpus, meter.who)
    print(f"{label}: {line}", flush=True)
    runs = read_run_log(run_log) if run_log else {}
    shared = sharing(read_run_records(run_log), t0, time.time()) if run_log else None
    if shared:
        print(f"{label}: {sharing_text(shared)}", flush=True)
    return {**summarise(visitors, runs), "cpu": line, "wall_s": round(wall, 1), "sharing": shared}


def sharing(records: list[dict], t0: float, t1: float) -> dict | None:
    """How the server's script runs that started in [t0, t1] (``read_run_records``) shared its
    CPUs: the share that overlapped another run, and each run's wait (its wall time beyond its
    own thread's CPU time) when alone and when overlapped. On one core, concurrent runs take
    turns, so an overlapped run waits about the other's CPU time: the load tail's cause."""
    import numpy as np

    recs = [r for r in records if t0 <= r["start"] <= t1]
    if not recs:
        return None
    start = np.array([r["start"] for r in recs])
    end = start + np.array([r["wall"] for r in recs])
    wait = np.maximum(end - start - np.array([r["cpu"] for r in recs]), 0.0)
    overlapped = np.array([((start < end[i]) & (end > start[i])).sum() > 1 for i in range(len(recs))])

    def pct(x) -> list[float] | None:
        p = percentiles(list(x))
        return [round(v, 4) for v in p] if p else None

    return {"runs": len(recs), "overlapped": round(float(overlapped.mean()), 4),
            "wait_alone": pct(wait[~overlapped]), "wait_overlapped": pct(wait[overlapped])}


def sharing_text(s: dict) -> str:
    """"259 server runs, 9.7 % overlapped another; wait beyond own CPU p50/p95: alone ..."."""
    def cell(v):
        return f"{v[0]:.3f}/{v[1]:.3f} s" if v else "–"
    runs = f"{s['runs']} server run{'s' if s['runs'] != 1 else ''}"
    return (f"{runs}, {100 * s['overlapped']:.1f} % overlapped another; wait beyond own CPU "
            f"p50/p95: alone {cell(s['wait_alone'])}, overlapped {cell(s['wait_overlapped'])}")


def level_loops(args, n: int) -> int:
    """Cases per visitor at a level of ``n``: ``--ref-loops`` for the one visitor (the
    reference every ratio is taken to), ``--loops`` for more."""
    return args.ref_loops if n == 1 else args.loops


@contextlib.asynccontextmanager
async def chromium(args):
    """The Chromium that browser visitors (or the probe) run in; None for wire visitors."""
    if args.visitors == "wire" and not args.probe:
        yield None
        return
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROME_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def run(args, url: str, server_pid: int | None, levels: list[int],
              run_log: Path | None = None, browser_cpus: int | None = None) -> list[dict]:
    """One warm-up visitor, then each level's visitors together, one level after another,
    each visitor on fresh cases and prompts; the server's part from ``run_log``. With
    ``--probe``, one browser visitor among each level's wire visitors, and alone after the
    one wire visitor (the probe's reference)."""
    wire = args.visitors == "wire"
    need = [level_loops(args, n) * n for n in levels] + [args.loops if args.probe else 0]
    cases = iter(gaze_cases(Path(args.data), 1 + sum(need)))
    take = lambda count: [next(cases) for _ in range(count)]  # noqa: E731
    meter = CpuMeter(server_pid, own=wire, who=load_text(args))
    results = []
    async with chromium(args) as browser:
        visitors, probe = (None, browser) if wire else (browser, None)
        try:
            # first model, index and prompt loads on a fresh server: more time
            warm = await timed_phase(meter, "warm-up", phase(visitors, url, 1, take(1), 1, "warm",
                                                               3 * args.timeout))
            print(f"warm-up errors: {warm['errors'] or 'none'}", flush=True)
            for i, n in enumerate(levels):
                loops, label = level_loops(args, n), f"{n} visitor{'s' if n > 1 else ''}"
                res = await timed_phase(meter, label, phase(
                    visitors, url, n, take(n * loops), loops, f"L{i}n{n}v", args.timeout,
                    args.think, args.seed, probe if n > 1 else None), run_log, browser_cpus)
                if probe is not None and n == 1:  # the probe's reference: a browser alone
                    res["probe"] = (await timed_phase(meter, "the probe alone", phase(
                        None, url, 1, take(args.loops), args.loops, f"L{i}n1v", args.timeout,
                        args.think, args.seed, probe), run_log, browser_cpus))["probe"]
                results.append(res)
        finally:
            meter.close()
    return results


WIRE_REF_LOOPS = 10  # wire visitors are cheap: the one visitor's p95 from 10 samples, not 3


def add_visitor_args(ap) -> None:
    ap.add_argument("--visitors", choices=("browser", "wire"), default="browser",
                    help="browser: each visitor a Chromium page (default); wire: a Python "
                         "client speaking Streamlit's websocket protocol (benchmarks/"
                         "wire_visitor.py), the same steps without drawing them")
    ap.add_argument("--ref-loops", type=int, metavar="K",
                    help="cases the one visitor (the reference) goes through (default: "
                         f"{WIRE_REF_LOOPS} with wire visitors, --loops with browsers)")
    ap.add_argument("--probe", action="store_true",
                    help="with --visitors wire: one visitor of each level in Chromium, "
                         "reported in its own table (what a person sees under that load)")


def check_visitor_args(ap, args) -> None:
    if args.probe and args.visitors != "wire":
        ap.error("--probe goes with --visitors wire")
    if args.ref_loops is None:
        args.ref_loops = WIRE_REF_LOOPS if args.visitors == "wire" else args.loops
    if args.ref_loops < 1:
        ap.error("--ref-loops must be at least 1")
    if (args.visitors == "browser" or args.probe) and not Path(args.chromium).exists():
        ap.error(f"no browser at {args.chromium}: `make browser` installs Debian's chromium")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--sessions", type=int,
                    help="visitors at once, measured against one visitor (default 8)")
    ap.add_argument("--sweep", metavar="N,N,...",
                    help="instead: these numbers of visitors one after another against one "
                         "server, e.g. 1,2,4,8,16 (1 is always added: the reference)")
    ap.add_argument("--think", nargs="+", metavar="S",
                    help="a room's pace: each visitor pauses before every step, uniformly "
                         "LO-HI seconds (\"5-15\" or \"5 15\"; one number: always S); "
                         "default: a closed loop")
    ap.add_argument("--seed", type=int, default=0, help="seeds every visitor's pauses (default 0)")
    ap.add_argument("--loops", type=int, default=3,
                    help="cases each visitor goes through, three interactions each (default 3)")
    ap.add_argument("--data", default=str(REPO / "data" / "demo"), help="dataset folder")
    ap.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "demo-eclip"))
    ap.add_argument("--url", help="drive this running server instead of starting one")
    ap.add_argument("--run-log", metavar="PATH",
                    help="with --url: the script-run log of that server (started with "
                         "ECLIP_RUN_LOG=PATH), for the server's part; a server this script "
                         "starts writes its own")
    ap.add_argument("--timeout", type=float, default=180,
                    help="seconds one interaction may take before it counts as an error")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--json", help="also write the raw times and errors here")
    ap.add_argument("--pin", type=int, metavar="K",
                    help="run the server on the first K CPUs and the browsers on the others, "
                         "so that the browsers stand for visitors on their own machines")
    add_visitor_args(ap)
    args = ap.parse_args(argv)
    if args.sweep is not None and args.sessions is not None:
        ap.error("--sweep or --sessions, not both")
    try:
        args.think = parse_think(args.think) if args.think else None
        args.sweep = parse_sweep(args.sweep) if args.sweep is not None else None
    except ValueError as exc:
        ap.error(str(exc))
    if args.sessions is None:
        args.sessions = 8
    if args.sessions < 1 or args.loops < 1:
        ap.error("--sessions and --loops must be at least 1")
    check_visitor_args(ap, args)
    if not args.url and not (Path(args.data) / "manifest.csv").is_file():
        ap.error(f"no dataset at {args.data}: `make demo` builds data/demo")
    return args


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: the browser and the server close


def report_sweep(args, levels: dict[int, dict]) -> None:
    """The sweep's table, a line per level, the errors and the verdicts; with a probe, its
    own table (the browser visitor among the wire visitors, against the browser alone)."""
    print(sweep_table(levels))
    print(samples_line(levels[1]))
    probed = {n: res["probe"] for n, res in levels.items() if "probe" in res}
    if probed:
        print(f"\nthe probe: one of the level's visitors in Chromium, among {args.visitors} "
              "visitors (its level 1: the browser alone; seconds as it sees them)")
        print(sweep_table(probed))
    print()
    for n in args.sweep:
        print(level_line(levels, n))
    for n in args.sweep:
        for err in levels[n]["errors"][:20] + probed.get(n, {"errors": []})["errors"][:20]:
            print(f"  {n} visitor(s): {err}")
    print(sweep_verdict(levels, args.think, kind=args.visitors)[1])
    print(sweep_verdict(levels, args.think, key="server", kind=args.visitors)[1])


def report(args, url: str, pin: str, where: str, results: list[dict]) -> dict:
    """Print the run's tables and verdict; return what --json keeps."""
    print()
    print(header(args.think, args.seed, pin, args.loops, url, where, args.ref_loops, args.visitors))
    if args.sweep:
        levels = dict(zip(args.sweep, results))
        report_sweep(args, levels)
        return {"levels": {str(n): res for n, res in levels.items()}}
    one, many = results
    print(table(one, many, args.sessions))
    print("\nthe server's part (its script runs, timed in the server: first start -> last end)")
    print(table(one, many, args.sessions, key="server"))
    for label, res in (("1 session", one), (f"{args.sessions} sessions", many)):
        for err in res["errors"][:20]:
            print(f"  {label}: {err}")
    print(verdict(one, many, args.sessions, ROOM_RATIO if args.think else TARGET_RATIO,
                  args.visitors))
    return {"one": one, "many": many}


def main(argv=None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    levels = args.sweep or [1, args.sessions]
    where = machine()  # before the browsers' pinning narrows this process's CPUs
    with tempfile.TemporaryDirectory(prefix="app_load_") as tmp:
        proc, url = None, args.url
        server_cpus, browser_cpus = split_cpus(args.pin) if args.pin else (None, None)
        run_log = Path(args.run_log) if args.run_log else None
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            run_log = run_log or Path(tmp) / "runs.jsonl"
            proc = start_server(Path(args.data), Path(args.checkpoint), port,
                                Path(tmp) / "streamlit.log", server_cpus, run_log=run_log)
        pin = pin_text(server_cpus, browser_cpus, load_text(args))
        if browser_cpus:
            os.sched_setaffinity(0, browser_cpus)  # inherited by the driver and chromium
            print(pin)
        try:
            wait_healthy(url, proc)
            results = asyncio.run(run(args, url, proc.pid if proc is not None else None, levels,
                                      run_log, len(browser_cpus) if browser_cpus else None))
        finally:
            if proc is not None:
                stop_server(proc)
                log = (Path(tmp) / "streamlit.log").read_text(errors="replace")
                if "Traceback" in log:
                    print("The server logged a traceback:\n" + log[log.index("Traceback"):][:3000])
    kept = report(args, url, pin, where, results)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"think": args.think, "seed": args.seed, "pin": pin, "machine": where,
             "loops": args.loops, "ref_loops": args.ref_loops, "visitors": args.visitors,
             "probe": args.probe, **kept}, indent=1))


if __name__ == "__main__":
    main()
