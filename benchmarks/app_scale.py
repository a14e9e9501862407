"""The app at MIMIC scale: a synthetic dataset + index of N cases, measured in a real browser.

Writes (once per --n and --seed, into .cache/bench/, ignored by git) a dataset in our
manifest format and a complete embedding index for the shipped checkpoint, without
rendering or embedding a single image:

  manifest.csv   N rows: report text assembled from the demo corpus's sentences of the
                 case's finding (so filters and retrieval read real report words), CheXpert
                 labels, MIMIC-like splits (97 / 1 / 2 %), gaze on a quarter of the rows.
                 Every row points at one of 8 demo cases' image, gaze and mask files.
  index          image and report embeddings with cluster structure: one centre per finding,
                 the shipped text tower's embedding of the finding's name (so zero-shot and
                 retrieval rank sensibly), sub-clusters, noise, a modality gap; 2-D map
                 coordinates laid out per cluster (no UMAP fit: --umap times a real one).

Then it starts `streamlit run app/main.py` on a free 127.0.0.1 port against that dataset and
drives one Chromium session (Playwright): every page's first and warm load, a case filter,
a zero-shot prompt edit, a box selection of ~5,000 points on the Embeddings map, a text ->
image retrieval query. It prints each time against the target (every interaction <= 2 s)
and the server process's memory (RSS).

    python benchmarks/app_scale.py --n 200000
    python benchmarks/app_scale.py --n 20000 --json results/app_scale_20k.json
    python benchmarks/app_scale.py --n 200000 --umap        # also time UMAP on the index
    python benchmarks/app_scale.py --n 200000 --only-data   # write the dataset, measure nothing

The browser and the server share this machine, so the times include the browser's own
rendering: an upper bound for a visitor on another machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from app.core.chromium import CHROME_ARGS, CHROMIUM
from app.server.serve import free_port, read_run_log, start_server, stop_server, wait_healthy
# benchmarks/app_load.py, beside this script
from app_load import MAIN, Visitor, _interrupted, server_part, zero_shot_edit

REPO = Path(__file__).resolve().parents[1]

TARGET_S = 2.0
PAGES = ("Case browser", "Embeddings", "Zero-shot", "Retrieval", "Model vs gaze", "Draft report",
         "Admin: training")
# MIMIC-CXR-like mix of primary findings (share of cases); "No Finding" is the largest group.
GROUPS = {"No Finding": 0.30, "Support Devices": 0.10, "Pleural Effusion": 0.12,
          "Lung Opacity": 0.10, "Atelectasis": 0.08, "Cardiomegaly": 0.08, "Edema": 0.06,
          "Pneumonia": 0.03, "Consolidation": 0.02, "Pneumothorax": 0.02,
          "Enlarged Cardiomediastinum": 0.03, "Lung Lesion": 0.03, "Fracture": 0.02,
          "Pleural Other": 0.01}
SPLITS = (("train", 0.97), ("validate", 0.01), ("test", 0.02))
SUBCLUSTERS = 6
SHARED_CASES = 8  # demo cases whose files every row points at
SELECT_TARGET = 5000  # points in the box selection


# --------------------------------------------------------------------------- the dataset
def _sentence_pools(demo: Path) -> tuple[dict, dict]:
    """Findings sentences and impressions of the demo corpus, per primary finding."""
    from app.core.cases import primary_finding
    from eclip.data.manifest import read_manifest

    df = read_manifest(demo)
    df = df.assign(group=primary_finding(df))
    every = [s.strip() + "." for t in df["findings"] for s in t.split(".") if len(s.strip()) > 3]
    sentences, impressions = {}, {}
    for group in GROUPS:
        rows = df[df["group"] == group]
        own = [s.strip() + "." for t in rows["findings"] for s in t.split(".") if len(s.strip()) > 3]
        sentences[group] = own or every
        impressions[group] = [t for t in rows["impression"] if t] or ["No acute findings."]
    return sentences, impressions


def _reports(groups: np.ndarray, rng, demo: Path) -> tuple[list[str], list[str]]:
    sentences, impressions = _sentence_pools(demo)
    names = list(GROUPS)
    findings, impression = [], []
    for g in groups:
        pool = sentences[names[g]]
        picks = rng.integers(0, len(pool), 4)
        findings.append(" ".join(pool[i] for i in picks))
        imp = impressions[names[g]]
        impression.append(imp[int(rng.integers(0, len(imp)))])
    return findings, impression


def _labels(groups: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Primary finding positive; 20 % of the abnormal cases get a second positive finding;
    'No Finding' is 0 for every abnormal case; the rest unmentioned (NaN)."""
    from eclip.data.manifest import LABELS

    n, names = len(groups), list(GROUPS)
    cols = {lab: np.full(n, np.nan) for lab in LABELS}
    cols["No Finding"][:] = 0.0
    for g, name in enumerate(names):
        cols[name][groups == g] = 1.0
    second = rng.integers(1, len(names), n)
    extra = (groups != 0) & (rng.random(n) < 0.2)
    for g, name in enumerate(names[1:], start=1):
        cols[name][extra & (second == g)] = 1.0
    return cols


def _shared_files(demo: Path, out: Path) -> list[dict]:
    """Copy the first demo cases that have gaze and masks: every synthetic row uses one."""
    from eclip.data.manifest import read_manifest

    df = read_manifest(demo)
    picked = df[(df["gaze_path"] != "") & (df["mask_path"] != "")].head(SHARED_CASES)
    files = []
    for _, row in picked.iterrows():
        entry = {}
        for col in ("image_path", "gaze_path", "mask_path"):
            (out / row[col]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(demo / row[col], out / row[col])
            entry[col] = row[col]
        files.append(entry)
    return files


def write_manifest(out: Path, n: int, seed: int, demo: Path) -> np.ndarray:
    """manifest.csv of ``n`` synthetic rows; returns each row's group (primary finding)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    groups = rng.choice(len(GROUPS), size=n, p=np.array(list(GROUPS.values())) / sum(GROUPS.values()))
    files = _shared_files(demo, out)
    which = np.arange(n) % len(files)
    gaze = rng.random(n) < 0.25
    findings, impression = _reports(groups, rng, demo)
    split_names, split_p = zip(*SPLITS)
    df = pd.DataFrame({
        "id": [f"syn{i:07d}" for i in range(n)],
        "image_path": [files[w]["image_path"] for w in which],
        "findings": findings, "impression": impression,
        "split": rng.choice(split_names, size=n, p=split_p),
        "view": "PA",
        "gaze_path": [files[w]["gaze_path"] if g else "" for w, g in zip(which, gaze)],
        "patient_key": [f"P{i // 3:07d}" for i in range(n)],
        "mask_path": [files[w]["mask_path"] for w in which],
        "source": "synthetic", "simulated": 1, "n_readings": np.where(gaze, 1, 0),
        **{k: v for k, v in _labels(groups, rng).items()},
    })
    df.to_csv(out / "manifest.csv", index=False, float_format="%g")
    return groups


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def _centres(checkpoint: Path) -> np.ndarray:
    """One centre per group: the shipped text tower's embedding of the finding's name."""
    from eclip.model.checkpoint import load_model
    from eclip.model.encode import encode_texts

    lm = load_model(checkpoint, device="cpu")
    return encode_texts(lm, [g.lower() for g in GROUPS])


def _embeddings(groups: np.ndarray, centres: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-row report embeddings, image embeddings, sub-cluster of each row)."""
    n, d = len(groups), centres.shape[1]
    sub_dirs = _unit(rng.standard_normal((len(GROUPS), SUBCLUSTERS, d)))
    sub = rng.integers(0, SUBCLUSTERS, n)
    gap = _unit(rng.standard_normal(d)) * 0.6  # images sit apart from reports: the modality gap
    text = _unit(centres[groups] + 0.5 * sub_dirs[groups, sub]
                 + 0.7 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d))
    image = _unit(text + gap + 0.9 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d))
    return text, image, sub


def _map(groups: np.ndarray, sub: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates shaped like a UMAP of clusters: groups on a ring, sub-clusters around
    their group, reports shifted off their images (the gap)."""
    angle = 2 * np.pi * groups / len(GROUPS)
    centre = np.stack([np.cos(angle), np.sin(angle)], 1) * 10
    sub_angle = 2 * np.pi * sub / SUBCLUSTERS
    centre += np.stack([np.cos(sub_angle), np.sin(sub_angle)], 1) * 1.5
    image = centre + rng.standard_normal((len(groups), 2)) * 0.6
    text = centre + np.array([3.0, 0.0]) + rng.standard_normal((len(groups), 2)) * 0.6
    return image.astype(np.float32), text.astype(np.float32)


def write_index(data: Path, cache: Path, checkpoint: Path, groups: np.ndarray, seed: int) -> Path:
    """A complete index in our on-disk format, accepted by ``load_index``."""
    import pandas as pd

    from eclip.data.reports import report_text
    from eclip.index.keys import expected_identity, index_dir
    from eclip.index.store import INDEX_VERSION, save_npy, write_list, write_meta
    from eclip.model.encode import unique_texts

    rng = np.random.default_rng(seed + 1)
    df = pd.read_csv(data / "manifest.csv", dtype=str, keep_default_na=False,
                     usecols=["id", "findings", "impression"])
    texts, text_index = unique_texts([report_text(f, i) for f, i in zip(df["findings"], df["impression"])])
    text_rows, image_emb, sub = _embeddings(groups, _centres(checkpoint), rng)
    first = np.full(len(texts), -1)
    first[text_index[::-1]] = np.arange(len(df))[::-1]  # each text's first row
    umap_image, umap_text_rows = _map(groups, sub, rng)
    path = index_dir(checkpoint, data, cache)
    path.mkdir(parents=True, exist_ok=True)
    for name, arr in (("image_emb", image_emb), ("text_emb", text_rows[first]),
                      ("text_index", text_index.astype(np.int64)), ("umap_image", umap_image),
                      ("umap_text", umap_text_rows[first])):
        save_npy(path / f"{name}.npy", arr)
    write_list(path / "ids.json", list(df["id"]))
    write_list(path / "texts.json", texts)
    write_meta(path, {**expected_identity(checkpoint, data), "version": INDEX_VERSION,
                      "checkpoint": str(checkpoint.resolve()), "data": str(data.resolve()),
                      "n_images": len(df), "n_texts": len(texts), "dim": int(image_emb.shape[1]),
                      "synthetic": True, "umap": {"synthetic": True}})
    return path


def build(n: int, seed: int, checkpoint: Path, demo: Path, root: Path) -> tuple[Path, Path, Path]:
    """(dataset folder, index cache root, index folder), written unless already complete."""
    data, cache = root / f"n{n}-s{seed}" / "data", root / f"n{n}-s{seed}" / "index"
    done = root / f"n{n}-s{seed}" / "done.json"
    if done.is_file():
        info = json.loads(done.read_text())
        if info.get("checkpoint") == str(checkpoint.resolve()) and Path(info["index"]).is_dir():
            return data, cache, Path(info["index"])
    shutil.rmtree(root / f"n{n}-s{seed}", ignore_errors=True)
    data.mkdir(parents=True)
    t0 = time.perf_counter()
    groups = write_manifest(data, n, seed, demo)
    t1 = time.perf_counter()
    index = write_index(data, cache, checkpoint, groups, seed)
    t2 = time.perf_counter()
    print(f"wrote {n:,} cases: manifest {t1 - t0:.1f} s, index {t2 - t1:.1f} s -> {data.parent}")
    done.write_text(json.dumps({"checkpoint": str(checkpoint.resolve()), "index": str(index)}))
    return data, cache, index


def time_umap(index_path: Path) -> float:
    """Seconds for ``compute_umap`` on the index (replaces the synthetic map)."""
    from eclip.index.projection import compute_umap
    from eclip.index.store import open_index

    idx = open_index(index_path, mmap=False)
    t0 = time.perf_counter()
    compute_umap(idx)
    return time.perf_counter() - t0


def selection_box(index_path: Path, target: int = SELECT_TARGET) -> tuple[float, float, float, float]:
    """A square (x0, x1, y0, y1) on the map around the densest cluster holding ~``target``
    image points (all points, whether or not the map draws each one)."""
    xy = np.load(index_path / "umap_image.npy")
    target = min(target, len(xy) // 4)  # small test sets: a quarter of the map
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=40)
    i, j = np.unravel_index(np.argmax(counts), counts.shape)
    centre = np.array([(xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2])
    lo, hi = 0.0, float(np.ptp(xy, axis=0).max())
    for _ in range(40):  # bisect the half-width
        half = (lo + hi) / 2
        inside = (np.abs(xy - centre) <= half).all(axis=1).sum()
        lo, hi = (half, hi) if inside < target else (lo, half)
    half = (lo + hi) / 2
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


# --------------------------------------------------------------------------- measuring
class RssMeter:
    """The server process's resident memory, sampled twice a second (last and peak)."""

    def __init__(self, pid: int):
        import psutil

        self._proc, self.peak, self.last = psutil.Process(pid), 0, 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> int:
        try:
            self.last = self._proc.memory_info().rss
        except Exception:  # noqa: BLE001  (the server ended: keep the last value)
            return self.last
        self.peak = max(self.peak, self.last)
        return self.last

    def close(self) -> None:
        self._stop.set()


def _main_locator(v: Visitor, title: str):
    """What shows that a page is drawn: its map or image plot, else its title."""
    if title in ("Embeddings", "Case browser"):
        return v.page.locator(f"{MAIN} .js-plotly-plot .main-svg")
    return v.page.locator(f"{MAIN} h1", has_text=title)


async def load_page(v: Visitor, title: str, kind: str, timeout_s: float) -> None:
    link = v.page.locator('[data-testid="stSidebarNav"] a', has_text=title)
    await v.timed(kind, link.click, _main_locator(v, title), timeout_s)


async def case_filter(v: Visitor, word: str, timeout_s: float) -> None:
    box = v.page.get_by_label("Search report text")
    caption = v.page.locator(f"{MAIN} [data-testid='stCaptionContainer']", has_text="cases match")
    await v.timed("case filter (report text)", lambda: box.press("Enter"), caption, timeout_s,
                  prepare=lambda: box.fill(word))


async def box_select(v: Visitor, box: tuple, timeout_s: float) -> None:
    """Draw a lasso along the square ``box`` (x0, x1, y0, y1, data coordinates) on the
    Embeddings map (the map's default drag mode), as a person's mouse does."""
    page = v.page
    plot = page.locator(f"{MAIN} .js-plotly-plot").first
    await plot.scroll_into_view_if_needed()
    x0, y0, x1, y1 = await plot.evaluate(
        """(gd, b) => { const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis,
                          ya = gd._fullLayout.yaxis;
           const px = x => r.left + xa._offset + xa.l2p(x), py = y => r.top + ya._offset + ya.l2p(y);
           return [px(b[0]), py(b[3]), px(b[1]), py(b[2])]; }""", [float(b) for b in box])

    async def drag():
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0)):
            await page.mouse.move(x, y, steps=5)
        await page.mouse.up()

    shown = page.locator(f"{MAIN} h3", has_text="selected case(s)")
    await v.timed("lasso selection on the map", drag, shown, timeout_s, prepare=plot.hover)
    v.selected = await shown.first.inner_text() if await shown.count() else "nothing selected"


async def retrieval_query(v: Visitor, text: str, timeout_s: float) -> None:
    box = v.page.get_by_label("Report sentence")
    caption = v.page.locator(f"{MAIN} [data-testid='stCaptionContainer']", has_text="by cosine similarity")
    await v.timed("retrieval query (text -> images)", lambda: box.press("Enter"), caption,
                  timeout_s, prepare=lambda: box.fill(text))


async def _step(v: Visitor, name: str, coro) -> None:
    """One step; a failure is recorded and the next steps still run."""
    try:
        await coro
    except Exception as exc:  # noqa: BLE001  (reported with the results)
        v.errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


async def drive(url: str, box: tuple, timeout_s: float) -> Visitor:
    from playwright.async_api import async_playwright

    v = Visitor("scale")
    v.times = defaultdict(list)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(timeout_s * 1000)
        v.watch(await context.new_page())
        await v.timed("first load: Case browser", lambda: v.page.goto(url, wait_until="domcontentloaded"),
                      _main_locator(v, "Case browser"), timeout_s)
        for title in PAGES[1:]:
            await _step(v, title, load_page(v, title, f"first load: {title}", timeout_s))
        for title in PAGES:
            await _step(v, title, load_page(v, title, f"warm load: {title}", timeout_s))
        steps = (("Case browser", case_filter(v, "effusion", timeout_s)),
                 ("Zero-shot", zero_shot_edit(v, "scale", 1, timeout_s)),
                 ("Embeddings", box_select(v, box, timeout_s)),
                 ("Retrieval", retrieval_query(
                     v, "Large right pleural effusion with basal atelectasis.", timeout_s)))
        for title, action in steps:
            # wait for the page's map or image, not just its title: a person lassos a drawn map
            await _step(v, title, load_page(v, title, "switch page", timeout_s))
            await _step(v, title, action)
        await browser.close()
    return v


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("floor")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])))
"""


def floor_first_load(tmp: Path, timeout_s: float) -> float:
    """Seconds a fresh browser takes to show a one-chart Streamlit app: the part of any first
    load that is Streamlit's own front end (its scripts and plotly.js fetched and compiled,
    the websocket opened), whatever the app does. Measured beside ours, on the same machine."""
    import subprocess

    from playwright.async_api import async_playwright

    script = tmp / "floor_app.py"
    script.write_text(FLOOR_APP)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    async def visit() -> float:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
            page = await (await browser.new_context(viewport={"width": 1400, "height": 900})).new_page()
            t0 = time.perf_counter()
            await page.goto(url, wait_until="domcontentloaded")
            await page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=timeout_s * 1000)
            took = time.perf_counter() - t0
            await browser.close()
            return took

    try:
        wait_healthy(url, proc)
        return asyncio.run(visit())
    finally:
        stop_server(proc)


def report(v: Visitor, n: int, rss: RssMeter, load: tuple, floor: float | None = None) -> str:
    kinds = [k for k in v.times if k != "switch page"]
    head = f"{'interaction at ' + format(n, ',') + ' cases':<44}{'seconds':>8}{'server':>8}   target <= {TARGET_S:g} s"
    rows = [head, "-" * len(head)]
    for kind in kinds:
        t, s = v.times[kind][0], (v.server.get(kind) or [float("nan")])[0]
        rows.append(f"{kind:<44}{t:>8.2f}{s:>8.2f}   {'met' if t <= TARGET_S else 'NOT met'}")
    missing = list(v.errors)
    if floor is not None:
        rows.append(f"{'floor: a one-chart Streamlit app, first load':<44}{floor:>8.2f}"
                    "            (a fresh browser; no app can load faster)")
    rows.append(f"{'box selection result':<44}{getattr(v, 'selected', '-')}")
    rows.append(f"server RSS: {rss.sample() / 2**20:,.0f} MiB at the end, peak {rss.peak / 2**20:,.0f} MiB")
    rows.append(f"machine load (1-min average, {os.cpu_count()} CPUs): {load[0]:.1f} at the start, "
                f"{load[1]:.1f} at the end")
    rows.append(f"errors: {len(missing)}" + "".join(f"\n  {e}" for e in missing[:20]))
    return "\n".join(rows)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--n", type=int, default=200_000, help="cases (default 200000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "demo-eclip"))
    ap.add_argument("--demo", default=str(REPO / "data" / "demo"),
                    help="the demo corpus: report sentences and the shared image files")
    ap.add_argument("--out", default=str(REPO / ".cache" / "bench"), help="where datasets go")
    ap.add_argument("--timeout", type=float, default=180, help="seconds one step may take")
    ap.add_argument("--umap", action="store_true", help="also time compute_umap on the index")
    ap.add_argument("--only-data", action="store_true", help="write the dataset and stop")
    ap.add_argument("--json", help="also write the times here")
    args = ap.parse_args(argv)
    if args.n < 100:
        ap.error("--n must be at least 100")
    if not (Path(args.demo) / "manifest.csv").is_file():
        ap.error(f"no demo corpus at {args.demo}: `make demo` builds data/demo")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)  # unwinds: the browser and the server close
    data, cache, index_path = build(args.n, args.seed, Path(args.checkpoint), Path(args.demo),
                                    Path(args.out))
    if args.umap:
        print(f"UMAP (compute_umap) on {args.n:,} images + their reports: "
              f"{time_umap(index_path):.0f} s", flush=True)
    if args.only_data:
        return
    box = selection_box(index_path)
    with tempfile.TemporaryDirectory(prefix="app_scale_") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        run_log = Path(tmp) / "runs.jsonl"  # the server's part, timed in the server
        proc = start_server(data, args.checkpoint, port, Path(tmp) / "streamlit.log",
                            env={"ECLIP_INDEX_DIR": str(cache)}, run_log=run_log)
        rss = RssMeter(proc.pid)
        try:
            wait_healthy(url, proc)
            print(f"server up, RSS {rss.sample() / 2**20:,.0f} MiB", flush=True)
            load = os.getloadavg()[0]
            v = asyncio.run(drive(url, box, args.timeout))
            v.server = server_part(v, read_run_log(run_log))
            load = (load, os.getloadavg()[0])
        finally:
            rss.close()
            stop_server(proc)
            log = (Path(tmp) / "streamlit.log").read_text(errors="replace")
            if "Traceback" in log:
                print("The server logged a traceback:\n" + log[log.index("Traceback"):][:3000])
        floor = floor_first_load(Path(tmp), args.timeout)
    print()
    print(report(v, args.n, rss, load, floor))
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "times": v.times, "server": v.server,
                                               "rss_peak": rss.peak, "errors": v.errors,
                                               "floor_first_load": floor}, indent=1))


if __name__ == "__main__":
    main()
