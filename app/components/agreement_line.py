"""The Model vs gaze page's yardstick: a CC of 0.07 means little without a floor and a
ceiling. For the case on screen, one line puts the model's score beside a centre-bias map's
(the floor: a map that only knows "readers look near the middle") and another reader's (the
ceiling); for the whole gaze subset, a button scores all three with 95 % bootstrap intervals.
The numbers come from eclip.explain.agreement; this module only shows them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from eclip.explain.agreement import case_line, case_references, headline, split_summary
from eclip.explain.floors import CentreBias, train_centre_bias
from eclip.model.checkpoint import LoadedModel, checkpoint_name

from app.components import heavy, loaders, state

SPLIT = "test"
EXPLAINED = ("Floor: a centre-bias map, {source}. Ceiling: another radiologist's "
             "reading of the same image (a simulated second reader on the demo corpus).")


@st.cache_data(show_spinner="Fitting the centre-bias floor on the train split's gaze…", max_entries=4)
def _centre_bias(root: str, manifest_mtime: int) -> CentreBias:
    return train_centre_bias(root, loaders.load_manifest(root))


def centre_bias(root: str | Path) -> CentreBias:
    manifest = Path(root) / "manifest.csv"
    return _centre_bias(str(root), manifest.stat().st_mtime_ns if manifest.is_file() else 0)


def show_case_line(root, row: pd.Series, checkpoint: str, scores: dict[str, float], gaze: np.ndarray) -> None:
    """This case's CC beside its floor and ceiling."""
    with state.eclip_errors("The floor and ceiling need the dataset's train-split gaze maps."):
        bias = centre_bias(root)
        refs = case_references(root, row, gaze, bias)
    line = case_line(checkpoint_name(checkpoint), scores, refs)
    st.markdown(f"**This case:** {line}", help=EXPLAINED.format(source=bias.source))


def show_split_line(root, checkpoint: str, lm: LoadedModel, method: str) -> None:
    """A button that scores the split's gaze subset (model, floors, ceiling) with intervals;
    the result stays for this checkpoint, dataset and method."""
    key = f"xp_split_summary:{checkpoint}:{root}:{method}"
    if st.button(f"Score every {SPLIT}-split case with gaze, with floor, ceiling and 95 % intervals",
                 key="xp_split_run", icon=":material/functions:"):
        with state.eclip_errors("Pick a dataset with gaze in its test split."), \
                heavy.heavy_job("gaze-agreement scoring"), \
                st.spinner("Scoring maps, floors and ceiling, a few seconds a case…"):
            st.session_state[key] = split_summary(lm, root, SPLIT, method)
    summary = st.session_state.get(key)
    if summary:
        name = checkpoint_name(checkpoint)
        for metric in ("cc", "auc_judd", "sauc"):
            st.markdown(f"- {headline(name, summary, metric)}")
        st.caption(f"Means over the {SPLIT} split's gaze cases with 95 % bootstrap intervals. "
                   "Shuffled AUC (sAUC) draws its negatives from other images' fixations, so a "
                   "centre-bias map scores ~0.5 there. " + EXPLAINED.format(source=centre_bias(root).source))
