"""Model vs gaze with a second model: its map of the same image, prompt and method, and the
agreement with the gaze of both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.components import heavy
from app.components.case import loader
from app.components.compare.side_by_side import label
from app.render.overlay import FILM_CHART, FILM_MIN, overlay_figure
from eclip.evaluate.saliency import agreement_metrics, is_flat
from eclip.explain import supported_methods


def other_map(other, case, prompt: str, method: str):
    """The compare model's map for the same image, prompt and method (None when the method
    does not apply to its architecture)."""
    _, lm = other
    if method not in supported_methods(lm):
        return None
    slow = method == "integrated_gradients" and not loader.map_is_cached(lm, case, prompt, method)
    with heavy.heavy_job("Integrated Gradients map", when=slow), \
            st.spinner(f"Computing the map of {label(other[0])}…"):
        return loader.attribution(lm, case, prompt, method)


def map_column(other, image: np.ndarray, model_map, title: str, colour_label: str,
               opacity: float) -> None:
    """The compare model's map, titled and colour-barred with its name."""
    name = label(other[0])
    st.markdown(f"**{name}: {title}**")
    if model_map is None:
        st.info(f"This method does not apply to {name}'s image tower; pick another method.")
        return
    st.plotly_chart(overlay_figure(image, model_map, opacity=opacity, colour_scale="Jet", height=FILM_MIN,
                                   label=f"{name}: {colour_label}", bar_below=True),
                    key="xp_compare", height="stretch", theme=None, config=FILM_CHART)
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
