"""Embeddings with a second model: both maps side by side, the second aligned onto the
first, and the cases whose neighbourhood changed most between the two.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components import widgets
from app.components.compare.side_by_side import label, panes
from app.core import cases
from app.render import map_view
from app.render.map_view import MAP_CHART
from eclip.index.compare import most_changed, neighbourhood_change, neighbours_of, procrustes_fit
from eclip.index.store import EmbeddingIndex
from eclip.memo import BoundedCache


# k of the neighbourhood change (1 - overlap of the k nearest cases). Too small a k ties many
# cases at 1.0 (no neighbour in common) and the ringed 25 become an arbitrary pick among them:
# on data/demo the shipped ResNet pair ties 635 cases at k = 10, 30 at k = 30, 4 at k = 50
# (median change 0.78); the ViT pair before it tied 8 at k = 30.
NEIGHBOURS = 50
TOP_CHANGED = 25
SHOW_NEIGHBOURS = 8  # of a case picked in the most-changed list, shown under each model
CHANGED = BoundedCache(8, "neighbourhood changes")
HIGHLIGHT = dict(size=13, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#111"))


def aligned_map(index: EmbeddingIndex, idx_b) -> tuple[np.ndarray, np.ndarray, float]:
    """The compare model's image and report coordinates moved onto the active map
    (Procrustes on the images), and the fit's relative residual."""
    fit = procrustes_fit(np.asarray(idx_b.umap_image), np.asarray(index.umap_image))
    return fit.apply(idx_b.umap_image), fit.apply(idx_b.umap_text), fit.residual


def changed_cases(index: EmbeddingIndex, idx_b) -> np.ndarray:
    """[N] neighbourhood change of every case between the two embedding spaces (cached)."""
    key = (str(index.path), str(idx_b.path), NEIGHBOURS)
    return CHANGED.get_or_compute(key, lambda: neighbourhood_change(
        index.image_emb, idx_b.image_emb, k=NEIGHBOURS))


def embedding_maps(models_: list[tuple], root: str, manifest: pd.DataFrame, by: str,
                   show_text: bool, figure) -> list[str]:
    """Both models' maps side by side, the compare one aligned onto the active one, the most
    changed cases ringed on both and listed; returns the ids selected on either map or in
    the list. ``figure(manifest, xy, text_xy, by)`` draws one map (the page's own)."""
    (ck_a, _, idx_a), (ck_b, _, idx_b) = models_
    xy_b, text_b, residual = aligned_map(idx_a, idx_b)
    change = changed_cases(idx_a, idx_b)
    top, ids = most_changed(change, TOP_CHANGED), manifest["id"].to_numpy()
    maps = [(np.asarray(idx_a.umap_image), np.asarray(idx_a.umap_text)), (xy_b, text_b)]
    picked = []
    for pane, ck, (xy, text_xy), key in zip(panes(models_), (ck_a, ck_b), maps, ("umap", "umap_compare")):
        fig = highlight(figure(manifest, xy, text_xy if show_text else None, by), xy, ids, top)
        fig.update_layout(title=dict(text=f"{label(ck)}: UMAP of images and reports", x=0),
                          margin=dict(t=40))
        with pane:
            picked += map_view.picked_ids(st.plotly_chart(fig, key=key, on_select="rerun", **MAP_CHART),
                                          ids, xy)
    if note := map_view.thinned_note(len(manifest), len(idx_a.texts) if show_text else None):
        st.caption(note)
    st.caption(f"{label(ck_b)}'s map is rotated, scaled and shifted onto {label(ck_a)}'s (Procrustes "
               f"fit of its image points; {residual:.0%} of the spread is left over, as the two "
               f"layouts differ). Ringed: the {len(top)} cases whose {NEIGHBOURS} nearest cases "
               "changed most between the two models' image embeddings (change = 1 − overlap of "
               f"the two neighbour sets; mean over all cases {np.nanmean(change):.2f})."
               + _sampled_note(change))
    chosen = changed_table(manifest, change, top)
    if chosen:
        neighbours_side_by_side(models_, root, manifest, chosen[0])
    return picked + chosen


def _sampled_note(change: np.ndarray) -> str:
    measured = int(np.count_nonzero(~np.isnan(change)))
    if measured == len(change):
        return ""
    return (f" Neighbourhoods measured within a seeded sample of {measured:,} of the "
            f"{len(change):,} cases (exact kNN over all of them grows as N²).")


def neighbours_side_by_side(models_: list[tuple], root: str, manifest: pd.DataFrame,
                            case_id: str) -> None:
    """One case's nearest cases under each model; the ones both models share are marked."""
    row = int(np.flatnonzero(manifest["id"].to_numpy() == case_id)[0])
    near = [neighbours_of(idx.image_emb, row, SHOW_NEIGHBOURS) for _, _, idx in models_]
    shared = set(near[0]) & set(near[1])
    st.markdown(f"**{case_id}: its {SHOW_NEIGHBOURS} nearest cases under each model** "
                f"({len(shared)} in common)")
    for pane, rows in zip(panes(models_), near):
        with pane:
            widgets.case_gallery(root, manifest.iloc[rows], columns=4, limit=SHOW_NEIGHBOURS,
                                 captions=["in both" if r in shared else "only here" for r in rows])


def highlight(fig: go.Figure, xy: np.ndarray, ids: np.ndarray, top: np.ndarray) -> go.Figure:
    """Ring the most changed cases (selectable like every other point)."""
    fig.add_trace(go.Scatter(
        x=xy[top, 0], y=xy[top, 1], mode="markers", customdata=ids[top], marker=HIGHLIGHT,
        name=f"most changed neighbourhoods ({len(top)})",
        hovertemplate="%{customdata}<extra>neighbourhood changed</extra>"))
    return fig


def changed_table(manifest: pd.DataFrame, change: np.ndarray, top: np.ndarray) -> list[str]:
    """The most changed cases as a selectable table; returns the ids of the selected rows."""
    st.markdown("**Most changed neighbourhoods** (select rows to see the cases)")
    table = pd.DataFrame({"id": manifest["id"].to_numpy()[top],
                          "finding": cases.primary_finding(manifest).to_numpy()[top],
                          "neighbourhood change": change[top].round(2)})
    event = st.dataframe(table, hide_index=True, key="emb_changed", on_select="rerun",
                         selection_mode="multi-row", height=240, column_config={
                             "neighbourhood change": st.column_config.NumberColumn(
                                 format="%.2f", help="1 − overlap of the case's nearest cases in the two "
                                                     "models' image embeddings: 1.00, none in common")})
    return table["id"].iloc[event.selection.rows].tolist() if event else []
