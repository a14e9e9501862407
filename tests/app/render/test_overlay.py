"""The film figure: its PNG is encoded once per distinct film, never served stale."""

import base64
import io

import numpy as np
from PIL import Image

from floats import assert_close

from app.render import overlay


def _decoded(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_a_film_is_encoded_once_and_a_changed_pixel_is_encoded_anew(monkeypatch):
    overlay._PNG_URIS._items.clear()
    calls = []
    encode = overlay._encode_png
    monkeypatch.setattr(overlay, "_encode_png", lambda grey: calls.append(1) or encode(grey))
    film = np.random.default_rng(0).random((40, 32), dtype=np.float32)
    figures = [overlay.overlay_figure(film, film, label=str(i)) for i in range(3)]
    sources = {f.data[0].source for f in figures}
    assert len(calls) == 1 and len(sources) == 1
    assert np.array_equal(_decoded(sources.pop()), np.clip(film * 255 + 0.5, 0, 255).astype(np.uint8))
    other = film.copy()
    other[5, 7] = 1.0 - other[5, 7]
    uri = overlay.overlay_figure(other).data[0].source
    assert len(calls) == 2 and _decoded(uri)[5, 7] == np.uint8(np.clip(other[5, 7] * 255 + 0.5, 0, 255))


def _heatmap(fig) -> tuple[np.ndarray, object]:
    trace = next(t for t in fig.data if t.type == "heatmap")
    return np.asarray(trace.z, dtype=np.float64), trace


def _smooth(shape, seed=0) -> np.ndarray:
    """A positive, smooth-ish heatmap (every pixel well above FLOOR once normalised)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (1.2 + np.sin(yy / 17.0) * np.cos(xx / 23.0) + 0.2 * rng.random(shape)).astype(np.float32)


def _spans(trace, cells: int, axis: str) -> tuple[float, float, float]:
    """The trace's first and last cell centres along ``axis`` and its cell size, in film pixels."""
    first, step = getattr(trace, f"{axis}0"), getattr(trace, f"d{axis}")
    return first, first + (cells - 1) * step, step


def test_a_large_films_heatmap_is_sent_as_block_means_that_span_the_film():
    film = np.zeros((512, 384), np.float32)
    heat = _smooth(film.shape)
    z, trace = _heatmap(overlay.overlay_figure(film, heat))
    assert z.shape == (128, 96) and max(z.shape) <= overlay.HEATMAP_CELLS
    blocks = (heat / heat.max()).reshape(128, 4, 96, 4).mean(axis=(1, 3))
    assert_close(z, blocks, atol=1e-6, rtol=0)
    assert trace.zsmooth == "best"
    for axis, cells, pixels in (("x", 96, 384), ("y", 128, 512)):
        first, last, step = _spans(trace, cells, axis)
        assert_close([first, last, step], [1.5, pixels - 2.5, 4.0])  # centres of pixels 0-3 and the last 4
        assert_close([first - step / 2, last + step / 2], [-0.5, pixels - 0.5])  # exactly the film
    assert "%{x:.0f}" in trace.hovertemplate and "%{z:.2f}" in trace.hovertemplate


def test_cells_that_split_pixels_average_them_by_area_and_still_tile_the_film():
    film = np.zeros((301, 203), np.float32)
    heat = _smooth(film.shape, seed=1)
    z, trace = _heatmap(overlay.overlay_figure(film, heat))
    assert z.shape == (101, 68)  # 3 px blocks from 301 px; 101 and 68 cells of ~2.98 px

    def weights(pixels, cells):  # overlap of cell j's span with pixel p's [p, p + 1)
        edges = np.arange(cells + 1) * pixels / cells
        p = np.arange(pixels)
        w = np.clip(np.minimum(edges[1:, None], p + 1) - np.maximum(edges[:-1, None], p), 0, None)
        return w / w.sum(axis=1, keepdims=True)

    expected = weights(301, 101) @ (heat / heat.max()).astype(np.float64) @ weights(203, 68).T
    assert_close(z, expected, atol=1e-6, rtol=0)
    for axis, cells, pixels in (("x", 68, 203), ("y", 101, 301)):
        first, last, step = _spans(trace, cells, axis)
        assert_close([first - step / 2, last + step / 2], [-0.5, pixels - 0.5])


def test_the_floor_is_cut_after_pooling():
    film = np.zeros((256, 256), np.float32)
    checker = (np.indices(film.shape).sum(axis=0) % 2).astype(np.float32)  # half the pixels 0
    z, _ = _heatmap(overlay.overlay_figure(film, checker))
    assert z.shape == (128, 128)
    assert_close(z, 0.5)  # no cell left out for its zero pixels


def test_a_small_films_heatmap_is_sent_unchanged():
    film = np.zeros((100, overlay.HEATMAP_CELLS), np.float32)
    heat = _smooth(film.shape)
    heat[:10] = 0.0  # below FLOOR: left out
    z, trace = _heatmap(overlay.overlay_figure(film, heat))
    h = heat / heat.max()
    np.testing.assert_array_equal(z, np.where(h >= overlay.FLOOR, h, np.nan).astype(np.float32))
    assert trace.x0 is None and trace.dx is None and trace.zsmooth is None


def test_nan_flat_and_partly_nan_heatmaps_draw():
    film = np.zeros((300, 300), np.float32)
    for fill in (np.nan, 0.0):  # nothing to show: every cell left out
        z, _ = _heatmap(overlay.overlay_figure(film, np.full(film.shape, fill, np.float32)))
        assert z.shape == (100, 100) and np.isnan(z).all()
    z, _ = _heatmap(overlay.overlay_figure(film, np.full(film.shape, 3.0, np.float32)))
    assert z.shape == (100, 100)
    assert_close(z, 1.0)
    part = np.ones(film.shape, np.float32)
    part[:150] = np.nan  # NaN reads as no gaze (0), as in the PNG
    z, _ = _heatmap(overlay.overlay_figure(film, part))
    assert np.isnan(z[:50]).all()
    assert_close(z[50:], 1.0)
    overlay.overlay_figure(film, part).to_json()


def test_a_large_films_figure_is_a_fraction_of_the_full_resolution_one():
    film = np.zeros((1024, 1024), np.float32)
    fig = overlay.overlay_figure(film, _smooth(film.shape))
    assert len(fig.to_json()) < 200_000  # full resolution: 4 MiB of float32 before base64


def test_a_film_in_a_row_keys_its_colours_in_a_bar_under_it_not_beside_it():
    film = np.zeros((40, 40), np.float32)
    heat = np.ones((40, 40), np.float32)
    beside = overlay.overlay_figure(film, heat, label="gaze").to_dict()
    assert beside["data"][1]["colorbar"]["len"] == 0.6 and "orientation" not in beside["data"][1]["colorbar"]
    fig = overlay.overlay_figure(film, heat, label="gaze", height=overlay.FILM_MIN, bar_below=True).to_dict()
    bar = fig["data"][1]["colorbar"]
    # the film's full width, anchored at the figure's foot, under a film kept at the figure's top
    assert (bar["orientation"], bar["len"], bar["y"], bar["yanchor"]) == ("h", 1.0, 0.0, "bottom")
    assert bar["title"]["text"] == "gaze" and bar["title"]["side"] == "top"
    assert fig["layout"]["yaxis"]["constraintoward"] == "top" and fig["layout"]["height"] == overlay.FILM_MIN


def test_a_film_rows_height_is_the_columns_width_times_the_films_aspect_plus_the_bar():
    """The browser works the height out from the column's width: no room under a film at any
    window width (three films in 1280 px columns left ~240 px blank under each at 420 px)."""
    square = overlay.film_row_css("xp_films", (256, 256))
    assert ".st-key-xp_films [data-testid='stColumn'] {container-type: inline-size}" in square
    assert f"height: calc(100cqw * 1.0000 + {overlay.BAR_BAND}px) !important" in square
    assert f"calc(100cqw * 1.5000 + {overlay.BAR_BAND}px)" in overlay.film_row_css("xp_films", (300, 200))
