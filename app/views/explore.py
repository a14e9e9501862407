"""Case browser: filter the dataset, pick a case, see the radiograph with the radiologist's
gaze heatmap, the finding masks (demo corpus), the report and the labels."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from eclip.data.manifest import label_columns
from eclip.errors import EclipError

from app.core import cases, paths
from app.components import loaders, report_export, state, upload
from app.components.case import current_case, loader, model_notes, picker
from app.render.overlay import COLOUR_SCALES, FILM_CHART, ZOOM_HINT, Caption, overlay_figure, overlay_png

_CASE_KEY = "case_id"
_TABLE_KEY = "case_table"
_IDS_KEY = "_listed_case_ids"
CURRENT = current_case.CURRENT


def _filters(df: pd.DataFrame) -> cases.CaseFilter:
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([1.2, 2, 1.4, 2])
        splits = sorted(s for s in df["split"].unique() if s)
        split = c1.multiselect("Split", splits, placeholder="all splits", key="f_split")
        counts = {lab: int((df[lab] == 1.0).sum()) for lab in label_columns(df)}
        labels = c2.multiselect("Findings (all must be positive)",
                                [lab for lab, n in counts.items() if n],
                                format_func=lambda lab: f"{lab} ({counts[lab]})",
                                placeholder="any finding", key="f_labels")
        gaze = c3.radio("Gaze", cases.GAZE_CHOICES, horizontal=True, key="f_gaze")
        text = c4.text_input("Search report text", key="f_text",
                             placeholder="e.g. effusion, enlarged heart")
        affirmed = c4.checkbox("Exclude negated mentions", value=True, key="f_affirmed",
                               help="On: “effusion” finds “small left pleural effusion” but not "
                                    "“no pleural effusion” (the labeller's negation cues, per "
                                    "sentence). Off: every report holding the words.")
    return cases.CaseFilter(splits=split, labels=labels, gaze=gaze, text=text, exclude_negated=affirmed)


def _on_table_select() -> None:
    """A click in the case table picks that case (the selectbox follows)."""
    rows = st.session_state[_TABLE_KEY].selection.rows
    ids = st.session_state.get(_IDS_KEY, [])
    if rows and rows[0] < len(ids):
        st.session_state[_CASE_KEY] = ids[rows[0]]


def _case_list(matches: pd.DataFrame, manifest: pd.DataFrame) -> str:
    table = cases.case_table(matches)
    st.session_state[_IDS_KEY] = table["id"].tolist()
    picker.take_upload()
    case_id = picker.select(st, matches["id"].tolist(), _CASE_KEY, manifest=manifest,
                                 scope="the filters above hide it")
    st.dataframe(table, key=_TABLE_KEY, on_select=_on_table_select, selection_mode="single-row",
                 hide_index=True, height=420, column_config={
                     "gaze": st.column_config.CheckboxColumn("gaze", width="small"),
                     "id": st.column_config.TextColumn("id"),
                     "findings": st.column_config.TextColumn("positive findings")})
    if len(matches) > len(table):
        st.caption(f"The table shows the first {len(table):,} of {len(matches):,}; type an id, a "
                   "finding or report words in the Case box to reach any of them, or narrow the filters.")
    return case_id


@dataclass(frozen=True)
class Shown:
    """What the viewer draws of a case: the film and the overlays switched on."""
    image: np.ndarray
    heatmap: np.ndarray | None  # the gaze, when shown
    masks: dict[str, np.ndarray] | None  # the finding masks, when shown
    opacity: float
    colour_scale: str

    def token(self) -> str:
        """What a report of this view depends on besides the case."""
        return f"{self.heatmap is not None}|{bool(self.masks)}|{self.opacity}|{self.colour_scale}"


def _viewer(root: str, row: pd.Series) -> Shown | None:
    try:
        image = loaders.load_image(root, row["image_path"])
        heatmap = (loaders.load_heatmap(root, row["gaze_path"], image.shape)
                   if row["gaze_path"] else None)
        mask_rel = row.get("mask_path", "") or ""
        masks = loaders.load_masks(root, mask_rel, image.shape) if mask_rel else {}
    except EclipError as exc:  # this case only: the list and the report stay usable
        state.show_error(exc, "The dataset files may be incomplete: `python -m eclip.data "
                              "info DIR` lists every problem.")
        return None

    # Two rows so the labels stay readable on a laptop-width screen.
    c1, c2 = st.columns(2)
    c3, c4 = st.columns([1.6, 1], vertical_alignment="bottom")
    # Separate widget keys for "available" and "not available": the choice made on a case
    # with gaze (or masks) carries over to the next such case, not to a disabled toggle.
    show_gaze = c1.toggle("Gaze", value=heatmap is not None, disabled=heatmap is None,
                          key="show_gaze" if heatmap is not None else "show_gaze_na",
                          help="Radiologist gaze heatmap")
    show_masks = c2.toggle("Masks", value=False, disabled=not masks,
                           key="show_masks" if masks else "show_masks_na",
                           help="Ground-truth regions of the findings" if masks
                           else "This case has no finding masks.")
    opacity = c3.slider("Opacity", 0.0, 1.0, 0.65, 0.05, key="opacity",
                        disabled=heatmap is None)
    scale = c4.selectbox("Colours", COLOUR_SCALES, key="colour_scale",
                         disabled=heatmap is None)
    if heatmap is None:
        st.info("No gaze for this case: no radiologist eye-tracking was recorded for it.",
                icon=":material/visibility_off:")
    shown_hm = heatmap if (show_gaze and heatmap is not None) else None
    shown_masks = masks if show_masks else None
    fig = overlay_figure(image, shown_hm, opacity=opacity, colour_scale=scale, masks=shown_masks)
    st.plotly_chart(fig, key="overlay", theme=None, config={
        **FILM_CHART, "toImageButtonOptions": {"filename": f"{row['id']}_overlay", "scale": 2}})
    st.caption(ZOOM_HINT)
    # The PNG (upscaled to >= 512 px) is drawn only when the button is pressed: building it on
    # every run was a fifth of a case change's server time.
    st.download_button(
        "Download overlay PNG", icon=":material/download:", mime="image/png",
        file_name=f"{row['id']}_overlay.png", on_click="ignore", key="download_png",
        data=functools.partial(overlay_png, image, shown_hm, opacity=opacity, colour_scale=scale,
                               masks=shown_masks,
                               caption=Caption(row["id"], bool(cases.is_simulated(row.to_frame().T).iloc[0]))))
    return Shown(image, shown_hm, shown_masks, opacity, scale)


def _export(root: str, case_id: str, shown: Shown | None) -> None:
    """Export case report: the film with the overlays shown, the reading, and the sidebar
    model's zero-shot scores and card when one is chosen."""
    checkpoint = state.current_checkpoint()

    def make():
        case = loader.load(root, manifest, case_id)
        view = shown or Shown(case.pixels, None, None, 0.5, "Inferno")
        heat = view.heatmap
        lm = loaders.load_model(paths.resolve(checkpoint)) if checkpoint else None
        fig = report_export.figure("Radiograph" + (" and gaze" if heat is not None else ""), view.image, heat,
                                   colour_scale=view.colour_scale, opacity=view.opacity, masks=view.masks)
        return report_export.build(case, "Case browser", [fig], checkpoint=checkpoint, lm=lm)
    token = (f"{case_id}|{checkpoint}|{upload.window()}|{upload.scores_stored()}|"
             + ("" if shown is None else shown.token()))
    report_export.export_control("cb", token, make)


def _report(row: pd.Series, simulated: bool) -> None:
    head = f"#### {cases.md_escape(row['id'])}"
    st.markdown(head)
    if simulated:
        st.badge("SIMULATED case", icon=":material/science:",
                 color="orange")
    facts = [f"patient `{row['patient_key']}`", f"split `{row['split']}`", f"view `{row['view']}`"]
    if row.get("source"):
        facts.append(f"source `{row['source']}`")
    if str(row.get("n_readings", "")).strip() not in ("", "0"):
        facts.append(f"gaze readings `{row['n_readings']}`")
    st.caption(" · ".join(facts))
    chips = cases.label_chips(row)
    st.markdown(chips or ":gray-badge[no labels]")
    st.markdown("**Findings**")
    st.markdown(cases.md_escape(row["findings"]) or "_none recorded_")
    st.markdown("**Impression**")
    st.markdown(cases.md_escape(row["impression"]) or "_none recorded_")
    if credit := cases.report_credit(row):
        st.caption(credit)


st.title("Case browser")
root, manifest = state.require_dataset()
matches = cases.filter_cases(manifest, _filters(manifest))
st.caption(f"**{len(matches)}** of {len(manifest)} cases match")
if matches.empty:
    st.info("No case matches these filters. Clear a filter to see cases again.",
            icon=":material/filter_alt_off:")
    st.stop()

banner = st.container()
left, mid, right = st.columns([1.5, 2.3, 1.4], gap="medium")
with left:
    case_id = _case_list(matches, manifest)
if case_id == current_case.UPLOAD_ID:
    with mid:
        upload.viewer(upload.current())
        _export(root, case_id, None)
    with right:
        upload.facts(upload.current())
else:
    row = matches.loc[matches["id"] == case_id].iloc[0]
    simulated = bool(cases.is_simulated(row.to_frame().T).iloc[0])
    with mid:
        if shown := _viewer(root, row):
            _export(root, case_id, shown)
    with right:
        _report(row, simulated)
with right:
    model_notes.model_notes(root, manifest, case_id, banner)
