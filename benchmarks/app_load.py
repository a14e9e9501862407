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

The browsers run on the same machine as the server, so on a small machine their rendering
takes CPU from the server: the N-visitor times are an upper bound for remote visitors.

    python benchmarks/app_load.py                      # 8 visitors, 3 loops each
    python benchmarks/app_load.py --sessions 4 --loops 2
    python benchmarks/app_load.py --url http://127.0.0.1:8501   # a server already running
    python benchmarks/app_load.py --pin 1    # server on CPU 0, browsers on the others
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from app.core.chromium import CHROME_ARGS, CHROMIUM
from app.server.serve import free_port, start_server, stop_server, wait_healthy

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

INTERACTIONS = ("change case", "zero-shot prompt edit", "Grad-CAM map", "switch page")
TARGET_RATIO = 3.0  # N visitors' p95 within 3x one visitor's
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


# --------------------------------------------------------------------------- a visitor
@dataclass
class Visitor:
    """One browser context = one Streamlit session, with what it measured and saw."""
    name: str
    page: object = None
    finished: int = 0  # script runs the server reported finished (websocket)
    times: dict = field(default_factory=lambda: {k: [] for k in INTERACTIONS})
    server: dict = field(default_factory=lambda: {k: [] for k in INTERACTIONS})
    errors: list = field(default_factory=list)
    _run_start: float | None = None  # first script run start seen since the last trigger
    _run_end: float = 0.0

    def watch(self, page) -> None:
        self.page = page
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("pageerror", lambda exc: self.errors.append(f"page exception: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(
            f"console error: {msg.text[:200]}"))
        page.on("requestfailed", lambda req: self.errors.append(
            f"failed request: {req.url[:120]} ({req.failure})"))
        page.on("response", lambda resp: resp.status >= 400 and self.errors.append(
            f"failed request: {resp.url[:120]} (HTTP {resp.status})"))
        page.on("request", self._request)

    def _request(self, req) -> None:
        parts = urlsplit(req.url)
        if parts.scheme not in ("data", "blob") and parts.hostname != "127.0.0.1":
            self.errors.append(f"request leaving 127.0.0.1: {req.url[:120]}")

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes):
            return
        msg = ForwardMsg.FromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "new_session" and self._run_start is None:  # a script run starts
            self._run_start = time.perf_counter()
        if kind == "script_finished" and msg.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
            self._run_end = time.perf_counter()
            self.finished += 1

    async def timed(self, kind: str | None, trigger, expect, timeout_s: float,
                    prepare=None) -> None:
        """``prepare`` (not timed: typing, opening a list), then time from ``trigger`` (the
        key press or click that starts the script run) until the run has ended and
        ``expect`` shows. Also kept: the server's part, from the start of the first script
        run to the end of the last (reruns included)."""
        try:
            if prepare is not None:
                await prepare()
            self._run_start = None
            before, t0 = self.finished, time.perf_counter()
            await trigger()
            deadline = t0 + timeout_s
            while self.finished <= before:
                if time.perf_counter() > deadline:
                    raise TimeoutError("no end of the script run")
                await asyncio.sleep(0.02)
            left_ms = max(1000, (deadline - time.perf_counter()) * 1000)
            await expect.first.wait_for(state="visible", timeout=left_ms)
            await self.page.locator(STATUS).wait_for(state="detached", timeout=left_ms)
        except Exception as exc:  # a timeout or a page that lost its element: an error
            if kind is None:
                raise  # a step the next ones need: the visit ends (and says why)
            self.errors.append(f"{kind} did not finish: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:160]}")
            return
        if kind is not None:
            self.times[kind].append(time.perf_counter() - t0)
            if self._run_start is not None:
                self.server[kind].append(self._run_end - self._run_start)
        drawn = self.page.locator('[data-testid="stException"]')
        if await drawn.count():
            self.errors.append(f"exception drawn by the app: {(await drawn.first.inner_text())[:200]}")


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


async def gradcam(v: Visitor, tag: str, timeout_s: float) -> None:
    page = v.page
    box = page.get_by_label("Text prompt", exact=False)
    chart = page.locator(f"{MAIN} .js-plotly-plot")
    await v.timed("Grad-CAM map", lambda: box.press("Enter"), chart.nth(1), timeout_s,
                  prepare=lambda: box.fill(f"Small pleural effusion at the left base ({tag})."))


async def visit(browser, url: str, name: str, cases: list[str], timeout_s: float) -> Visitor:
    """One visitor: open the app, then per case: change case, edit a zero-shot prompt, draw
    a Grad-CAM map for a new prompt."""
    v = Visitor(name)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(timeout_s * 1000)  # clicks too: 8 pages load at once
    try:
        v.watch(await context.new_page())
        await v.timed(None, lambda: v.page.goto(url, wait_until="domcontentloaded"),
                      v.page.locator(f"{MAIN} h1", has_text="Case browser"), timeout_s)
        for i, case_id in enumerate(cases):
            if i:
                await open_page(v, "Case browser", timeout_s)
            await change_case(v, case_id, timeout_s)
            await open_page(v, "Zero-shot", timeout_s)
            await zero_shot_edit(v, f"{name}-{i}", 1 + i % 2, timeout_s)
            await open_page(v, "Model vs gaze", timeout_s)
            await gradcam(v, f"{name}-{i}", timeout_s)
    except Exception as exc:  # noqa: BLE001  (whatever ended it is reported as an error)
        v.errors.append(f"visit ended early: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await context.close()
    return v


async def phase(browser, url: str, n: int, cases: list[str], loops: int, label: str,
                timeout_s: float) -> list[Visitor]:
    """``n`` visitors at once, ``loops`` fresh cases each."""
    shares = [cases[i * loops:(i + 1) * loops] for i in range(n)]
    return list(await asyncio.gather(*(visit(browser, url, f"{label}{i}", share, timeout_s)
                                       for i, share in enumerate(shares))))


# --------------------------------------------------------------------------- CPU
class CpuMeter:
    """CPU seconds of the server's processes and of the browser's (every other process this
    script started), sampled twice a second so that renderers of closed contexts count."""

    def __init__(self, server_pid: int | None):
        import psutil

        self._me, self._server_pid = psutil.Process(), server_pid
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
        for proc in self._me.children(recursive=True):
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


def cpu_line(before: dict, after: dict, wall: float) -> str:
    server, browser = (after[k] - before[k] for k in ("server", "browser"))
    return (f"{wall:.0f} s; CPU seconds: server {server:.0f} ({server / wall:.2f} cores), "
            f"browsers {browser:.0f} ({browser / wall:.2f} cores), of {os.cpu_count()} cores")


# --------------------------------------------------------------------------- report
def percentiles(values: list[float]) -> tuple[float, float] | None:
    import numpy as np

    return (float(np.percentile(values, 50)), float(np.percentile(values, 95))) if values else None


def summarise(visitors: list[Visitor]) -> dict:
    return {"times": {k: [t for v in visitors for t in v.times[k]] for k in INTERACTIONS},
            "server": {k: [t for v in visitors for t in v.server[k]] for k in INTERACTIONS},
            "errors": [f"{v.name}: {e}" for v in visitors for e in v.errors]}


def table(one: dict, many: dict, n: int, key: str = "times") -> str:
    head = (f"{'interaction':<24}{'1 session p50':>14}{'p95':>8}   {f'{n} sessions p50':>15}"
            f"{'p95':>8}   {'p95 ratio':>9}   samples")
    rows = [head, "-" * len(head)]
    for kind in INTERACTIONS:
        a, b = percentiles(one[key][kind]), percentiles(many[key][kind])
        cell = lambda p: f"{p[0]:>7.2f}{p[1]:>8.2f}" if p else f"{'–':>7}{'–':>8}"
        ratio = f"{b[1] / a[1]:>8.1f}x" if a and b else f"{'–':>9}"
        rows.append(f"{kind:<24}{cell(a):>22}   {cell(b):>23}   {ratio}   "
                    f"{len(one[key][kind])} / {len(many[key][kind])}")
    if key == "times":
        rows.append(f"{'errors':<24}{len(one['errors']):>22}   {len(many['errors']):>23}")
    return "\n".join(rows)


def verdict(one: dict, many: dict, n: int) -> str:
    ratios = []
    for kind in INTERACTIONS[:3]:
        a, b = percentiles(one["times"][kind]), percentiles(many["times"][kind])
        if a and b:
            ratios.append(b[1] / a[1])
    worst = max(ratios) if len(ratios) == 3 else float("inf")
    met = not one["errors"] and not many["errors"] and worst <= TARGET_RATIO
    return (f"target ({n} sessions, no errors, every interaction's p95 within "
            f"{TARGET_RATIO:.0f}x of one session): {'met' if met else 'NOT met'} "
            f"(worst p95 ratio {worst:.1f}x)")


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
                         "(fewer --sessions or --loops)")
    return ids[:count]


async def timed_phase(meter: CpuMeter, label: str, coro):
    before, t = meter.totals(), time.perf_counter()
    visitors = await coro
    print(f"{label}: {cpu_line(before, meter.totals(), time.perf_counter() - t)}", flush=True)
    return summarise(visitors)


async def run(args, url: str, server_pid: int | None) -> tuple[dict, dict]:
    from playwright.async_api import async_playwright

    n, loops = args.sessions, args.loops
    cases = gaze_cases(Path(args.data), 1 + loops + n * loops)
    meter = CpuMeter(server_pid)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROME_ARGS)
        try:
            # first model, index and prompt loads on a fresh server: more time
            warm = await timed_phase(meter, "warm-up", phase(browser, url, 1, cases[:1], 1, "warm",
                                                               3 * args.timeout))
            print(f"warm-up errors: {warm['errors'] or 'none'}", flush=True)
            one = await timed_phase(meter, "1 session", phase(
                browser, url, 1, cases[1:1 + loops], loops, "one", args.timeout))
            many = await timed_phase(meter, f"{n} sessions", phase(
                browser, url, n, cases[1 + loops:], loops, "many", args.timeout))
        finally:
            await browser.close()
            meter.close()
    return one, many


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--sessions", type=int, default=8, help="visitors at once (default 8)")
    ap.add_argument("--loops", type=int, default=3,
                    help="cases each visitor goes through, three interactions each (default 3)")
    ap.add_argument("--data", default=str(REPO / "data" / "demo"), help="dataset folder")
    ap.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "demo-eclip"))
    ap.add_argument("--url", help="drive this running server instead of starting one")
    ap.add_argument("--timeout", type=float, default=180,
                    help="seconds one interaction may take before it counts as an error")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--json", help="also write the raw times and errors here")
    ap.add_argument("--pin", type=int, metavar="K",
                    help="run the server on the first K CPUs and the browsers on the others, "
                         "so that the browsers stand for visitors on their own machines")
    args = ap.parse_args(argv)
    if args.sessions < 1 or args.loops < 1:
        ap.error("--sessions and --loops must be at least 1")
    if not Path(args.chromium).exists():
        ap.error(f"no browser at {args.chromium}: `make browser` installs Debian's chromium")
    if not args.url and not (Path(args.data) / "manifest.csv").is_file():
        ap.error(f"no dataset at {args.data}: `make demo` builds data/demo")
    return args


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: the browser and the server close


def main(argv=None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="app_load_") as tmp:
        proc, url = None, args.url
        server_cpus, browser_cpus = split_cpus(args.pin) if args.pin else (None, None)
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = start_server(Path(args.data), Path(args.checkpoint), port,
                                Path(tmp) / "streamlit.log", server_cpus)
        if browser_cpus:
            os.sched_setaffinity(0, browser_cpus)  # inherited by the driver and chromium
            print(f"server on CPUs {sorted(server_cpus)}, browsers on {sorted(browser_cpus)}")
        try:
            wait_healthy(url, proc)
            one, many = asyncio.run(run(args, url, proc.pid if proc is not None else None))
        finally:
            if proc is not None:
                stop_server(proc)
                log = (Path(tmp) / "streamlit.log").read_text(errors="replace")
                if "Traceback" in log:
                    print("The server logged a traceback:\n" + log[log.index("Traceback"):][:3000])
    print()
    print(f"seconds per interaction, {args.loops} loop(s) per session ({url}), "
          "as the visitor sees it (trigger -> drawn)")
    print(table(one, many, args.sessions))
    print("\nthe server's part (its script run: first start -> last finish message)")
    print(table(one, many, args.sessions, key="server"))
    for label, res in (("1 session", one), (f"{args.sessions} sessions", many)):
        for err in res["errors"][:20]:
            print(f"  {label}: {err}")
    print(verdict(one, many, args.sessions))
    if args.json:
        Path(args.json).write_text(json.dumps({"one": one, "many": many}, indent=1))


if __name__ == "__main__":
    main()
