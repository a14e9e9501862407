"""Embeddings: the 2-D UMAP map of every image and report of the dataset under the active
model. Select points (click, box or lasso) to see those cases; the geometry numbers say how
well images and their reports line up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eclip.evaluate.metrics import alignment, modality_gap, uniformity

from app import cases, compare, index_job, loaders, map_view, state, widgets

COLOUR_BY = ("finding", "split", "gaze")
GEOMETRY_MAX = 2000  # uniformity is O(N^2): measured on a seeded subsample beyond this
LEGEND = dict(orientation="h", x=0, xanchor="left", y=-0.02, yanchor="top", itemsizing="constant")


def _colour_values(df: pd.DataFrame, by: str) -> pd.Series:
    if by == "split":
        return df["split"].replace("", "none")
    if by == "gaze":
        return cases.has_gaze(df).map({True: "with gaze", False: "without gaze"})
    return cases.primary_finding(df)


def _figure(df: pd.DataFrame, xy: np.ndarray, text_xy: np.ndarray | None, by: str) -> go.Figure:
    fig = go.Figure()
    values = _colour_values(df, by)
    groups = sorted(values.unique())
    colour = cases.group_colours(groups)
    counts, ids, group_of = values.value_counts(), df["id"].to_numpy(), values.to_numpy()
    drawn = map_view.drawn_images(group_of)  # a per-colour sample beyond 30,000 points
    drawn_values = group_of[drawn]
    for group in groups:
        rows = drawn[drawn_values == group]
        fig.add_trace(go.Scattergl(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"{group} ({counts[group]})",
            customdata=ids[rows],
            marker=dict(size=6, opacity=0.8, color=colour[group]),
            hovertemplate="%{customdata}<extra>" + group + "</extra>"))
    if text_xy is not None:
        text_xy = text_xy[map_view.drawn_texts(len(text_xy))]
        fig.add_trace(go.Scattergl(
            x=text_xy[:, 0], y=text_xy[:, 1], mode="markers", name="reports (text)",
            marker=dict(size=5, symbol="x", color="rgba(90,90,90,0.55)"), hoverinfo="skip"))
    # The legend goes below the map: on the right it ran under the toolbar (modebar), which
    # plotly pins to the figure's top-right corner.
    fig.update_layout(height=640, margin=dict(l=0, r=0, t=30, b=0), dragmode="lasso",
                      legend=LEGEND, xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def _geometry(index) -> None:
    n = len(index)
    rows = np.arange(n)
    if n > GEOMETRY_MAX:
        rows = np.sort(np.random.default_rng(0).choice(n, GEOMETRY_MAX, replace=False))
    img = np.asarray(index.image_emb[rows])
    paired = np.asarray(index.text_emb)[index.text_index[rows]]
    c = st.columns(4)
    c[0].metric("images / unique reports", f"{n} / {len(index.texts)}")
    c[1].metric("modality gap", f"{modality_gap(img, np.asarray(index.text_emb)):.3f}",
                help="Distance between the centres of the image and text clouds.")
    c[2].metric("alignment", f"{alignment(img, paired):.3f}",
                help="Mean squared distance image ↔ its own report (lower is better).")
    c[3].metric("uniformity (images)", f"{uniformity(img):.3f}",
                help="log mean exp(-2‖x−y‖²) over image pairs (lower is more spread out).")
    if n > GEOMETRY_MAX:
        st.caption(f"Geometry measured on a seeded sample of {GEOMETRY_MAX} images.")


st.title("Embeddings")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root, need_umap=True)
if not loaders.index_matches(index, root):
    st.error("The index rows do not match this manifest; rebuild it with --force.")
    st.stop()
_geometry(index)

c1, c2 = st.columns([2, 1])
by = c1.radio("Colour images by", COLOUR_BY, horizontal=True, key="emb_colour")
show_text = c2.toggle("Show reports (text points)", value=True, key="emb_text",
                      help="Images and reports share one map: the distance between the two "
                           "clouds is the modality gap.")
models = compare.models(checkpoint, lm, index, root, need_umap=True)
if len(models) == 1:
    fig = _figure(manifest, np.asarray(index.umap_image), np.asarray(index.umap_text) if show_text
                  else None, by)
    event = st.plotly_chart(fig, key="umap", on_select="rerun", **compare.MAP_CHART)
    picked = map_view.picked_ids(event, manifest["id"], np.asarray(index.umap_image))
    if note := map_view.thinned_note(len(manifest), len(index.texts) if show_text else None):
        st.caption(note)
else:  # both models' maps aligned, the cases whose neighbourhoods changed most ringed and listed
    picked = compare.embedding_maps(models, root, manifest, by, show_text, _figure)
if not picked:
    st.caption("Select points (click, box or lasso) to see the cases behind them.")
    st.stop()
selected = manifest[manifest["id"].isin(set(picked))]
st.subheader(f"{len(selected)} selected case(s)")
counts = cases.primary_finding(selected).value_counts()
st.bar_chart(counts, horizontal=True, height=max(120, 28 * len(counts)))
widgets.case_gallery(root, selected, columns=6)
