"""The "Export case report" control of the case pages (Case browser, Model vs gaze, Draft
report, Presenter): gathers what the page shows into an ``app.render.case_report.CaseReport`` and
offers it as a self-contained HTML file and a PNG rendering of it.

Nothing is built until the button is pressed (a report embeds every image: ~0.5 MB), and
the result is kept for this page and case only, so a stale report is never offered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

import eclip

from app.components import loaders, state, upload
from app.components.case import loader, model_notes, typicality
from app.components.compare.side_by_side import label
from app.core import cases, paths
from app.render import case_report
from app.render.case_report import CaseReport, Draft, Figure, ModelSummary
from app.render.overlay import MASK_COLOURS, overlay_png
from eclip.errors import EclipError
from eclip.model.encode import encode_pixels
from eclip.report.context import calibration_of, zero_shot_evidence

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

_KEPT = "_case_report:{}"  # session key per page: {"token", "html", "png", "stem"}
_WANTED = "_case_report_wanted:{}"  # session key per page: the token an export was pressed for


# --------------------------------------------------------------------------- gathering
def figure(title: str, image: np.ndarray, heatmap: np.ndarray | None = None, *, label: str = "gaze",
           colour_scale: str = "Inferno", opacity: float = 0.5,
           masks: dict[str, np.ndarray] | None = None, scores: dict[str, float] | None = None) -> Figure:
    """One image of the report, composited as the page shows it, with its legend lines."""
    legend = []
    if heatmap is not None:
        legend.append(f"{label}: {colour_scale} colours, dark/transparent = low, bright = high "
                      f"(opacity {opacity:.2f})")
    legend += [f"{MASK_COLOURS[i % len(MASK_COLOURS)]} outline: {name} (ground-truth region)"
               for i, name in enumerate(masks or {})]
    png = overlay_png(image, heatmap, opacity=opacity, colour_scale=colour_scale, masks=masks)
    return Figure(title, png, tuple(legend), scores)


def model_summaries(checkpoint: str | None, other: str | None = None) -> tuple[ModelSummary, ...]:
    pairs = [(ck, role) for ck, role in ((checkpoint, "active"), (other, "compare with")) if ck]
    return tuple(ModelSummary.from_card(label(ck), role, loaders.load_card(paths.resolve(ck)))
                 for ck, role in pairs)


NO_INDEX = ("Probabilities are the model's raw pair probabilities, not calibrated: this model has "
            "no embedding index of this dataset to calibrate on.")


def zero_shot(lm: LoadedModel, case: loader.Case,
              checkpoint: str | None = None) -> tuple[tuple[tuple[str, float, str], ...], str]:
    """(every finding of the binary prompt set for this image, most likely first, as (name,
    probability, how it was made and the finding's validate base rate); the calibration's
    summary line). Calibrated on the validate split of the sidebar's dataset, as the
    Zero-shot and Draft report pages show them, where the model has an index of it."""
    calibration = _calibration(lm, checkpoint)
    found = zero_shot_evidence(lm, encode_pixels(lm, case.pixels), calibration=calibration)
    return tuple((z.name, z.probability, z.note) for z in found), calibration.summary() if calibration else NO_INDEX


def _calibration(lm: LoadedModel, checkpoint: str | None):
    if checkpoint is None:
        return None
    root = state.current_dataset()
    try:
        index = loaders.load_index(paths.resolve(checkpoint), root)
    except EclipError:  # no index (yet): the raw probabilities, and the report says why
        return None
    return calibration_of(lm, index, loaders.load_manifest(root))


def facts(case: loader.Case) -> tuple[str, ...]:
    """What identifies the case for a reader without naming a patient: dataset facts, or an
    upload's display facts (format, size, modality...: never its header's names)."""
    if case.is_upload:
        up = upload.current()
        return tuple(f.replace("`", "") for f in (up.facts if up else ())) + ("not from this dataset",)
    row = case.row
    found = ", ".join(cases.positive_labels(row)) or "no labels"
    return (f"split {row['split']}", f"view {row['view']}", f"labels: {found}")


def reading(case: loader.Case) -> tuple[tuple[str, str], ...]:
    if case.is_upload:
        return ()
    return (("Findings", str(case.row["findings"])), ("Impression", str(case.row["impression"])))


def last_draft(case_id: str) -> Draft | None:
    """The draft this session made on the Draft report page for this case, if any: for a
    visitor without the Ollama host its provenance may name (``for_visitor``)."""
    last = st.session_state.get("rep_last")
    if not last or last.get("case") != case_id:
        return None
    hosts = last.get("hosts", ())
    return Draft(for_visitor(last["text"], hosts), last["evidence"], shown_provenance(last["provenance"], hosts))


def for_visitor(text: str, hosts=()) -> str:
    """A draft's text or provenance line as this session may read it: in full for the admin;
    for a visitor without server addresses (the Ollama host a fallback reason names)."""
    return text if state.is_admin() else paths.redact_hosts(text, hosts)


def shown_provenance(provenance: dict, hosts=()) -> dict:
    """``provenance`` with each text through ``for_visitor``."""
    return {k: for_visitor(v, hosts) if isinstance(v, str) else v for k, v in provenance.items()}


def warnings(checkpoint: str | None, case: loader.Case) -> tuple[str, ...]:
    """Under a model trained on simulated films, every report says so: the page's red banner
    over a real film, the card's caveat over a simulated one."""
    card = model_notes.model_card(checkpoint)
    if not card.simulated_training:
        return ()
    if not case.simulated:
        return (model_notes.banner_text(checkpoint).replace("**", ""),)
    return (card.caveat,)


def build(case: loader.Case, page: str, figures: list[Figure], *, checkpoint: str | None = None,
          lm: LoadedModel | None = None, other: str | None = None, draft: Draft | None = None) -> CaseReport:
    """The report of ``case`` as ``page`` shows it; the model parts when a model is given."""
    found, calibration = zero_shot(lm, case, checkpoint) if lm is not None else ((), "")
    return CaseReport(
        case=case.id, page=page, simulated=case.simulated, figures=tuple(figures), facts=facts(case),
        reading=reading(case), reading_credit=cases.report_credit(case.row),
        zero_shot=found, zero_shot_calibration=calibration,
        draft=draft or last_draft(case.id), models=model_summaries(checkpoint, other),
        warnings=warnings(checkpoint, case), version=eclip.__version__,
        typicality=typicality.typicality_line(lm, case) if lm is not None else "",
        gaze_answer=gaze_answer(checkpoint))


def gaze_answer(checkpoint: str | None) -> tuple[str, str] | None:
    """The active model card's "Does gaze help?" answer, worded as the sidebar words it."""
    return state.gaze_question_and_answer(loaders.load_card(paths.resolve(checkpoint))) if checkpoint else None


# --------------------------------------------------------------------------- the control
def export_control(key: str, token: str, make: Callable[[], CaseReport]) -> None:
    """The export button; after it, the HTML download and the PNG (rendered on request).
    ``token`` names what the page shows (case, prompt, overlays): a change drops the report."""
    kept_key, wanted_key = _KEPT.format(key), _WANTED.format(key)
    kept = st.session_state.get(kept_key)
    if kept and kept["token"] != token:
        kept = None
        st.session_state.pop(kept_key, None)
    # The press is noted by the button's callback, not read from what st.button returns: that
    # is True only in the run the press starts, and Streamlit cuts a run short when another
    # rerun comes in (the Presenter's window reporting its new size after a resize), so the
    # press was lost and no report came. A noted press is served by whichever run gets here.
    st.button("Export case report", icon=":material/ios_share:", key=f"{key}_export",
              on_click=_want, args=(wanted_key, token),
              help="One self-contained HTML file (images embedded) and a PNG of it: the "
                   "image with its overlays, scores, draft and model card.")
    wanted = st.session_state.get(wanted_key)
    if wanted is not None and wanted != token:  # pressed for what the page no longer shows
        st.session_state.pop(wanted_key, None)
    elif wanted is not None:
        with _errors():
            try:
                report = make()
                kept = {"token": token, "html": case_report.to_html(report), "png": None,
                        "stem": report.file_stem}
            except Exception:  # a failed build is shown once, not tried again on every later run
                st.session_state.pop(wanted_key, None)
                raise
            st.session_state[kept_key] = kept
            st.session_state.pop(wanted_key, None)
    if kept:
        _downloads(key, kept)


def _want(wanted_key: str, token: str) -> None:
    st.session_state[wanted_key] = token


def _downloads(key: str, kept: dict) -> None:
    # a row that wraps: the buttons keep their labels in a narrow column
    c1 = c2 = st.container(horizontal=True)
    c1.download_button("Download report (HTML)", data=kept["html"].encode("utf-8"), mime="text/html",
                       file_name=f"{kept['stem']}.html", on_click="ignore", key=f"{key}_html",
                       icon=":material/download:")
    if not case_report.chromium_available():
        c2.button("PNG needs Chromium", disabled=True, key=f"{key}_png_na", help=case_report.NO_CHROMIUM)
        c2.caption(case_report.NO_CHROMIUM)
        return
    if kept["png"] is None and c2.button("Render PNG", key=f"{key}_render", icon=":material/image:",
                                         help="Renders the HTML report in headless Chromium (a few seconds)."):
        with _errors(), st.spinner("Rendering the report…"):
            kept["png"] = case_report.to_png(kept["html"])
    if kept["png"] is not None:
        c2.download_button("Download report (PNG)", data=kept["png"], mime="image/png",
                           file_name=f"{kept['stem']}.png", on_click="ignore", key=f"{key}_png",
                           icon=":material/download:")


def _errors():
    return state.eclip_errors("The report could not be built; the rest of the page still works.")
