"""The sidebar's 'compare with' model beside the active one on the model pages (Model vs
gaze, Zero-shot, Retrieval, Embeddings).

Pages read the choice through ``state.compare_checkpoint()`` and draw both models with the
helpers here; the maths is in the library (eclip.evaluate.paired, eclip.index.compare).
With the comparison off every helper returns None / draws the page as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eclip.errors import EclipError
from eclip.evaluate.paired import agreement, binary_comparison, multiclass_comparison
from eclip.evaluate.saliency import agreement_metrics, is_flat
from eclip.evaluate.zeroshot import binary_scores, multiclass_scores
from eclip.explain import supported_methods
from eclip.index import IndexMissing, StaleIndex
from eclip.index.compare import most_changed, neighbourhood_change, neighbours_of, procrustes_fit
from eclip.memo import BoundedCache
from eclip.model.checkpoint import checkpoint_name
from eclip.model.encode import encode_prompt_sets, probability_scale

from app import case_source, cases, heavy, index_job, loaders, map_view, paths, state, widgets
from app.overlay import overlay_figure

# k of the neighbourhood change (1 - overlap of the k nearest cases). Between demo-eclip and
# demo-clip, k = 10 left 199 of the 2,000 cases tied at 1.0 (no neighbour in common), so the
# ringed 25 were an arbitrary pick among them; k = 30 leaves 8 at the top (median change 0.63).
NEIGHBOURS = 30
TOP_CHANGED = 25
SHOW_NEIGHBOURS = 8  # of a case picked in the most-changed list, shown under each model
PAIRED = BoundedCache(64, "paired zero-shot comparisons")  # bootstrap: 2.3 s for 2,000 images
CHANGED = BoundedCache(8, "neighbourhood changes")
MAP_CHART = dict(selection_mode=("points", "box", "lasso"), config={"displaylogo": False, "scrollZoom": True})
HIGHLIGHT = dict(size=13, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#111"))


def label(checkpoint: str | Path) -> str:
    """A short name for titles and colour bars: the checkpoint folder (a run's name for
    runs/NAME/final)."""
    return checkpoint_name(checkpoint)


def other_model():
    """(checkpoint, LoadedModel) of the 'compare with' choice, or None when it is off or
    cannot be loaded (then the page says why and goes on with the active model alone)."""
    ck = state.compare_checkpoint()
    if ck is None:
        return None
    try:
        return ck, loaders.load_model(paths.resolve(ck))
    except EclipError as exc:
        state.show_error(exc, "Choose another checkpoint under 'Compare with' in the sidebar.")
        return None


def other_index(checkpoint: str, root: str, need_umap: bool = False):
    """The compare model's index over the same dataset, or None after saying what is
    missing (an admin gets the build button, a visitor the command)."""
    name = label(checkpoint)
    try:
        index = loaders.load_index(paths.resolve(checkpoint), root)
    except (IndexMissing, StaleIndex) as exc:
        st.warning(f"The comparison with **{name}** needs its own embedding index. "
                   f"{index_job.index_problem(exc)}",
                   icon=":material/database:")
        _offer_build(checkpoint, root, need_umap, force=isinstance(exc, StaleIndex))
        return None
    if need_umap and index.umap_image is None:
        st.info(f"The index of **{name}** has no 2-D map yet.", icon=":material/scatter_plot:")
        _offer_build(checkpoint, root, need_umap, force=False)
        return None
    if not loaders.index_matches(index, root):
        st.warning(f"The index of **{name}** does not match this manifest row for row; rebuild "
                   "it with --force to compare.")
        return None
    return index


def _offer_build(checkpoint: str, root: str, umap: bool, force: bool) -> None:
    index_job._offer_index_build(str(paths.resolve(checkpoint)), root, umap=umap, force=force)


def models(checkpoint: str, lm, index, root: str, need_umap: bool = False) -> list[tuple]:
    """[(checkpoint, LoadedModel, index)] of the active model, and of the compare model when
    one is chosen and its index is there (else the page says what is missing)."""
    both = [(checkpoint, lm, index)]
    other = other_model()
    if other is not None:
        idx_b = other_index(other[0], root, need_umap)
        if idx_b is not None:
            both.append((*other, idx_b))
    return both


def panes(models_: list[tuple]) -> list:
    """One full-width container, or one column per model headed by its name and role."""
    if len(models_) == 1:
        return [st.container()]
    cols = st.columns(len(models_), gap="medium")
    for col, (ck, *_), role in zip(cols, models_, ("active", "compare with")):
        col.markdown(f"#### {label(ck)}  \n:gray[{role}]")
    return cols


# --------------------------------------------------------------------------- Model vs gaze
def other_map(other, case, prompt: str, method: str):
    """The compare model's map for the same image, prompt and method (None when the method
    does not apply to its architecture)."""
    _, lm = other
    if method not in supported_methods(lm):
        return None
    slow = method == "integrated_gradients" and not case_source.map_is_cached(lm, case, prompt, method)
    with heavy.heavy_job("Integrated Gradients map", when=slow), \
            st.spinner(f"Computing the map of {label(other[0])}…"):
        return case_source.attribution(lm, case, prompt, method)


def map_column(other, image: np.ndarray, model_map, title: str, colour_label: str,
               opacity: float) -> None:
    """The compare model's map, titled and colour-barred with its name."""
    name = label(other[0])
    st.markdown(f"**{name}: {title}**")
    if model_map is None:
        st.info(f"This method does not apply to {name}'s image tower; pick another method.")
        return
    st.plotly_chart(overlay_figure(image, model_map, opacity=opacity, colour_scale="Jet", height=420,
                                   label=f"{name}: {colour_label}"),
                    key="xp_compare", theme=None, config={"displaylogo": False})
    if is_flat(model_map):
        st.caption(f":orange[{name}'s map is flat: no region raises its similarity to this prompt.]")


def agreement_table(gaze: np.ndarray, maps: dict[str, np.ndarray | None], help_: dict) -> None:
    """One row of agreement metrics with the gaze per model, then active - compare."""
    rows = {name: agreement_metrics(m, gaze) for name, m in maps.items() if m is not None}
    table = pd.DataFrame(rows).T
    table.columns = [c.upper().replace("_", "-") for c in table.columns]
    if len(table) == 2:
        table.loc["difference (active − compare)"] = table.iloc[0] - table.iloc[1]
    st.dataframe(table.round(3), column_config={
        c.upper().replace("_", "-"): st.column_config.NumberColumn(help=h) for c, h in help_.items()})
    st.caption("KL: lower is better; CC, NSS, AUC-Judd: higher is better.")


# --------------------------------------------------------------------------- Zero-shot
def zero_shot(other, root: str, manifest: pd.DataFrame, rows: np.ndarray, ps, prompt_file,
              emb: np.ndarray, class_emb: np.ndarray, index, scale: float) -> None:
    """Both models on the same prompts and images: scores, the paired difference and, where
    labels exist, its paired bootstrap interval. ``scale``: the active model's logit scale
    (each model's pair probabilities are read at its own temperature)."""
    ck, lm = other
    idx_b = other_index(ck, root)
    if idx_b is None:
        return
    with state.eclip_errors("Check the prompts."):
        class_b = (encode_prompt_sets(lm, [ps])[ps.name] if prompt_file is None
                   else loaders.prompt_set_embeddings(paths.resolve(ck), prompt_file)[1])
    df = manifest.iloc[rows].reset_index(drop=True)
    a = _zero_shot_scores(ps, emb, class_emb, scale)
    b = _zero_shot_scores(ps, np.asarray(idx_b.image_emb[rows]), class_b, probability_scale(lm))
    key = (str(index.path), str(idx_b.path), ps, rows.tobytes())
    table = PAIRED.get_or_compute(key, lambda: _paired_table(df, ps, a, b))
    _show_paired(table, label(state.current_checkpoint()), label(ck), agreement(a[0], b[0], a[1], b[1]),
                 ps.task == "binary")


def _zero_shot_scores(ps, emb: np.ndarray, class_emb: np.ndarray,
                      scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, probabilities): argmax classes, or P(positive) > 0.5 per pair."""
    if ps.task == "multiclass":
        return multiclass_scores(emb, class_emb)
    probs = binary_scores(emb, class_emb, scale)
    return probs > 0.5, probs


def _paired_table(df: pd.DataFrame, ps, a, b) -> pd.DataFrame:
    if ps.task == "multiclass":
        return multiclass_comparison(df, ps, a[0], b[0])
    return binary_comparison(df, ps, a[1], b[1])


def _show_paired(table: pd.DataFrame, name_a: str, name_b: str, agree: dict, binary: bool) -> None:
    st.subheader(f"{name_a} vs {name_b}")
    c = st.columns(2)
    c[0].metric("same prediction", f"{agree['same prediction']:.1%}",
                help="Share of images (× pairs) both models give the same answer.")
    c[1].metric("mean |Δ probability|", f"{agree['mean |Δ probability|']:.3f}",
                help="Mean absolute change of each image's probabilities between the models.")
    if table.empty:
        st.info("No case of this split has a label these prompts match, so there is no "
                "accuracy to compare: only the agreement above.")
        return
    shown = table.rename(columns={"active": name_a, "compare": name_b,
                                  "difference": f"Δ ({name_a} − {name_b})",
                                  "ci_low": "95% CI low", "ci_high": "95% CI high"})
    st.dataframe(shown.round(3), hide_index=True)
    what = ("AUROC per pair and their mean" if binary
            else "Accuracy and macro-F1 over the cases with one target class")
    st.caption(f"{what}. Paired bootstrap (1,000 resamples of the images, both models scored on each): "
               "an interval that excludes 0 is a difference these images support. Empty where a "
               "pair has no label or lacks a class.")


# --------------------------------------------------------------------------- Embeddings
def aligned_map(index, idx_b) -> tuple[np.ndarray, np.ndarray, float]:
    """The compare model's image and report coordinates moved onto the active map
    (Procrustes on the images), and the fit's relative residual."""
    fit = procrustes_fit(np.asarray(idx_b.umap_image), np.asarray(index.umap_image))
    return fit.apply(idx_b.umap_image), fit.apply(idx_b.umap_text), fit.residual


def changed_cases(index, idx_b) -> np.ndarray:
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
                         selection_mode="multi-row", height=240)
    return table["id"].iloc[event.selection.rows].tolist() if event else []
