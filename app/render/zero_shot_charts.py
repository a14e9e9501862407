"""The Zero-shot page's charts: the confusion matrix and a bar per class or pair with its
probability. Built from plain dicts without Plotly's per-property validation, which was most
of a chart's server time on every prompt edit; what is sent is the same as the validated
construction's (tests/app/render/test_zero_shot_charts.py)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

ARGMAX, OTHER = "#d62728", "#9ab"


def confusion_figure(cm: np.ndarray, names: list[str]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes, each cell's count written in it."""
    counts = cm.tolist()
    heat = dict(type="heatmap", z=counts, x=list(names), y=list(names), colorscale="Blues", text=counts,
                texttemplate="%{text}", showscale=False,
                hovertemplate="true %{y}<br>predicted %{x}: %{z}<extra></extra>")
    layout = dict(height=120 + 45 * len(names), margin=dict(l=0, r=0, t=10, b=0),
                  xaxis=dict(title=dict(text="predicted")),
                  yaxis=dict(title=dict(text="true"), autorange="reversed"))
    return go.Figure(data=[_named_colourscale(heat)], layout=layout, _validate=False)


def probability_bars(p: np.ndarray, names, axis: str, title: str = "") -> go.Figure:
    """One bar per class or pair, its probability written beside it, the largest in red."""
    top = p.argmax()
    bar = dict(type="bar", x=p, y=list(names), orientation="h", text=[f"{v:.2f}" for v in p],
               textposition="outside", cliponaxis=False,
               marker=dict(color=[ARGMAX if k == top else OTHER for k in range(len(names))]))
    layout = dict(height=60 + 36 * len(names) + (24 if title else 0),
                  margin=dict(l=0, r=40, t=34 if title else 10, b=0),
                  # {} for no title: what the validating layout update made of title=None
                  title=dict(text=title, font=dict(size=14)) if title else {},
                  xaxis=dict(range=[0, 1], title=dict(text=axis)), yaxis=dict(autorange="reversed"))
    return go.Figure(data=[bar], layout=layout, _validate=False)


def _named_colourscale(trace: dict) -> dict:
    """``trace`` with its named colour scale as the stops Plotly's validator expands the name to
    (an unvalidated figure would send the name: drawn alike, but another figure)."""
    name = trace["colorscale"]
    if name not in _STOPS:
        _STOPS[name] = [list(s) for s in go.Heatmap(colorscale=name).colorscale]
    return {**trace, "colorscale": [list(s) for s in _STOPS[name]]}


_STOPS: dict[str, list] = {}
