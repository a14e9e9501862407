"""Retrieval: a typed report sentence finds the closest images, and an image finds the
closest report texts, under the active model (cosine similarity over the cached index).
Each score is also read as a percentile of the index's true image-report pairs, so a hit
that is far from everything says so ("no close match") instead of looking confident."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from eclip.index.calibration import Verdict, judge_hits
from eclip.index.store import EmbeddingIndex, rank_of, top_k

from app.core import paths
from app.components import index_job, loaders, model_reads, state, widgets
from app.components.compare import side_by_side
from app.components.case import current_case, loader, picker
from eclip.model.checkpoint import LoadedModel

MODES = ("Text → images", "Image → reports")


def _split_rows(manifest: pd.DataFrame, split: str) -> np.ndarray:
    if split == "all":
        return np.arange(len(manifest))
    return np.flatnonzero(manifest["split"].to_numpy() == split)


def _text_query() -> str:
    query = st.text_input("Report sentence", key="ret_query",
                          value="Small left pleural effusion.")
    if not query.strip():
        st.stop()
    return query.strip()


def _text_to_images(root: str, checkpoint: str, index: EmbeddingIndex, manifest: pd.DataFrame,
                    rows: np.ndarray, k: int, query: str, columns: int = 5) -> None:
    q = loaders.encode_texts(checkpoint, [query])
    scores = index.image_text_scores(q, rows)[:, 0]
    top = top_k(scores, k)
    hits = manifest.iloc[rows[top]]
    with state.eclip_errors():
        verdict = judge_hits(index, scores[top], q[0])
    _explain(verdict, "image")
    st.caption(f"Top {len(hits)} of {len(rows)} images by cosine similarity.")
    widgets.case_gallery(root, hits, columns=columns, limit=k, captions=[
        f"similarity {scores[i]:.3f} · percentile {p:.0f}"
        for i, p in zip(top, verdict.percentiles)])


def _explain(verdict: Verdict, kind: str) -> None:
    """The "no close match" warning when it applies, and the scale the percentiles use."""
    cal = verdict.calibration
    if not verdict.like_reports:
        st.warning(f"**No close match.** This query is unlike every report of this index: "
                   f"text similarity {verdict.nearest_report:.3f} to the nearest one, while "
                   f"{100 - cal.novel_percentile:.0f}% of the reports have another report above "
                   f"{cal.novel_floor:.3f}. The model cannot place it: the {kind}s below are the "
                   "nearest by a score that means little here.", icon=":material/search_off:")
    elif not verdict.close:
        st.warning(f"**No close match.** The best {kind} scores {verdict.best:.3f}: farther "
                   f"apart than {100 - cal.floor_percentile:.0f}% of this index's images are "
                   f"from their own report. The {kind}s below are the nearest, not matches.",
                   icon=":material/search_off:")
    text_check = ""
    if verdict.nearest_report is not None and cal.novel_floor is not None:
        text_check = (f" So is a query whose nearest report has text similarity below "
                      f"{cal.novel_floor:.3f} (this one: {verdict.nearest_report:.3f}).")
    st.caption(f"Percentile: where a similarity falls among the {len(cal.matched):,} true "
               "image-report pairs of this index (each image with its own report); 50 is as "
               "close as a typical report is to its own image. Below percentile "
               f"{cal.floor_percentile:.0f} (similarity < {cal.floor:.3f}) is no close match."
               + text_check)


def _query_image(root: str, manifest: pd.DataFrame, case) -> None:
    if case.is_upload:
        st.image(case.pixels, width="stretch", clamp=True)
        st.caption(f"**{current_case.UPLOAD_ID}** · no report of its own")
    else:
        widgets.case_gallery(root, manifest.loc[[case.row.name]], columns=1)


def _nearest_cases(root: str, index: EmbeddingIndex, manifest: pd.DataFrame, rows: np.ndarray, case,
                   query: np.ndarray, k: int) -> None:
    """The dataset images closest to the query image (itself left out)."""
    top, sims = index.nearest_images(query, rows, k, None if case.is_upload else index.row_of(case.id))
    st.markdown("**Nearest cases** (image embeddings, cosine similarity)")
    widgets.case_gallery(root, manifest.iloc[rows[top]], columns=5, limit=k,
                         captions=[f"similarity {sims[i]:.3f}" for i in top])


def _query_case(root: str, manifest: pd.DataFrame, rows: np.ndarray):
    ids = manifest["id"].to_numpy()[rows].tolist()
    case_id = picker.select(st, ids, "ret_case", "Query image", manifest=manifest,
                                 scope="the Split box above leaves it out")
    with state.eclip_errors("Upload the image again on the Case browser, or pick a case."):
        return loader.load(root, manifest, case_id)


def _image_to_reports(root: str, lm: LoadedModel, index: EmbeddingIndex, manifest: pd.DataFrame, rows: np.ndarray,
                      k: int, case, show_query: bool = True) -> None:
    query = loader.embedding(lm, index, case)
    left, right = st.columns([1, 2.2], gap="large") if show_query else (None, st.container())
    if show_query:
        with left:
            _query_image(root, manifest, case)
    own = None if case.is_upload else index.report_of(case.id)
    sims = index.text_scores(query)
    top = top_k(sims, k)
    with right:
        if own is not None:
            rank_of_own = rank_of(sims, own)
            st.metric("rank of this image's own report", f"{rank_of_own} of {len(sims)}")
        with state.eclip_errors():
            verdict = judge_hits(index, sims[top])
        _explain(verdict, "report")
        table = pd.DataFrame({
            "rank": np.arange(1, len(top) + 1),
            "similarity": sims[top].round(4),
            "percentile": verdict.percentiles.round(0).astype(int),
            "own report": [t == own for t in top],
            "report text": [index.texts[t] for t in top],
        })
        st.dataframe(table, hide_index=True, column_config={
            "percentile": st.column_config.NumberColumn(
                width="small", help="Among this index's true image-report pairs."),
            "own report": st.column_config.CheckboxColumn(width="small"),
            "report text": st.column_config.TextColumn(width="large")})
    _nearest_cases(root, index, manifest, rows, case, query, k)


st.title("Retrieval")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root)
if not loaders.index_matches(index, root):
    st.error("The index rows do not match this manifest; rebuild it with --force.")
    st.stop()
c1, c2, c3 = st.columns([2, 1, 1])
mode = c1.radio("Direction", MODES, horizontal=True, key="ret_mode")
splits = ["all"] + sorted(s for s in manifest["split"].unique() if s)
split = c2.selectbox("Split", splits, key="ret_split")
k = c3.slider("Results", 1, 50, 10, key="ret_k")
rows = _split_rows(manifest, split)
if rows.size == 0:
    st.info("That split has no cases.")
    st.stop()
models = side_by_side.models(checkpoint, lm, index, root)  # + the 'compare with' model
alone = len(models) == 1
if mode == MODES[0]:
    query = _text_query()
    model_reads.stated()
    for pane, (ck, _, idx) in zip(side_by_side.panes(models), models):
        with pane:
            _text_to_images(root, ck, idx, manifest, rows, k, query, columns=5 if alone else 3)
else:
    case = _query_case(root, manifest, rows)
    model_reads.stated(case)
    if not alone:  # one query image above both models' results
        with st.columns([1, 3])[0]:
            _query_image(root, manifest, case)
    for pane, (_ck, model, idx) in zip(side_by_side.panes(models), models):
        with pane:
            _image_to_reports(root, model, idx, manifest, rows, k, case, show_query=alone)
st.caption(f"Model `{paths.visitor_label(checkpoint)}` · index `{index.path.name}`")
