"""The radiograph + gaze overlay as a Plotly figure and as a downloadable PNG.

Image, heatmap and masks share one pixel grid (the dataset contract stores them at the same
HxW), so the overlay is drawn on pixel coordinates. The figure's heatmap of a film larger than
HEATMAP_CELLS is sent as block means on a coarser grid placed on those coordinates (the PNG
keeps every pixel).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from matplotlib import colormaps
from plotly.colors import get_colorscale, hex_to_rgb, unlabel_rgb
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from eclip.memo import BoundedCache

COLOUR_SCALES = ("Inferno", "Jet", "Turbo", "Hot", "Viridis")
# Heatmap values below FLOOR (fraction of the maximum) are left out; above it the colour's
# alpha ramps up until RAMP, so faint gaze stays faint and the film shows through.
FLOOR = 0.02
RAMP = 0.35
MASK_COLOURS = ("#00e5ff", "#76ff03", "#ff4081", "#ffea00", "#b388ff", "#ff9100", "#18ffff")
# st.plotly_chart's config for a film: scroll to zoom (as far as the stored image's own pixels
# and beyond: the film is drawn from the stored image, never a downscaled copy), drag to pan,
# double-click to fit the film again.
FILM_CHART = {"displaylogo": False, "scrollZoom": True, "doubleClick": "reset"}
ZOOM_HINT = "Scroll on a film to zoom, drag to pan, double-click to fit."
# The figure's heatmap has at most this many cells on the film's longer side: every visitor's
# browser parses and draws each film's heatmap, and a full-resolution one (65,536 values at
# 256 px, millions at 1024+) carries no visible detail beyond it (gaze is blurred fixations, a
# model's map an 8x8 or 16x16 token grid upsampled). Drawn with zsmooth="best", so zooming in
# shows no blocks.
HEATMAP_CELLS = 128


# A page draws one film up to three times a run (the gaze, the model's map, the compare
# model's) and again on every rerun; PNG encoding was ~14 % of a Grad-CAM run's server time. So
# each film's encoding is kept, keyed by the very bytes encoded (shared by every session).
_PNG_URIS = BoundedCache(64, "film PNGs")


def _encode_png(grey: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grey_png_uri(image: np.ndarray) -> str:
    grey = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    key = (grey.shape, hashlib.blake2b(grey.tobytes(), digest_size=16).digest())
    return _PNG_URIS.get_or_compute(key, lambda: _encode_png(grey))


def alpha_colour_scale(name: str) -> list[list]:
    """A named Plotly colour scale whose alpha grows from 0 to 1 over [FLOOR, RAMP]."""
    return [list(stop) for stop in _alpha_stops(name)]  # a fresh list: the figure keeps it unvalidated


# Plotly's colour-scale lookup and parsing was a fifth of a figure's build once validation went;
# a handful of names are ever drawn.
@functools.lru_cache(maxsize=16)
def _alpha_stops(name: str) -> tuple[tuple[float, str], ...]:
    out = []
    for pos, colour in get_colorscale(name):
        r, g, b = hex_to_rgb(colour) if colour.startswith("#") else unlabel_rgb(colour)
        out.append([pos, f"rgba({int(r)},{int(g)},{int(b)},{_ramp(pos):.3f})"])
        if pos == 0.0:  # fully transparent up to FLOOR, so the ramp starts there
            out.append([FLOOR, out[0][1]])
    return tuple(tuple(stop) for stop in out)


def _ramp(h):
    """0 at FLOOR rising to 1 at RAMP: no visible edge where the overlay starts."""
    return np.clip((h - FLOOR) / (RAMP - FLOOR), 0.0, 1.0)


def _alpha(h: np.ndarray, opacity: float) -> np.ndarray:
    return opacity * _ramp(h)


def _normalised(heatmap: np.ndarray) -> np.ndarray:
    h = np.nan_to_num(heatmap.astype(np.float32), nan=0.0)
    top = float(h.max())
    return h / top if top > 0 else h


def _cell_grid(length: int, block: int) -> tuple[int, float]:
    """(cells, cell size in pixels) along one axis: ``ceil(length / block)`` equal cells that
    tile exactly the ``length`` pixels (``block`` pixels each when ``block`` divides it)."""
    cells = -(-length // block)
    return cells, length / cells


def _block_sums(a: np.ndarray, cells: int, axis: int) -> np.ndarray:
    """Sums of ``a`` over ``cells`` equal spans of ``axis`` (each at least a pixel long), a
    pixel cut by a span's edge counted on each side by the fraction of it there."""
    length = a.shape[axis]
    edges = np.arange(cells + 1) * (length / cells)
    first = edges[:-1].astype(np.int64)  # the pixel each span starts in; strictly increasing
    sums = np.add.reduceat(a, first, axis=axis, dtype=np.float64)  # whole pixels first[j]..first[j+1]-1
    shape = [1] * a.ndim
    shape[axis] = cells
    cut = np.take(a, first, axis=axis) * (edges[:-1] - first).reshape(shape)  # part before the edge
    sums -= cut
    lead = [slice(None)] * a.ndim
    lead[axis] = slice(None, -1)
    tail = list(lead)
    tail[axis] = slice(1, None)
    sums[tuple(lead)] += cut[tuple(tail)]
    return sums


def _area_mean(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``a`` averaged over a ``rows`` x ``cols`` grid of equal cells covering it (area
    weighted, NaNs left out; NaN where a cell has no value). Each row is summed first: along
    the contiguous axis, ~3x faster at 2048 px."""
    valid = ~np.isnan(a)
    if valid.all():
        sums = _block_sums(_block_sums(a, cols, 1), rows, 0)
        return (sums * (rows * cols / a.size)).astype(np.float32)
    sums = _block_sums(_block_sums(np.where(valid, a, 0.0), cols, 1), rows, 0)
    counts = _block_sums(_block_sums(valid, cols, 1), rows, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 1e-9, sums / counts, np.nan).astype(np.float32)


def _heatmap_grid(h: np.ndarray) -> tuple[np.ndarray, dict]:
    """``h`` as sent to the browser, with the trace's x0/dx/y0/dy: unchanged at HEATMAP_CELLS
    pixels or fewer a side, else block means of ``ceil(longer / HEATMAP_CELLS)`` px blocks whose
    cells tile the film exactly (each cell's centre at the centre of the pixels it averages)."""
    h_px, w_px = h.shape
    if max(h_px, w_px) <= HEATMAP_CELLS:
        return h, {}
    block = -(-max(h_px, w_px) // HEATMAP_CELLS)
    (rows, dy), (cols, dx) = _cell_grid(h_px, block), _cell_grid(w_px, block)
    # Pixel p spans [p - 0.5, p + 0.5]: cell j spans [j*d - 0.5, (j+1)*d - 0.5], centre below.
    place = dict(x0=(dx - 1) / 2, dx=dx, y0=(dy - 1) / 2, dy=dy, zsmooth="best")
    return _area_mean(h, rows, cols), place


def overlay_figure(image: np.ndarray, heatmap: np.ndarray | None = None, *,
                   opacity: float = 0.5, colour_scale: str = "Inferno",
                   masks: dict[str, np.ndarray] | None = None, height: int = 440,
                   label: str = "gaze", bar_below: bool = False) -> go.Figure:
    """Grey radiograph, optional semi-transparent heatmap, optional mask outlines; ``label``
    names the heatmap (colour bar title, hover): "gaze", or the attribution method.

    ``bar_below``: for a row of films sized by ``film_row_css`` (the film as wide as its column,
    the colour bar in a band under it); ``height`` is then only the least the chart takes."""
    h_px, w_px = image.shape
    traces = [dict(type="image", source=_grey_png_uri(image), hoverinfo="skip", name="radiograph")]
    if heatmap is not None:
        if heatmap.shape != image.shape:
            raise ValueError(f"heatmap {heatmap.shape} does not match image {image.shape}")
        # Pooled before the FLOOR cut, so a cell's value is the mean of all its pixels.
        h, place = _heatmap_grid(_normalised(heatmap))
        traces.append(dict(
            type="heatmap", z=np.where(h >= FLOOR, h, np.nan), colorscale=alpha_colour_scale(colour_scale),
            zmin=0.0, zmax=1.0, **place, opacity=opacity, name=label,
            # A pooled cell reports the film pixel at (or just past) its centre.
            hovertemplate=f"x %{{x:.0f}}, y %{{y:.0f}}<br>{label} %{{z:.2f}}<extra></extra>",
            colorbar=_bar_below(label) if bar_below else dict(title=dict(text=label, side="right"), thickness=12,
                                                              len=0.6)))
    # Mask outlines keep every pixel: a contour of block means would round a mask's corners by
    # pixels once zoomed in and lose any part under half a block wide.
    for i, (name, mask) in enumerate((masks or {}).items()):
        traces.append(dict(
            type="contour", z=mask.astype(np.float32),
            contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
            line=dict(color=MASK_COLOURS[i % len(MASK_COLOURS)], width=2), showscale=False,
            name=name, showlegend=True, hoverinfo="name"))
    layout = dict(
        xaxis=dict(visible=False, range=[-0.5, w_px - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[h_px - 0.5, -0.5], scaleanchor="x", constrain="domain",
                   constraintoward="top"),
        height=height, margin=dict(l=0, r=0, t=0, b=0), dragmode="pan",
        legend=dict(orientation="h", yanchor="bottom", y=0.0, x=0.0, bgcolor="rgba(0,0,0,0.55)",
                    font=dict(color="white")))
    # Built in one go from plain dicts without Plotly's per-property validation: validating these
    # fixed, known-good properties was most of a figure's server time (3 figures a Model vs gaze
    # run); the figure sent is the same (tests/app/render/test_overlay_figure_json.py).
    fig = go.Figure(data=traces, layout=layout, _validate=False)
    return fig


# Under the film, its full width: a bar beside it took a fifth of a narrow column's width and,
# 0.6 of the figure tall, made the figure taller than the film it keys.
BAR_BAND = 68  # px under each film for that bar, its title above it and its tick labels under it


def _bar_below(label: str) -> dict:
    return dict(orientation="h", title=dict(text=label, side="top", font=dict(size=12)), thickness=12, len=1.0,
                y=0.0, yanchor="bottom", ypad=4)
FILM_MIN = 160  # px: the least such a chart takes (Streamlit keeps a stretched chart at its figure's height or more)


def film_row_css(key: str, shape: tuple[int, ...]) -> str:
    """The style that sizes each chart drawn ``bar_below`` in the container ``key`` (its charts
    drawn with ``height="stretch"``) to its column: the film as wide as the column, as tall as
    its aspect makes it, then the colour bar's band. Worked out by the browser from the
    column's width, which the server does not know: a fixed height left a narrow column's film
    (three films at 1280 px) with blank room under it."""
    ratio = shape[0] / shape[1]
    return (f"<style>.st-key-{key} [data-testid='stColumn'] {{container-type: inline-size}}"
            f".st-key-{key} [data-testid='stPlotlyChart'] {{height: calc(100cqw * {ratio:.4f} + {BAR_BAND}px) "
            "!important}</style>")


def overlay_png(image: np.ndarray, heatmap: np.ndarray | None = None, *, opacity: float = 0.5,
                colour_scale: str = "Inferno", masks: dict[str, np.ndarray] | None = None,
                min_side: int = 512, caption: Caption | None = None) -> bytes:
    """The same overlay composited to an RGB PNG (for screenshots in reports); with a
    ``caption``, a band under the film names the case, marks it SIMULATED, and keys the
    heatmap's colours and the masks' outlines."""
    rgb = np.repeat(image.astype(np.float32)[..., None], 3, axis=2)
    if heatmap is not None:
        h = _normalised(heatmap)
        colours = colormaps[colour_scale.lower()](h)[..., :3]
        alpha = _alpha(h, opacity)[..., None]
        rgb = rgb * (1 - alpha) + colours * alpha
    for i, (_, mask) in enumerate((masks or {}).items()):
        edge = mask & ~ndimage.binary_erosion(mask, iterations=1)
        rgb[edge] = _hex_rgb(MASK_COLOURS[i % len(MASK_COLOURS)])
    out = Image.fromarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), mode="RGB")
    scale = max(1, int(np.ceil(min_side / max(out.size))))
    if scale > 1:
        out = out.resize((out.width * scale, out.height * scale), Image.Resampling.NEAREST)
    if caption is not None:
        out = _with_band(out, caption, colour_scale if heatmap is not None else None, list(masks or {}))
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Caption:
    """What the band under a downloaded overlay says."""

    case: str  # the case id, or "uploaded image"
    simulated: bool = False
    label: str = "gaze"  # what the heatmap shows: "gaze", a model's map


BAND_TEXT = 15  # px; readable at the PNG's 512 px and when a report scales it down
SIMULATED_FILL = (255, 179, 0)


def _with_band(film: Image.Image, caption: Caption, scale: str | None, masks: list[str]) -> Image.Image:
    """``film`` over a white band: case id [SIMULATED] on one line; the heatmap's colour bar
    (low to high) and each mask's outline colour on the next."""
    font = ImageFont.load_default(size=BAND_TEXT)
    line = BAND_TEXT + 10
    out = Image.new("RGB", (film.width, film.height + 2 * line + 8), "white")
    out.paste(film, (0, 0))
    draw = ImageDraw.Draw(out)
    y = film.height + 6
    x = _text(draw, (6, y), caption.case, font)
    if caption.simulated:
        box = draw.textbbox((x + 10, y), "SIMULATED", font=font)
        draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=SIMULATED_FILL)
        draw.text((x + 10, y), "SIMULATED", fill="black", font=font)
    _legend(draw, 6, y + line, caption.label, scale, masks, font)
    return out


def _text(draw, xy, text: str, font) -> int:
    """Draw ``text`` in black at ``xy``; returns the x where it ends."""
    draw.text(xy, text, fill="black", font=font)
    return int(draw.textbbox(xy, text, font=font)[2])


def _legend(draw, x: int, y: int, label: str, scale: str | None, masks: list[str], font) -> None:
    if scale is not None:
        ramp = colormaps[scale.lower()](np.linspace(0, 1, 96))[:, :3]
        for i, rgb in enumerate(ramp):
            draw.line((x + i, y + 2, x + i, y + BAND_TEXT), fill=tuple(int(c * 255) for c in rgb))
        x = _text(draw, (x + 102, y), f"{label}: low to high", font) + 16
    for i, name in enumerate(masks):
        colour = MASK_COLOURS[i % len(MASK_COLOURS)]
        draw.rectangle((x, y + 2, x + 14, y + BAND_TEXT), outline=colour, width=3)
        x = _text(draw, (x + 20, y), name, font) + 12


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))
