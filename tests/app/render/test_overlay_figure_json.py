"""The film figure as the browser gets it: overlay_figure builds it from plain dicts without
Plotly's validation (a server-time saving), so these pin what is sent.

overlay_figure_golden.json holds, per representative figure, what st.plotly_chart sends (the
figure's to_dict() as JSON) with the arrays and the film's PNG taken out; it was written by the
validating construction (go.Figure, go.Heatmap, update_xaxes/yaxes/layout) that this one
replaced, so matching it means the same figure. The arrays are checked against values worked
out here; and Plotly's validation, run on each figure, changes nothing in it. Rewrite the file
after a deliberate change with ``python tests/app/render/test_overlay_figure_json.py --write``.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image
from plotly.utils import PlotlyJSONEncoder

from floats import assert_close

from app.render import overlay

GOLDEN = Path(__file__).with_name("overlay_figure_golden.json")
SIDE = (72, 56)  # under HEATMAP_CELLS: the heatmap is sent pixel for pixel
POOLED = (256, 190)  # over it: 2 px blocks, 128 x 95 cells


def _film(shape=SIDE) -> np.ndarray:
    return np.random.default_rng(1).random(shape, dtype=np.float32)


def _heat(shape=SIDE) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    h = np.exp(-((yy - shape[0] / 3) ** 2 + (xx - shape[1] / 2) ** 2) / 300.0).astype(np.float32)
    h[:3, :4] = np.nan  # a NaN pixel reads as no gaze
    return 3.0 * h


def _masks() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[:SIDE[0], :SIDE[1]]
    return {"Pleural Effusion": yy > 50, "Cardiomegaly": (abs(yy - 36) < 10) & (abs(xx - 28) < 12)}


def _presenter(fig: go.Figure) -> go.Figure:
    """What the presenter page does to a figure afterwards (app/views/presenter.py)."""
    fig.update_traces(showscale=False, selector={"type": "heatmap"})
    fig.add_annotation(text="<b>Radiologist gaze</b><br>CC with the gaze 0.50", showarrow=False,
                       xref="x domain", yref="y domain", x=0.0, y=1.0, xanchor="left", yanchor="top",
                       align="left", font={"color": "white", "size": 15}, bgcolor="rgba(0,0,0,0.6)", borderpad=4)
    return fig


# name -> (film shape, heatmap?, masks?, keyword arguments, presenter's changes?): the pages' calls.
CASES = {
    "film only (upload viewer)": (SIDE, False, False, {}, False),
    "film only, shorter": (SIDE, False, False, {"height": 300}, False),
    **{f"gaze in {scale}": (SIDE, True, False, {"opacity": 0.65, "colour_scale": scale}, False)
       for scale in overlay.COLOUR_SCALES},
    "model map (Model vs gaze)": (SIDE, True, False, {"colour_scale": "Jet", "height": 420, "label": "Grad-CAM"},
                                  False),
    "compare model's map": (SIDE, True, False, {"colour_scale": "Jet", "height": 420,
                                                "label": "run-b: {attention} <i>rollout</i>"}, False),
    "gaze and outlines (Case browser)": (SIDE, True, True, {"opacity": 0.65}, False),
    "outlines only": (SIDE, False, True, {}, False),
    "pooled heatmap": (POOLED, True, False, {"colour_scale": "Viridis"}, False),
    "presenter": (SIDE, True, True, {"opacity": 0.6, "colour_scale": "Turbo", "height": 380}, True),
}


def _figure(name: str) -> tuple[go.Figure, np.ndarray, np.ndarray | None, dict | None]:
    shape, heat, masks, kwargs, presenter = CASES[name]
    film, h, m = _film(shape), _heat(shape) if heat else None, _masks() if masks else None
    fig = overlay.overlay_figure(film, h, masks=m, **kwargs)
    return (_presenter(fig) if presenter else fig), film, h, m


def _sent(fig: go.Figure) -> dict:
    """What st.plotly_chart sends: plotly.io.to_json(fig.to_dict(), validate=False), parsed."""
    return json.loads(pio.to_json(fig.to_dict(), validate=False))


def _typed_array(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"]).reshape(
        [int(n) for n in str(spec["shape"]).split(",")])


def _structure(sent: dict) -> dict:
    """``sent`` with each array as its dtype and shape, the PNG and Plotly's default template as markers."""
    def strip(x):
        if isinstance(x, dict) and "bdata" in x:
            return {"dtype": x["dtype"], "shape": x["shape"]}
        if isinstance(x, dict):
            return {k: "<png>" if k == "source" else strip(v) for k, v in x.items()}
        return [strip(v) for v in x] if isinstance(x, list) else x
    out = strip(sent)
    default = pio.templates[pio.templates.default].to_plotly_json()
    assert out["layout"]["template"] == json.loads(json.dumps(default, cls=PlotlyJSONEncoder))
    out["layout"]["template"] = "<default>"  # "plotly", or "streamlit" once streamlit is imported
    return out


def _same(actual, expected, where: str = "") -> None:
    """Equal structure, equal strings and flags; numbers within assert_close's tolerance."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for k in expected:
            _same(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            _same(a, e, f"{where}[{i}]")
    elif isinstance(expected, (bool, str)) or expected is None:
        assert type(actual) is type(expected) and actual == expected, (where, actual, expected)
    else:
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), where
        assert_close(actual, expected, atol=1e-9, err_msg=where)


@pytest.mark.parametrize("name", list(CASES))
def test_the_figure_sent_matches_the_validated_construction(name):
    fig, *_ = _figure(name)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    _same(_structure(_sent(fig)), golden[name], name)


@pytest.mark.parametrize("name", list(CASES))
def test_plotly_validation_changes_nothing_in_the_figure(name):
    fig, *_ = _figure(name)
    assert _sent(go.Figure(fig.to_dict())) == _sent(fig)  # go.Figure validates every property


@pytest.mark.parametrize("name", ["gaze and outlines (Case browser)", "pooled heatmap"])
def test_the_arrays_sent_are_the_film_the_heatmap_and_the_masks(name):
    fig, film, heat, masks = _figure(name)
    data = _sent(fig)["data"]
    png = Image.open(io.BytesIO(base64.b64decode(data[0]["source"].split(",", 1)[1])))
    assert np.array_equal(np.asarray(png), np.clip(film * 255 + 0.5, 0, 255).astype(np.uint8))
    h = np.nan_to_num(heat, nan=0.0) / np.nanmax(heat)
    if heat.shape == POOLED:  # 2 x 2 pixel blocks, each cell their mean
        h = h.reshape(heat.shape[0] // 2, 2, heat.shape[1] // 2, 2).mean(axis=(1, 3))
    assert_close(_typed_array(data[1]["z"]), np.where(h >= overlay.FLOOR, h, np.nan), atol=1e-6)
    for trace, mask in zip(data[2:], (masks or {}).values()):
        assert np.array_equal(_typed_array(trace["z"]), mask.astype(np.float32))


def _write() -> None:
    GOLDEN.write_text(json.dumps({name: _structure(_sent(_figure(name)[0])) for name in CASES}, indent=1) + "\n",
                      encoding="utf-8")


if __name__ == "__main__" and "--write" in sys.argv:
    _write()
