"""The sidebar's 'compare with' model beside the active one on the model pages (Model vs
gaze, Zero-shot, Retrieval, Embeddings): the second model, its index over the same dataset,
and a pane per model.

Pages read the choice through ``state.compare_checkpoint()``; the maths is in the library
(eclip.evaluate.paired, eclip.index.compare). With the comparison off every helper returns
None / draws the page as before.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.components import index_job, loaders, state
from app.core import paths
from eclip.errors import EclipError
from eclip.index import IndexMissing, StaleIndex
from eclip.model.checkpoint import LoadedModel, checkpoint_name
from eclip.index.store import EmbeddingIndex


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


def models(checkpoint: str, lm: LoadedModel, index: EmbeddingIndex, root: str, need_umap: bool = False) -> list[tuple]:
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
