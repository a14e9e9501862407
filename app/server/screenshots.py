"""Screenshots of every view of the app, for reports and the README.

    python -m app.server.screenshots --out shots                     # demo corpus, shipped eCLIP
    python -m app.server.screenshots --out shots --data data/demo --checkpoint checkpoints/demo-eclip \\
        --compare checkpoints/demo-clip --cases demo00012 demo00370

Starts the app on a free 127.0.0.1 port with a one-off admin password, drives Debian's
Chromium through Playwright over every page (the Admin page signed in), every stop of the
Presenter's tour (through its Next button), the Presenter as a room sees it (full screen at
1280 x 720 and 1920 x 1080: ``presenter-1280x720.png``, ``presenter-1920x1080.png``) and one
case report (exported from the Presenter as a person does, saved as ``case-report.html`` and
rendered to PNG), writes one PNG per
view and an ``index.html`` contact sheet, and stops the server it started, also on an error
or Ctrl-C. Case-specific pages are shot once per ``--cases`` id; the others once. It fails
(exit 1) when a view stays blank or the app drew an exception, so a broken page never slips
into a report.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.core.chromium import CHROME_ARGS, CHROMIUM
from app.core.index_words import INDEX_NOT_READY
from app.render.case_report import to_png
from app.server import serve
from app.server.page_waits import after_run, count_runs, open_sidebar, settled, wait_idle, window_reported
from eclip.cli import run_command
from eclip.data.manifest import read_manifest
from eclip.errors import ConfigError

REPO = serve.REPO

MAIN = '[data-testid="stMain"]'
CASE_PAGES = {"Case browser", "Zero-shot", "Retrieval", "Model vs gaze", "Draft report"}
BLANK_STD = 3.0  # grey-level spread below which a shot shows nothing (a white page is ~0)
# --readme: one screen per view in a palette. The 12 views of data/demo: 924 KB at 1000 px
# and 96 colours, 663 KB at 900 px and 48 (a plain 1280 x 900 RGB shot of the Presenter is ~240 KB alone).
README_HEIGHT, README_COLOURS = 900, 48


@dataclass
class Shot:
    view: str
    case: str | None
    path: Path
    seconds: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m app.server.screenshots", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="folder for the PNGs and index.html")
    ap.add_argument("--data", type=Path, default=REPO / "data" / "demo",
                    help="dataset folder with a manifest.csv (default: data/demo)")
    ap.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "demo-eclip"),
                    help="active checkpoint folder, or 'none' (default: checkpoints/demo-eclip)")
    ap.add_argument("--compare", default=None,
                    help="a second checkpoint shown beside the active one where pages compare")
    ap.add_argument("--cases", nargs="*", default=None,
                    help="case ids for the case pages (default: the first test case with gaze)")
    ap.add_argument("--draft-backend", choices=("auto", "ollama", "embedded", "retrieval"),
                    default=None, help="backend for the Draft report shot (default: the page's)")
    ap.add_argument("--width", type=int, default=1280, help="browser width in px (default 1280)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds one view may take")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--readme", action="store_true",
                    help=f"small copies for the README: the top {README_HEIGHT} px of each view, "
                         f"{README_COLOURS} colours, no report HTML kept")
    return ap.parse_args(argv)


def default_case(data: Path) -> str:
    """A test-split case with gaze (the model pages have most to show), else the first case."""
    df = read_manifest(data)
    with_gaze = df[(df["gaze_path"].astype(str) != "") & (df["split"] == "test")]
    return str((with_gaze if len(with_gaze) else df)["id"].iloc[0])


def shrink(png: Path, height: int, colours: int) -> None:
    """Keep the top ``height`` px of ``png`` in a ``colours``-colour palette (in place)."""
    from PIL import Image

    with Image.open(png) as im:
        top = im.convert("RGB").crop((0, 0, im.width, min(im.height, height)))
    top.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(png, optimize=True)


def is_blank(png: Path) -> bool:
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        return float(np.asarray(im.convert("L"), dtype=np.float32).std()) < BLANK_STD


# --------------------------------------------------------------------------- the browser
# Every action waits for what its script run draws and for the app's "no run going on"
# (app/server/page_waits.py), never for a fixed time.
def _ms(timeout_s: float) -> int:
    return int(timeout_s * 1000)


def open_page(page, title: str, timeout_s: float) -> None:
    heading = page.locator(f"{MAIN} h1", has_text=title).first
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    open_sidebar(page, link, _ms(timeout_s))
    after_run(page, link.click, lambda: heading.wait_for(timeout=_ms(timeout_s)), _ms(timeout_s))



def pick_case(page, case_id: str, timeout_s: float) -> None:
    """The Case browser's 'Case' box, as a person picks (type to bring the option into view)."""
    box = page.get_by_role("combobox", name="Case", exact=True)
    box.click()
    box.fill(case_id)
    heading = page.locator(f'{MAIN} [data-testid="stMarkdownContainer"] h4', has_text=case_id).first
    after_run(page, page.get_by_role("option", name=case_id, exact=True).click,
              lambda: heading.wait_for(timeout=_ms(timeout_s)), _ms(timeout_s))


def compare_option(compare: str | Path) -> str:
    """The sidebar's entry for ``compare`` (checkpoints/NAME), or a ConfigError. The server
    started here lists the folders under checkpoints/ only (its runs/ is a fresh, empty one),
    and picking a folder from elsewhere by its name alone would shoot another model."""
    p = Path(os.path.abspath(compare))
    if p.parent == REPO / "checkpoints":
        return p.relative_to(REPO).as_posix()
    raise ConfigError(f"--compare {compare}: the screenshot server's compare box lists the folders under "
                      "checkpoints/ only; copy or link this checkpoint into checkpoints/ first.")


def pick_compare(page, compare: str, timeout_s: float) -> None:
    """The sidebar's compare box, when this app version has one."""
    box = page.get_by_role("combobox", name="Compare with", exact=True)
    if not box.count():
        print("note: this app has no 'Compare with' box; --compare ignored", file=sys.stderr)
        return
    option = compare_option(compare)
    if box.input_value() == option:  # already the model's partner: choosing it reruns nothing
        return
    box.click()
    box.fill(option)
    after_run(page, page.get_by_role("option", name=option, exact=True).click, None, _ms(timeout_s))


def sign_in(page, password: str, timeout_s: float) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_label("Admin password").fill(password)
    try:
        after_run(page, page.get_by_role("button", name="Unlock").click,
                  lambda: page.get_by_label("Admin password").wait_for(state="detached", timeout=_ms(timeout_s)),
                  _ms(timeout_s))
    except PlaywrightTimeout:  # a shot of the lock screen is no use
        raise RuntimeError("could not sign in to the Admin page") from None


def draft(page, backend: str | None, timeout_s: float) -> None:
    """Draft report: press the button so the shot holds a draft with its evidence."""
    if backend:
        if page.get_by_text(INDEX_NOT_READY).count():  # missing or stale: the page stops before its controls
            raise RuntimeError("the Draft report page needs an up-to-date embedding index of the model over "
                               "this dataset; build it first (make index, or python -m eclip.index build)")
        after_run(page, page.locator(f"{MAIN} [data-testid='stRadio'] label", has_text=backend).first.click,
                  None, _ms(timeout_s))
    button = page.get_by_role("button", name="Draft report")
    if button.count():
        after_run(page, button.first.click, None, _ms(timeout_s))


def content_height(page) -> int:
    """The page's drawn height: Streamlit scrolls inside stMain, so the document itself is
    only as tall as the window and a plain full-page shot would cut the page off."""
    return int(page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"))


def shoot(page, out: Path, name: str, max_height: int = 5000) -> Path:
    page.mouse.move(2, 2)  # no hover toolbar or tooltip in the shot
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"],
                            "height": min(max(size["height"], content_height(page)), max_height)})
    settled(page)  # Plotly redraws at the new size
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    # the Presenter reports both sizes: let its reports land before the next click, not after
    window_reported(page)
    wait_idle(page)
    drawn = page.locator(f'{MAIN} [data-testid="stException"]')
    if drawn.count():
        raise RuntimeError(f"{name}: the app drew an exception: {drawn.first.inner_text()[:300]}")
    return path


def repo_relative(path) -> str:
    """Paths inside the repo as the app shows its defaults (data/demo), so no shot names a
    server folder; others as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def page_titles(page) -> list[str]:
    """Every page the sidebar offers, in its order (so new pages are shot without edits here)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [t.split("\n")[-1].strip() for t in links.all_inner_texts()]


def stop_number(page) -> tuple[int, int]:
    """(i, n) of the Presenter's "Stop i of n" line."""
    text = page.locator(f"{MAIN} strong", has_text=re.compile(r"^Stop \d+ of \d+")).first.inner_text()
    i, n = re.match(r"Stop (\d+) of (\d+)", text).groups()
    return int(i), int(n)


def presenter_tour(page, args) -> list[Shot]:
    """Every stop of the tour, from the one it opens on, through the Next button."""
    t0 = time.perf_counter()
    open_page(page, "Presenter", args.timeout)
    shots = []
    i, n = stop_number(page)
    for k in range(n):
        if k:
            t0 = time.perf_counter()
            next_stop(page, i % n + 1, n, args.timeout)
        i, _ = stop_number(page)
        shots.append(Shot(f"Presenter, stop {i} of {n}", None, shoot(page, args.out, f"presenter-{i}"),
                          time.perf_counter() - t0))
    return shots


def next_stop(page, i: int, n: int, timeout_s: float) -> None:
    """Press Next and wait for stop ``i`` of ``n`` and its run to end."""
    heading = page.locator(f"{MAIN} strong", has_text=re.compile(rf"^Stop {i} of {n}\b")).first
    after_run(page, page.get_by_role("button", name="Next").click,
              lambda: heading.wait_for(timeout=_ms(timeout_s)), _ms(timeout_s))


ROOM_SIZES = ((1280, 720), (1920, 1080))  # a projector's, a large screen's


def presenter_room(browser, url: str, args) -> list[Shot]:
    """The Presenter as a room sees it: the first stop in its full-screen layout (the F key)
    in a fresh 1280 x 720 and a 1920 x 1080 window, the window alone (no scrolling)."""
    shots = []
    for width, height in ROOM_SIZES:
        t0 = time.perf_counter()
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        try:
            path = room_shot(page, url, args, f"presenter-{width}x{height}")
        finally:
            page.close()
        shots.append(Shot(f"Presenter at {width} x {height}, full screen", None, path, time.perf_counter() - t0))
    return shots


def room_shot(page, url: str, args, name: str) -> Path:
    size = page.viewport_size
    page.set_default_timeout(_ms(args.timeout))
    count_runs(page)
    page.goto(f"{url}/presenter", wait_until="domcontentloaded")
    # laid out for this window: the page marks the size the browser reported
    page.locator(f".st-key-pr_window_{size['width']}x{size['height']}").wait_for(state="attached")
    wait_idle(page, _ms(args.timeout))
    after_run(page, lambda: page.keyboard.press("f"),  # the room's key (the page has the focus)
              lambda: page.get_by_role("button", name="Exit full screen").wait_for(), _ms(args.timeout))
    page.locator(f"{MAIN} .js-plotly-plot .imagelayer image").first.wait_for(state="attached")
    settled(page)
    page.mouse.move(size["width"] - 2, size["height"] - 2)  # no hover toolbar or tooltip in the shot
    path = args.out / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def case_report_shot(page, args) -> Shot:
    """Export the case report of the Presenter's stop as a person does (button, download),
    keep the HTML and render it to PNG the way the app's own PNG button does."""
    t0 = time.perf_counter()
    download = page.get_by_role("button", name="Download report (HTML)")
    after_run(page, page.get_by_role("button", name="Export case report").click,
              lambda: download.wait_for(timeout=_ms(args.timeout)), _ms(args.timeout))
    with page.expect_download() as got:
        download.click()
    html_path = args.out / "case-report.html"
    got.value.save_as(str(html_path))
    png = args.out / "case-report.png"
    png.write_bytes(to_png(html_path.read_text(encoding="utf-8"), chromium=args.chromium, width=args.width))
    return Shot("Case report (exported HTML, rendered)", None, png, time.perf_counter() - t0)


def shoot_page(page, title: str, case: str | None, args, password: str) -> Shot:
    t0 = time.perf_counter()
    open_page(page, title, args.timeout)
    if title.startswith("Admin"):
        sign_in(page, password, args.timeout)
    if title == "Draft report":
        draft(page, args.draft_backend, args.timeout)
    name = slug(title) + (f"-{case}" if case else "")
    return Shot(title, case, shoot(page, args.out, name), time.perf_counter() - t0)


def tour(page, args, password: str) -> list[Shot]:
    """Case pages once per case, the others once, starting from the Case browser."""
    shots: list[Shot] = []
    titles = page_titles(page)
    cases = args.cases or [default_case(args.data)]
    if args.compare:
        pick_compare(page, args.compare, args.timeout)
    for i, case in enumerate(cases):
        open_page(page, "Case browser", args.timeout)
        pick_case(page, case, args.timeout)
        for title in titles:
            done = len(shots)
            if title in CASE_PAGES:
                shots.append(shoot_page(page, title, case, args, password))
            elif title == "Presenter" and i == 0:
                shots += presenter_tour(page, args)
                shots.append(case_report_shot(page, args))
            elif i == 0:
                shots.append(shoot_page(page, title, None, args, password))
            for shot in shots[done:]:
                print(f"  {shot.path.name}: {shot.seconds:.1f} s", flush=True)
    return shots


def contact_sheet(shots: list[Shot], out: Path, title: str) -> Path:
    """index.html: every shot as a linked thumbnail with its view, case and time."""
    cells = "\n".join(
        f'<figure><a href="{html.escape(s.path.name)}"><img src="{html.escape(s.path.name)}" '
        f'loading="lazy"></a><figcaption>{html.escape(s.view)}'
        f'{" · " + html.escape(s.case) if s.case else ""} · {s.seconds:.1f} s</figcaption></figure>'
        for s in shots)
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}main{display:grid;"
            "grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:1.2em}"
            "img{width:100%;border:1px solid #ccc}figure{margin:0}</style>"
            f"<h1>{html.escape(title)}</h1><main>{cells}</main>")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def capture(args) -> list[Shot]:
    from playwright.sync_api import sync_playwright

    password = secrets.token_urlsafe(16)  # this server only; never printed
    data, checkpoint = repo_relative(args.data), repo_relative(args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="eclip-shots-") as tmp:
        port, log = serve.free_port(), Path(tmp) / "streamlit.log"
        proc = serve.start_server(data, checkpoint, port, log,
                                  env={"ECLIP_ADMIN_PASSWORD": password})
        try:
            url = f"http://127.0.0.1:{port}"
            serve.wait_healthy(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=CHROME_ARGS)
                try:
                    page = browser.new_page(viewport={"width": args.width, "height": 900})
                    page.set_default_timeout(args.timeout * 1000)
                    count_runs(page)
                    page.goto(url, wait_until="domcontentloaded")
                    page.locator(f"{MAIN} h1").first.wait_for()
                    wait_idle(page, _ms(args.timeout))
                    return tour(page, args, password) + presenter_room(browser, url, args)
                finally:
                    browser.close()
        finally:
            serve.stop_server(proc)
            if "Traceback" in log.read_text(errors="replace"):
                print("note: the server logged a traceback (see above views)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: shoot_all(args))


def shoot_all(args: argparse.Namespace) -> int:
    if args.compare:
        compare_option(args.compare)  # refused before anything else is checked or started
    if not (args.data / "manifest.csv").is_file():
        raise ConfigError(f"No dataset at {args.data} (no manifest.csv). Build the demo first: "
                          "python -m eclip.data build-demo --n 2000 --out data/demo")
    if not Path(args.chromium).exists():
        raise ConfigError(f"No Chromium at {args.chromium}: install it with `make browser` "
                          "(apt-get install chromium).")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of {args.data} with {args.checkpoint} into {args.out}", flush=True)
    shots = capture(args)
    if args.readme:
        for shot in shots:  # the room's shots whole (a window's worth), their maps' colours kept
            room = shot.view.startswith("Presenter at")
            shrink(shot.path, 10_000 if room else README_HEIGHT, 256 if room else README_COLOURS)
        (args.out / "case-report.html").unlink(missing_ok=True)
    sheet = contact_sheet(shots, args.out, f"eCLIP Explorer: {args.data.name}")
    blank = [s.path.name for s in shots if is_blank(s.path)]
    print(f"{len(shots)} views; contact sheet {sheet}")
    if blank:
        print(f"blank views: {', '.join(blank)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
