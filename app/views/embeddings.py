"""Embeddings: the 2-D UMAP map of every image and report of the dataset under the active
model. Select points (click, box or lasso) to see those cases; the geometry numbers say how
well images and their reports line up."""

from __future__ import annotations

import numpy as np
import streamlit as st
from typing import TYPE_CHECKING

from app.core import cases
from app.render import map_view
from app.components import index_job, loaders, model_reads, state, widgets
from app.components.compare import map_changes, side_by_side

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex


def _geometry(index: EmbeddingIndex) -> None:
    geo = loaders.index_geometry(index)
    c = st.columns(5)  # one number each: "200000 / 192889" in one metric was cut off
    c[0].metric("images", f"{len(index):,}")
    c[1].metric("unique reports", f"{len(index.texts):,}")
    c[2].metric("modality gap", f"{geo['modality gap']:.3f}",
                help="Distance between the centres of the image and text clouds.")
    c[3].metric("alignment", f"{geo['alignment']:.3f}",
                help="Mean squared distance image ↔ its own report (lower is better).")
    c[4].metric("uniformity (images)", f"{geo['uniformity (images)']:.3f}",
                help="log mean exp(-2‖x−y‖²) over image pairs (lower is more spread out).")
    if geo["sample"] < len(index):
        st.caption(f"Geometry measured on a seeded sample of {geo['sample']:,} images.")


st.title("Embeddings")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root, need_umap=True)
if not loaders.index_matches(index, root):
    st.error("The index rows do not match this manifest; rebuild it with --force.")
    st.stop()
_geometry(index)

c1, c2 = st.columns([2, 1])
by = c1.radio("Colour images by", map_view.COLOUR_BY, horizontal=True, key="emb_colour")
show_text = c2.toggle("Show reports (text points)", value=True, key="emb_text",
                      help="Images and reports share one map: the distance between the two "
                           "clouds is the modality gap.")
models = side_by_side.models(checkpoint, lm, index, root, need_umap=True)
if len(models) == 1:
    fig = map_view.figure(manifest, np.asarray(index.umap_image), np.asarray(index.umap_text) if show_text
                  else None, by)
    event = st.plotly_chart(fig, key="umap", on_select="rerun", **map_view.MAP_CHART)
    picked = map_view.picked_ids(event, manifest["id"], np.asarray(index.umap_image))
    if note := map_view.thinned_note(len(manifest), len(index.texts) if show_text else None):
        st.caption(note)
else:  # both models' maps aligned, the cases whose neighbourhoods changed most ringed and listed
    picked = map_changes.embedding_maps(models, root, manifest, by, show_text, map_view.figure)
model_reads.stated()
if not picked:
    st.caption("Select points (click, box or lasso) to see the cases behind them.")
    st.stop()
selected = manifest[manifest["id"].isin(set(picked))]
st.subheader(f"{len(selected)} selected case(s)")
counts = cases.primary_finding(selected).value_counts()
st.plotly_chart(map_view.counts_figure(counts), config={"displayModeBar": False})
widgets.case_gallery(root, selected, columns=6)
