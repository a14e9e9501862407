"""The Zero-shot page's charts as the browser gets them: app.render.zero_shot_charts builds them
without Plotly's validation, so each is compared here with the validating construction it
replaced (go.Figure, go.Bar / go.Heatmap, update_layout), kept below as the reference."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest

from app.render.zero_shot_charts import confusion_figure, probability_bars


def _sent(fig: go.Figure) -> dict:
    """What st.plotly_chart sends for ``fig``, parsed."""
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return json.loads(pio.to_json(figure, validate=False))


def _validated_confusion(cm: np.ndarray, names: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=cm.tolist(), x=names, y=names, colorscale="Blues", text=cm.tolist(),
                               texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}<br>predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=120 + 45 * len(names), margin=dict(l=0, r=0, t=10, b=0),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return fig


def _validated_bars(p: np.ndarray, names, axis: str, title: str = "") -> go.Figure:
    fig = go.Figure(go.Bar(x=p, y=names, orientation="h", text=[f"{v:.2f}" for v in p],
                           textposition="outside", cliponaxis=False,
                           marker_color=["#d62728" if k == p.argmax() else "#9ab"
                                         for k in range(len(names))]))
    fig.update_layout(height=60 + 36 * len(names) + (24 if title else 0),
                      margin=dict(l=0, r=40, t=34 if title else 10, b=0),
                      title=dict(text=title, font=dict(size=14)) if title else None,
                      xaxis=dict(range=[0, 1], title=axis), yaxis_autorange="reversed")
    return fig


NAMES = ["No Finding", "pleural effusion", "cardio<megaly> & {x}", "pneumothorax"]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_confusion_matrix_sent_is_the_validated_ones(n):
    cm = np.random.default_rng(n).integers(0, 50, (n, n))
    assert _sent(confusion_figure(cm, NAMES[:n])) == _sent(_validated_confusion(cm, NAMES[:n]))


@pytest.mark.parametrize("title", ["", "demo-eclip (active)", "run <b>b</b> (compare with)"])
@pytest.mark.parametrize("p", [np.array([0.1, 0.5, 0.3, 0.1]), np.array([0.25, 0.25, 0.25, 0.25]),
                               np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)])
def test_the_bars_sent_are_the_validated_ones(p, title):
    axis = "probability (softmax at the model's learned temperature, T = 1/14.3)"
    assert _sent(probability_bars(p, NAMES, axis, title)) == _sent(_validated_bars(p, NAMES, axis, title))


def test_the_largest_bar_is_red_and_its_probability_written():
    bar = _sent(probability_bars(np.array([0.2, 0.7, 0.1]), NAMES[:3], "P"))["data"][0]
    assert bar["marker"]["color"] == ["#9ab", "#d62728", "#9ab"]
    assert bar["text"] == ["0.20", "0.70", "0.10"]


def test_a_figure_does_not_share_its_colour_scale_with_the_next():
    first = confusion_figure(np.eye(2, dtype=int), NAMES[:2])
    first.data[0].colorscale = [[0, "red"], [1, "blue"]]
    again = _sent(confusion_figure(np.eye(2, dtype=int), NAMES[:2]))
    assert again == _sent(_validated_confusion(np.eye(2, dtype=int), NAMES[:2]))
