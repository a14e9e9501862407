"""What a film figure costs to send: the full-resolution heatmap vs the pooled one.

For each film size, one synthetic film (smooth anatomy-like shading plus grain, so its PNG
compresses like a radiograph's) and one smooth random heatmap (a 16x16 grid of random values,
cubic-upsampled: what a model's token map looks like), the figure is built two ways in the same
run: the reference, as ``overlay_figure`` built it before pooling (every pixel's value in the
heatmap trace, reproduced here), and ``app.render.overlay.overlay_figure`` now (at most
HEATMAP_CELLS cells a side). Printed: the JSON payload (``fig.to_json()``, what Streamlit sends)
of the whole figure and of its heatmap trace, the median build + serialise time (the film's PNG
is cached in both, as in the app), and the ratios. No assertions: it measures.

    python benchmarks/overlay_payload.py                   # 256, 512, 1024, 2048 px; ~1 min
    python benchmarks/overlay_payload.py --sizes 256 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed  # noqa: E402  (benchmarks/timing.py, beside this script)

from app.render import overlay  # noqa: E402


def film_and_heatmap(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    film = 0.5 + 0.3 * np.sin(3 * xx) * np.cos(2 * yy) - 0.2 * np.hypot(xx - 0.5, yy - 0.5)
    film = np.clip(film + rng.normal(0, 0.01, film.shape), 0, 1).astype(np.float32)
    grid = rng.random((16, 16))
    heat = ndimage.zoom(grid, size / 16, order=3)[:size, :size]
    return film, np.clip(heat, 0, None).astype(np.float32)


def reference_figure(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5,
                     colour_scale: str = "Inferno", label: str = "gaze") -> go.Figure:
    """The figure as built before pooling: the film and layout as now, the heatmap trace with
    every pixel's value on the default pixel grid (no x0/dx, no smoothing)."""
    fig = overlay.overlay_figure(image, height=440, label=label)
    h = overlay._normalised(heatmap)
    fig.add_trace(go.Heatmap(
        z=np.where(h >= overlay.FLOOR, h, np.nan), colorscale=overlay.alpha_colour_scale(colour_scale),
        zmin=0.0, zmax=1.0,
        opacity=opacity, name=label, hovertemplate=f"x %{{x}}, y %{{y}}<br>{label} %{{z:.2f}}<extra></extra>",
        colorbar=dict(title=dict(text=label, side="right"), thickness=12, len=0.6)))
    return fig


def pooled_figure(image: np.ndarray, heatmap: np.ndarray) -> go.Figure:
    return overlay.overlay_figure(image, heatmap, opacity=0.5, colour_scale="Inferno", label="gaze")


def payload(fig: go.Figure) -> tuple[int, int]:
    """Bytes of the figure's JSON and of its heatmap trace's."""
    text = fig.to_json()
    trace = next(t for t in json.loads(text)["data"] if t["type"] == "heatmap")
    return len(text.encode()), len(json.dumps(trace, separators=(",", ":")).encode())


def measure(size: int, repeats: int) -> dict:
    film, heat = film_and_heatmap(size)
    out = {"px": size}
    for name, build in (("old", reference_figure), ("new", pooled_figure)):
        fig = build(film, heat)
        out[f"{name}_fig"], out[f"{name}_heat"] = payload(fig)
        out[f"{name}_cells"] = "x".join(str(n) for n in np.shape(fig.data[1].z))
        out[f"{name}_s"] = timed(lambda build=build: build(film, heat).to_json(), repeats)["median_s"]
    return out


def table(rows: list[dict]) -> str:
    lines = ["| film px | heatmap cells old / new | figure JSON old / new (KB) | ratio | heatmap trace old / new (KB) "
             "| build + to_json old / new (ms, median) | speed-up |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['px']} | {r['old_cells']} / {r['new_cells']} "
            f"| {r['old_fig'] / 1e3:,.0f} / {r['new_fig'] / 1e3:,.0f} "
            f"| {r['old_fig'] / r['new_fig']:.1f}x | {r['old_heat'] / 1e3:,.0f} / {r['new_heat'] / 1e3:,.0f} "
            f"| {r['old_s'] * 1e3:,.1f} / {r['new_s'] * 1e3:,.1f} | {r['old_s'] / r['new_s']:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048], help="film sides in px")
    ap.add_argument("--repeats", type=int, default=7, help="timed builds per size and way (after one warm-up)")
    args = ap.parse_args(argv)
    print(f"HEATMAP_CELLS = {overlay.HEATMAP_CELLS}; old = full-resolution heatmap (reference), new = overlay_figure")
    print(table([measure(size, args.repeats) for size in args.sizes]))


if __name__ == "__main__":
    main()
