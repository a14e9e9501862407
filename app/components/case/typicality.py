"""How typical a case is for the model: against the model's own training images, whatever
dataset holds the case (eclip.index.typicality), as a line of text or drawn on a page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from app.components import loaders, state
from app.components.case.loader import Case, embedding, session_memo
from eclip.errors import EclipError
from eclip.index import IndexMissing
from eclip.index.typicality import load_reference
from eclip.model.encode import encode_pixels

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex
    from eclip.model.checkpoint import LoadedModel


def typicality_reference(lm: LoadedModel):
    """The model's own training-image reference, shipped in its folder (eclip.index.typicality);
    TypicalityUnavailable says why there is none."""
    return load_reference(lm.path, lm.weights_sha256)


def typicality(lm: LoadedModel, case: Case, index: EmbeddingIndex | None = None):
    """The case's typicality against the model's own training images, never against the folder
    it is shown in: one image gets one score, whatever dataset holds it. ``index``: the model's
    index of the case's dataset when open (its stored embedding), else the image is encoded."""
    return typicality_reference(lm).score(case_embedding(lm, index, case))


def case_embedding(lm: LoadedModel, index: EmbeddingIndex | None, case: Case) -> np.ndarray:
    """``embedding``, or without an index the image through the model (once per session)."""
    if index is not None or case.is_upload:
        return embedding(lm, index, case)
    return session_memo(("emb", lm.weights_sha256, case.image_id), lambda: encode_pixels(lm, case.pixels))


def typicality_line(lm: LoadedModel, case: Case, index: EmbeddingIndex | None = None) -> str:
    """The verdict as one line of text (a case report), or why there is none."""
    try:
        return typicality(lm, case, index).line()
    except EclipError as exc:
        return f"unavailable: {state.visible(exc)}"


def _open_index(checkpoint: str, root: str):
    """The model's index of the dataset when built (it holds the case's embedding), else None."""
    try:
        return loaders.load_index(checkpoint, root)
    except IndexMissing:
        return None


def show_typicality(checkpoint: str, root: str, manifest: pd.DataFrame, lm: LoadedModel, case: Case) -> None:
    """The typicality line (or why there is none)."""
    try:
        typ = typicality(lm, case, None if case.is_upload else _open_index(checkpoint, root))
    except EclipError as exc:
        st.caption(f"Typicality unavailable: {state.visible(exc)}")
        return
    colour = {"typical": "green", "unusual": "orange"}.get(typ.verdict, "red")
    st.markdown(f"**Typicality** :{colour}-badge[{typ.verdict}] percentile **{typ.percentile:.0f}**")
    st.caption(f"Mean cosine distance to its {typ.k} nearest of the model's own training images "
               f"(a sample of {typ.n_reference:,} shipped with the model): {typ.distance:.3f}, "
               f"farther than {typ.percentile:.0f}% of those images are from theirs. Measured "
               "against what the model was trained on, not against this dataset, so an image "
               "scores the same in every folder. Above 99: the model has seen nothing like it.")
