"""Model vs gaze, split-wide: does the model's map find the findings? A button scores every
abnormal test case's finding masks with the pointing game and mIoU (eclip.explain.localisation),
beside a centre-bias map (the floor), the finding's mask at the model's own grid (the ceiling)
and the case's gaze at that grid (the most a gaze prior alone could teach). Needs a dataset
with finding masks (the demo corpus, or an import with bounding boxes / ellipses)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eclip.explain.localisation import localisation, summarise
from eclip.model.checkpoint import LoadedModel

from app.components import heavy, state

SPLIT = "test"
WHO_NAMES = {"model": "this model", "centre": "centre-bias map (floor)",
             "grid ceiling": "mask at the model's grid (ceiling)", "gaze at grid": "gaze at the model's grid"}
EXPLAINED = ("Pointing game: the share of findings whose map peaks inside the finding's ground-truth "
             "mask; mIoU: overlap of the map's top region with the mask. Each finding is explained "
             "with its own prompt (the page's default for a case with that finding). The floor is a "
             "map that only knows the middle of the film; the ceiling is the best any map at the "
             "model's map grid (a ViT's patch tokens, a CNN's pooled feature cells) can do; gaze at "
             "grid is what a map that copied the radiologist's gaze would score (cases with gaze "
             "only). Intervals: 95 %, resampling report texts.")


def summary_frame(summary: list[dict]) -> pd.DataFrame:
    """One row per finding: pointing game (with interval and count) for each of the four maps."""
    rows: dict[str, dict] = {}
    for r in summary:
        ci = r["pointing"]
        cell = "n/a" if ci["n"] == 0 else f"{ci['value']:.2f} [{ci['ci_low']:.2f}, {ci['ci_high']:.2f}]"
        row = rows.setdefault(r["finding"], {"finding": r["finding"]})
        row[WHO_NAMES[r["who"]]] = cell
        if r["who"] == "model":
            row["findings (reports)"] = f"{ci['n']} ({ci['clusters']})"
    frame = pd.DataFrame(list(rows.values()))
    order = ["finding", "findings (reports)", *WHO_NAMES.values()]
    return frame[[c for c in order if c in frame.columns]].fillna("n/a")


def headline(summary: list[dict]) -> str:
    by = {r["who"]: r["pointing"] for r in summary if r["finding"] == "all findings"}
    if "model" not in by:
        return "No abnormal case with a finding mask in this split."
    parts = [f"{WHO_NAMES[w]} {by[w]['value']:.2f}" for w in WHO_NAMES if w in by]
    return (f"Pointing game over {by['model']['n']} findings in {by['model']['clusters']} reports: "
            + ", ".join(parts) + ".")


def show_split_localisation(root, checkpoint: str, lm: LoadedModel, method: str) -> None:
    """A button that scores every abnormal case of the test split; the result stays for this
    checkpoint, dataset and method."""
    key = f"xp_localisation:{checkpoint}:{root}:{method}"
    if st.button(f"Score every abnormal {SPLIT}-split case against its finding masks (pointing game)",
                 key="xp_localise_run", icon=":material/my_location:"):
        with state.eclip_errors("Pick a dataset with finding masks (the demo corpus, or an import "
                                "with bounding boxes or ellipses)."), \
                heavy.heavy_job("localisation scoring"), \
                st.spinner("Explaining every finding of every abnormal case, about a second each…"):
            st.session_state[key] = summarise(localisation(lm, root, SPLIT, method), n_boot=300)
    summary = st.session_state.get(key)
    if summary:
        st.markdown(f"**Does the map find the finding?** {headline(summary)}")
        st.dataframe(summary_frame(summary), hide_index=True)
        st.caption(EXPLAINED)
