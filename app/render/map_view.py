"""The Embeddings map at any size: which points are drawn, how the rest are shown, and which
cases a selection means.

Up to ``DRAW_ALL_MAX`` points (images + reports) every point is an SVG marker. Beyond that
the map is a density picture of every point (a PNG under the axes, ``density_layer``) with a
seeded sample of each colour drawn on top as markers to hover and click
(``eclip.index.projection.thin_rows``). Measured in headless Chromium without a GPU (the
software WebGL a hospital's virtual desktop also runs): a lasso of 20 mouse moves over 40,000
WebGL points took 7.8 s and over 5,000 still 2.0 s (WebGL's fixed cost per redraw), over
5,000 SVG points 0.8 s. A box or lasso still selects every case inside it, drawn or not (the
selection event carries the region in data coordinates); a click selects the point clicked.
"""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from eclip.index.projection import rows_in_regions, thin_rows
from eclip.memo import BoundedCache

from app.core import cases

DRAW_ALL_MAX = 6_000  # images + reports: every point a marker up to here
SAMPLE_IMAGES = 3_000  # markers on a density map (each colour keeps at least SAMPLE_MIN_GROUP)
SAMPLE_TEXTS = 1_000
SAMPLE_MIN_GROUP = 100
RASTER = (1000, 640)  # density picture, px (width, height): about the map's size on screen
# st.plotly_chart's options for a map: select points by click, box or lasso; zoom by scrolling
MAP_CHART = dict(selection_mode=("points", "box", "lasso"), config={"displaylogo": False, "scrollZoom": True})


def dense(n_images: int, n_texts: int | None) -> bool:
    """Whether the map is a density picture with sampled markers (else every point a marker)."""
    return n_images + (n_texts or 0) > DRAW_ALL_MAX


def drawn_images(values: np.ndarray, n_texts: int | None = 0) -> np.ndarray:
    """Rows of the image points drawn as markers, ``values`` being each case's colour group
    (as integer codes: sorting 200,000 group names took 0.25 s, factorising them 0.02 s)."""
    if not dense(len(values), n_texts):
        return np.arange(len(values))
    return thin_rows(pd.factorize(values)[0], SAMPLE_IMAGES, min_per_group=SAMPLE_MIN_GROUP)


def drawn_texts(n: int, n_images: int) -> np.ndarray:
    """Rows of the report points drawn as markers (one group: a plain seeded sample)."""
    if not dense(n_images, n):
        return np.arange(n)
    return thin_rows(np.zeros(n, np.int8), SAMPLE_TEXTS)


def thinned_note(n_images: int, n_texts: int | None) -> str | None:
    """The caption that says the markers are a sample, or None when every point is drawn."""
    if not dense(n_images, n_texts):
        return None
    return (f"{n_images:,} images" + (f" and {n_texts:,} reports" if n_texts else "") +
            " are too many to draw one by one: the shaded picture shows every point (darker = "
            f"denser), the markers a seeded sample of each colour (~{SAMPLE_IMAGES:,} images" +
            (f", {SAMPLE_TEXTS:,} reports" if n_texts else "") + ") to hover and click. A box "
            "or lasso selects every case inside it, drawn or not.")


def _rgb(colour: str) -> np.ndarray:
    """'#rrggbb' or 'rgb(a)(r, g, b[, a])' -> float RGB in [0, 1]."""
    c = colour.strip()
    if c.startswith("#"):
        return np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], np.float32) / 255
    parts = c[c.index("(") + 1:c.index(")")].split(",")
    return np.array([float(p) for p in parts[:3]], np.float32) / 255


def bounds(*clouds: np.ndarray | None, pad: float = 0.03) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) around every point of ``clouds``, padded by ``pad`` of the span."""
    pts = np.concatenate([c for c in clouds if c is not None and len(c)])
    lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return lo[0], hi[0], lo[1], hi[1]


def density_png(layers: list[tuple[np.ndarray, str]], box: tuple[float, float, float, float],
                size: tuple[int, int] = RASTER) -> bytes:
    """Every point of ``layers`` ((xy, colour) pairs, drawn into one picture) as an RGBA PNG
    spanning ``box``: each pixel takes the mean colour of the points on it, its opacity
    grows with their log count. Each point covers 3x3 pixels, about a marker's size."""
    from PIL import Image
    from scipy.ndimage import uniform_filter

    (w, h), (x0, x1, y0, y1) = size, box
    acc, total = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    for xy, colour in layers:
        px = np.clip(((xy[:, 0] - x0) / (x1 - x0) * (w - 1)).round(), 0, w - 1).astype(np.int64)
        py = np.clip(((y1 - xy[:, 1]) / (y1 - y0) * (h - 1)).round(), 0, h - 1).astype(np.int64)
        count = np.bincount(py * w + px, minlength=w * h).reshape(h, w).astype(np.float32)
        acc += count[..., None] * _rgb(colour)
        total += count
    # the 3x3 splat, once for all layers (a sum of filtered layers = the filtered sum)
    acc = uniform_filter(acc, size=(3, 3, 1), mode="constant") * 9
    total = uniform_filter(total, size=3, mode="constant") * 9
    rgb = acc / np.maximum(total, 1e-6)[..., None]
    alpha = np.where(total > 1e-3, 0.35 + 0.5 * np.log1p(total) / np.log1p(max(total.max(), 1)), 0)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    buf = io.BytesIO()
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(buf, "PNG", optimize=False)
    return buf.getvalue()


_PICTURES = BoundedCache(8, "density pictures")


def _digest(layers: list[tuple[np.ndarray, str]]) -> str:
    """A cheap key for a picture: each layer's size, colour and every ~1000th point (the
    maps come from cached indexes, so a changed map changes its points)."""
    h = hashlib.sha256()
    for xy, colour in layers:
        h.update(f"{len(xy)}|{colour}|".encode())
        h.update(np.ascontiguousarray(xy[:: max(1, len(xy) // 1000)], dtype=np.float32).tobytes())
    return h.hexdigest()


def add_density(fig: go.Figure, layers: list[tuple[np.ndarray, str]]) -> None:
    """Put the density picture of ``layers`` under ``fig``'s markers, axes fixed to its
    extent so that picture and markers stay aligned (zooming stretches the picture). The
    picture is drawn once per map and colouring (~0.3 s at 200,000 cases + reports)."""
    box = bounds(*(xy for xy, _ in layers))
    uri = _PICTURES.get_or_compute(
        _digest(layers), lambda: "data:image/png;base64," + base64.b64encode(density_png(layers, box)).decode())
    fig.add_layout_image(source=uri, xref="x", yref="y", x=box[0], y=box[3], sizex=box[1] - box[0],
                         sizey=box[3] - box[2], sizing="stretch", layer="below")
    fig.update_xaxes(range=[box[0], box[1]])
    fig.update_yaxes(range=[box[2], box[3]])
    # the legend is a colour key here: hiding a colour would hide its markers, not its share
    # of the picture
    fig.update_layout(legend=dict(itemclick=False, itemdoubleclick=False))


# --------------------------------------------------------------------------- the figure
COLOUR_BY = ("finding", "split", "gaze")
TEXT_COLOUR = "rgba(90,90,90,0.55)"
LEGEND = dict(orientation="h", x=0, xanchor="left", y=-0.02, yanchor="top", itemsizing="constant")


def colour_values(df: pd.DataFrame, by: str) -> pd.Series:
    if by == "split":
        return df["split"].replace("", "none")
    if by == "gaze":
        return cases.has_gaze(df).map({True: "with gaze", False: "without gaze"})
    return cases.primary_finding(df)


def figure(df: pd.DataFrame, xy: np.ndarray, text_xy: np.ndarray | None, by: str) -> go.Figure:
    """The map: images coloured ``by`` a manifest column, reports (``text_xy``) as grey
    crosses; every point a marker, or a density picture with a sample of markers."""
    fig = go.Figure()
    values = colour_values(df, by)
    groups = sorted(values.unique())
    colour = cases.group_colours(groups)
    counts, ids, group_of = values.value_counts(), df["id"].to_numpy(), values.to_numpy()
    n_texts = None if text_xy is None else len(text_xy)
    drawn = drawn_images(group_of, n_texts)  # a per-colour sample on a dense map
    drawn_values = group_of[drawn]
    for group in groups:
        rows = drawn[drawn_values == group]
        fig.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"{group} ({counts[group]:,})",
            customdata=ids[rows],
            marker=dict(size=6, opacity=0.8, color=colour[group]),
            hovertemplate="%{customdata}<extra>" + group + "</extra>"))
    if text_xy is not None:
        shown = text_xy[drawn_texts(len(text_xy), len(xy))]
        fig.add_trace(go.Scatter(
            x=shown[:, 0], y=shown[:, 1], mode="markers", name=f"reports (text) ({len(text_xy):,})",
            marker=dict(size=5, symbol="x", color=TEXT_COLOUR), hoverinfo="skip"))
    # The legend goes below the map: on the right it ran under the toolbar (modebar), which
    # plotly pins to the figure's top-right corner.
    fig.update_layout(height=640, margin=dict(l=0, r=0, t=30, b=0), dragmode="lasso",
                      legend=LEGEND, xaxis=dict(visible=False), yaxis=dict(visible=False))
    if dense(len(xy), n_texts):
        codes = pd.Categorical(group_of, categories=groups).codes  # integer masks: 12 string
        layers = [(xy[codes == k], colour[g]) for k, g in enumerate(groups)]  # ones took 0.2 s
        add_density(fig, layers + ([(text_xy, TEXT_COLOUR)] if text_xy is not None else []))
    return fig


def counts_figure(counts: pd.Series) -> go.Figure:
    """Selected cases per finding, a horizontal bar each, in the findings' map colours
    (st.bar_chart's Altair spec took ~0.3 s to build per run at this size)."""
    counts = counts.sort_values()
    colour = cases.group_colours(list(counts.index))
    fig = go.Figure(go.Bar(x=counts.to_numpy(), y=[str(g) for g in counts.index], orientation="h",
                           marker_color=[colour[g] for g in counts.index], text=counts.to_numpy(),
                           textposition="auto", hovertemplate="%{y}: %{x} case(s)<extra></extra>"))
    fig.update_layout(height=max(140, 30 * len(counts) + 60), margin=dict(l=0, r=10, t=10, b=30),
                      xaxis_title="selected cases", bargap=0.25)
    return fig


def picked_ids(event, ids, xy: np.ndarray) -> list[str]:
    """Case ids selected on the map: every case inside the boxes and lassos (over all of
    ``xy``, not only the drawn points), then the points clicked. ``ids`` (array or Series)
    and ``xy`` are row-aligned."""
    sel = event.selection if event else None
    if not sel:
        return []
    clicked = [p["customdata"] for p in sel.points if p.get("customdata") is not None]
    boxes = [(b["x"], b["y"]) for b in sel.box if len(b.get("x", ())) >= 2]
    lassos = [(b["x"], b["y"]) for b in sel.lasso if len(b.get("x", ())) >= 3]
    rows = rows_in_regions(xy, boxes, lassos) if boxes or lassos else np.empty(0, np.int64)
    inside = (ids.iloc[rows] if hasattr(ids, "iloc") else np.asarray(ids)[rows]).tolist()
    return list(dict.fromkeys(inside + clicked))
