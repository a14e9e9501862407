"""Retrieval: a typed report sentence finds the closest images, and an image finds the
closest report texts, under the active model (cosine similarity over the cached index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import index_job, loaders, paths, state, widgets

MODES = ("Text → images", "Image → reports")


def _split_rows(manifest: pd.DataFrame, split: str) -> np.ndarray:
    if split == "all":
        return np.arange(len(manifest))
    return np.flatnonzero(manifest["split"].to_numpy() == split)


def _text_to_images(root: str, checkpoint: str, index, manifest: pd.DataFrame,
                    rows: np.ndarray, k: int) -> None:
    query = st.text_input("Report sentence", key="ret_query",
                          value="Small left pleural effusion.")
    if not query.strip():
        st.stop()
    q = loaders.encode_texts(checkpoint, [query.strip()])
    scores = index.image_text_scores(q, rows)[:, 0]
    top = np.argsort(-scores, kind="stable")[:k]
    hits = manifest.iloc[rows[top]]
    st.caption(f"Top {len(hits)} of {len(rows)} images by cosine similarity.")
    widgets.case_gallery(root, hits, columns=5, limit=k,
                         captions=[f"similarity {scores[i]:.3f}" for i in top])


def _image_to_reports(root: str, index, manifest: pd.DataFrame, rows: np.ndarray,
                      k: int) -> None:
    ids = manifest["id"].to_numpy()[rows].tolist()
    preferred = st.session_state.get("current_case")
    case_id = st.selectbox("Query image", ids, key="ret_case",
                           index=ids.index(preferred) if preferred in ids else 0)
    row = index.row_of(case_id)
    left, right = st.columns([1, 2.2], gap="large")
    with left:
        widgets.case_gallery(root, manifest.iloc[[row]], columns=1)
    own = int(index.text_index[row])
    sims = np.asarray(index.text_emb) @ np.asarray(index.image_emb[row])
    top = np.argsort(-sims, kind="stable")[:k]
    table = pd.DataFrame({
        "rank": np.arange(1, len(top) + 1),
        "similarity": sims[top].round(4),
        "own report": [t == own for t in top],
        "report text": [index.texts[t] for t in top],
    })
    with right:
        rank_of_own = int((sims > sims[own]).sum()) + 1
        st.metric("rank of this image's own report", f"{rank_of_own} of {len(sims)}")
        st.dataframe(table, hide_index=True, column_config={
            "own report": st.column_config.CheckboxColumn(width="small"),
            "report text": st.column_config.TextColumn(width="large")})


st.title("Retrieval")
root, manifest = state.require_dataset()
checkpoint, _ = state.require_model()
index = index_job.require_index(checkpoint, root)
if list(index.ids) != list(manifest["id"]):
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
if mode == MODES[0]:
    _text_to_images(root, checkpoint, index, manifest, rows, k)
else:
    _image_to_reports(root, index, manifest, rows, k)
st.caption(f"Model `{paths.display(checkpoint)}` · index `{index.path.name}`")
