"""Presenter: a curated tour for demo sessions (app/assets/tour.toml, or $ECLIP_TOUR), laid out
for a room (app/components/room.py): the sidebar folded, the films as large as the browser
window allows with the talking point in large type beside or under them, Next/Previous on a
clicker's keys (PageDown/PageUp, the arrow keys), a full-screen layout (F, Esc to leave), every
film zoomable to its own pixels. Under the films: the case's findings, report and a draft; the
technical panels folded away. A visitor's own image can join the tour; the full pages open
on the same case."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import streamlit as st

from eclip.errors import EclipError
from eclip.evaluate.saliency import agreement_metrics
from eclip.explain import TITLES, case_report, resolve_prompt, supported_methods
from eclip.explain.tour import default_prompt
from eclip.report import DISCLAIMER, build_context, check_draft, draft_for_pixels

from app.core import cases, paths, tour
from app.components import draft_check, loaders, model_reads, report_export, room, state, upload
from app.components.compare import side_by_side
from app.components.case import current_case, loader, model_notes, picker, typicality
from app.render.case_report import Draft
from app.render.overlay import FILM_CHART, ZOOM_HINT, overlay_figure

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex
    from eclip.model.checkpoint import LoadedModel

# The talking point's type: ~1.75% of the window's width (22 px at 1280, 34 px at 1920), never
# under 1.3rem: readable from the back of a room on the screen it is projected on.
POINT_TYPE = "clamp(1.3rem, 1.75vw, 2.2rem)"
_STOP = "pr_stop"  # the tour position, kept across page switches
METHOD = "gradcam"  # the paper's map; fast on both towers
FULL_PAGES = (("views/explore.py", "Case browser", ":material/radiology:"),
              ("views/explain.py", "Model vs gaze", ":material/visibility:"),
              ("views/report.py", "Draft report", ":material/description:"))


def _position(stops: list[tour.Stop], manifest) -> int | None:
    """The stop to show (None: the visitor's upload): the current case when it is on the
    tour (a link, the full pages), else the kept position. A link to a case off the tour, or
    to none of this dataset, says so instead of silently showing a stop."""
    linked = current_case.follow_url()
    current = current_case.current_id()
    if current == current_case.UPLOAD_ID and upload.current() is not None:
        return None
    ids = [s.case for s in stops]
    if linked and linked not in ids:
        st.warning(picker.why_not_here(
            linked, manifest, f"the Presenter shows the {len(ids)} cases of its tour and your own "
            "image; the Case browser, Model vs gaze and Draft report open any case") + " Showing the tour.",
            icon=":material/link_off:")
    i = ids.index(current) if current in ids else min(st.session_state.get(_STOP, 0), len(ids) - 1)
    st.session_state[_STOP] = i
    current_case.set_current(ids[i])
    return i


def _go(stops: list[tour.Stop], i: int) -> None:
    st.session_state[_STOP] = i % len(stops)
    current_case.set_current(stops[i % len(stops)].case)


def _full(on: bool) -> None:
    st.session_state[room.FULL] = on


def _nav(stops: list[tour.Stop], i: int | None, full: bool) -> None:
    """Previous, where the tour is, full screen, Next: the room's keys press these buttons."""
    with st.container(key="pr_nav"):
        c1, c2, c3, c4 = st.columns([1, 3, 1.3, 1], vertical_alignment="center")
    at = -1 if i is None else i
    c1.button("Previous", icon=":material/arrow_back:", key="pr_prev", on_click=room.counted(_go),
              args=(stops, at - 1 if i is not None else len(stops) - 1), width="stretch",
              help="Keys: PageUp or the left arrow (a presenter's clicker sends PageUp).")
    c4.button("Next", icon=":material/arrow_forward:", key="pr_next", on_click=room.counted(_go),
              args=(stops, at + 1), width="stretch",
              help="Keys: PageDown or the right arrow (a presenter's clicker sends PageDown).")
    c3.button("Exit full screen" if full else "Full screen", key="pr_full", on_click=room.counted(_full),
              args=(not full,),
              icon=":material/fullscreen_exit:" if full else ":material/fullscreen:", width="stretch",
              help="Key: Esc." if full else "The films and the talking point alone, in the browser's "
                                            "full screen. Key: F; Esc leaves it.")
    c2.markdown("**Your image** (off the tour)" if i is None
                else f"**Stop {i + 1} of {len(stops)}: {cases.md_escape(stops[i].title)}**")


def _overlays(case, gaze, names: list[str]) -> list[str]:
    """The overlay toggles; returns the names switched on."""
    cols = st.columns(len(names) + 1)
    on = []
    for col, name in zip(cols, ["gaze", *names]):
        disabled = name == "gaze" and gaze is None
        help_ = ("No radiologist gaze for this image." if disabled else
                 "Where the radiologist looked" if name == "gaze" else f"{name}'s Grad-CAM for the prompt")
        if col.toggle(f"{name} map" if name != "gaze" else "Gaze", value=not disabled,
                      disabled=disabled, key=f"pr_show_{name}" + ("_na" if disabled else ""), help=help_):
            on.append(name)
    return on


def _panels(image, gaze, maps: dict, shown: list[str]) -> list:
    """(title, heatmap, label, colour scale, scores) per overlay switched on; the bare film
    when none is."""
    out = [("Radiologist gaze", gaze, "gaze", "Inferno", None)] if "gaze" in shown else []
    for name, m in maps.items():
        if name in shown and m is not None:
            scores = agreement_metrics(m, gaze) if gaze is not None else None
            out.append((f"{name}: {TITLES[METHOD]}", m, f"{name} map", "Jet", scores))
    return out or [("Radiograph", None, "", "Inferno", None)]


COLOURS = {"Inferno": "dark purple (low) to yellow (high)", "Jet": "blue (low) to red (high)"}


def _outline(root, row, stop: tour.Stop | None, shape) -> dict:
    """{finding: mask} of the stop's ``outline`` finding where the case has that mask, else {}."""
    rel = str(row.get("mask_path", "") or "") if row is not None and stop is not None and stop.outline else ""
    if not rel or rel == "nan":
        return {}
    with state.eclip_errors("Check the dataset's mask files."):
        masks = loaders.load_masks(root, rel, shape)
    return {stop.outline: masks[stop.outline]} if stop.outline in masks else {}


def _draw(image, panels: list, outline: dict, side: int) -> None:
    """Side by side, each film in a ``side`` px box, without colour bars (they took a third
    of a film's width): each film's title and its agreement with the gaze sit on the film."""
    for col, (title, heat, label, scale, scores) in zip(st.columns(len(panels), gap="small"), panels):
        fig = overlay_figure(image, heat, opacity=0.6, colour_scale=scale, height=side, label=label or "gaze",
                             masks=outline)
        fig.update_traces(showscale=False, selector={"type": "heatmap"})
        name = html.escape({"gaze": "Radiologist gaze", "": title}.get(label, label))
        fig.add_annotation(text=f"<b>{name}</b>" + (
            f"<br>CC with the gaze {scores['cc']:.2f} · AUC-Judd {scores['auc_judd']:.2f}" if scores else ""),
            showarrow=False, xref="x domain", yref="y domain", x=0.0, y=1.0, xanchor="left", yanchor="top",
            align="left", font={"color": "white", "size": 15}, bgcolor="rgba(0,0,0,0.6)", borderpad=4)
        col.plotly_chart(fig, key=f"pr_fig_{title}", theme=None, config=FILM_CHART)


def _draft(lm: LoadedModel, index: EmbeddingIndex | None, manifest, case) -> tuple[Draft | None, object]:
    """A retrieval draft (no language model: instant, reproducible), once per case and session,
    and the context it was drafted and checked from (its calibrated zero-shot findings)."""
    if index is None:
        return None, None

    def make():
        context = build_context(lm, index, manifest, case.pixels)
        stream = draft_for_pixels(lm, index, manifest, case.pixels, backend="retrieval", context=context)
        for _ in stream:  # header, body, footer: the body is stream.text
            pass
        return Draft(stream.text.strip(), check_draft(stream.text, context.zero_shot).as_dict(),
                     stream.provenance.as_dict()), context
    return loader.session_memo(("pr_draft", lm.weights_sha256, case.image_id), make)


def _point(stop: tour.Stop | None) -> None:
    """The talking point in the room's large type, how the stop was chosen under it."""
    if stop is None:
        st.markdown("Your own image: the maps show where each model looks for the prompt.")
        return
    st.markdown(cases.md_escape(stop.point))
    if stop.chosen or stop.typical:  # an extreme case beside the split: visible, secondary
        st.caption("  \n".join(f":material/{icon}: {cases.md_escape(text)}" for icon, text in
                                (("rule", stop.chosen), ("query_stats", stop.typical)) if text))


def _case_facts(case, draft, context) -> None:
    """Under the films: the case, its findings and report; the draft beside them, with its
    evidence check and the calibrated zero-shot probabilities it was checked against."""
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown(f"#### {cases.md_escape(case.id)}")
        if case.simulated:
            st.badge("SIMULATED case", icon=":material/science:", color="orange")
        if case.row is not None:
            found = cases.positive_labels(case.row)
            st.markdown(" ".join(f":red-badge[{cases.md_escape(f)}]" for f in found) or ":gray-badge[no labels]")
            report = case_report(case.row)
            st.markdown("**Report**  \n" + (cases.md_escape(report) or "_none recorded_"))
            if credit := cases.report_credit(case.row):
                st.caption(credit)
    if draft is not None:
        with right:
            st.markdown("**Draft** (retrieved findings, no language model)")
            st.badge(DISCLAIMER, icon=":material/warning:", color="red")
            with st.container(height=220):
                st.markdown(cases.md_escape(draft.text).replace("\n", "  \n"))
            check, found = st.columns(2, gap="small")
            with check:
                draft_check.evidence_view(draft.evidence)
            with found:
                draft_check.probabilities(context.findings, context.zero_shot, context.calibration)


def _technical(checkpoint, root, manifest, lm: LoadedModel, case, panels, draft, other_ck: str | None) -> None:
    scored = {title: s for title, _, _, _, s in panels if s}
    if scored:
        with st.expander("Agreement with the gaze (every metric)"):
            st.dataframe({t: {k.upper().replace("_", "-"): round(v, 3) for k, v in s.items()}
                          for t, s in scored.items()})
    with st.expander("Typicality and model card"):
        typicality.show_typicality(checkpoint, root, manifest, lm, case)
        for ck in (checkpoint, *([other_ck] if other_ck else [])):
            _card(ck, named=other_ck is not None)
    if draft is not None:
        with st.expander("Draft provenance"):
            st.json(draft.provenance)
    if case.is_upload:
        with st.expander("Window / level of your image"):
            upload.window_controls(upload.current())


def _other_models(stop, shown: list[str]) -> str:
    """A caption clause when the films show other models than the tour's talking points were
    written about (say demo-prior chosen under 'Compare with'), so the room does not read one
    model's numbers under another's map; "" otherwise, or for a tour that does not name its models."""
    written = list(tour.written_for())
    if stop is None or not written or written == shown:
        return ""
    return (f" · :orange[the talking points are about {' and '.join(written)}; the films show "
            f"{' and '.join(shown)}]")


def _card(checkpoint: str, named: bool) -> None:
    """A model's card in brief and its answer to "does gaze help?" (a gaze-prior model's is the
    prior-only arm's); headed by the model's name when the compare model's card follows."""
    card = loaders.load_card(paths.resolve(checkpoint))
    facts = " · ".join(f"{k} `{card[k]}`" for k in ("arch", "steps", "data_fingerprint") if k in card)
    st.caption(f"**{side_by_side.label(checkpoint)}** · {facts}" if named else facts)
    state.gaze_answer(card)


def _links() -> None:
    st.caption("Open this case on a full page (the sidebar's **Presenter** brings you back to this stop):")
    for col, (page, title, icon) in zip(st.columns(len(FULL_PAGES)), FULL_PAGES):
        col.page_link(page, label=title, icon=icon)


def _export(case, panels, checkpoint, lm: LoadedModel, other, draft, prompt: str, outline: dict) -> None:
    def make():
        figures = [report_export.figure(t, case.pixels, h, label=lab or "gaze", colour_scale=sc,
                                        opacity=0.6, masks=outline, scores=s) for t, h, lab, sc, s in panels]
        return report_export.build(case, "Presenter", figures, checkpoint=checkpoint, lm=lm,
                                   other=other, draft=draft)
    token = f"{case.image_id}|{prompt}|{[p[0] for p in panels]}"
    report_export.export_control("pr", token, make)


st.set_page_config(initial_sidebar_state="collapsed")  # the room sees the films, not the app's menu
full = bool(st.session_state.get(room.FULL))
st.markdown(room.css(full, POINT_TYPE), unsafe_allow_html=True)
st.title("Presenter")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
with state.eclip_errors(f"Fix the tour file, or point ${tour.TOUR_ENV} at another."):
    stops, absent = tour.in_dataset(tour.load(), manifest["id"])
if not stops:
    st.info(f"None of the tour's cases ({', '.join(absent)}) is in this dataset: the tour in "
            f"`{paths.visitor_label(tour.tour_file())}` was chosen on data/demo. Pick that dataset in the "
            f"sidebar, or point ${tour.TOUR_ENV} at a tour of your own.", icon=":material/tour:")
    st.stop()
i = _position(stops, manifest)
_nav(stops, i, full)
width, height = room.window(full)  # after the buttons: it tells the room's keys they are drawn
with state.eclip_errors("Upload the image again, or go on with the tour."):
    case = loader.load(root, manifest, stops[i].case if i is not None else current_case.UPLOAD_ID)
stop = stops[i] if i is not None else None
model_notes.simulated_banner(checkpoint, case)
row = case.row
with state.eclip_errors("Check the dataset's gaze files."):
    gaze = (loaders.load_heatmap(root, row["gaze_path"], case.pixels.shape)
            if row is not None and row["gaze_path"] else None)
prompt, _ = resolve_prompt((stop.prompt if stop else "") or (default_prompt(row) if row is not None else ""),
                           case_report(row) if row is not None else "")
other = side_by_side.other_model()
models = [(checkpoint, lm)] + ([other] if other and METHOD in supported_methods(other[1]) else [])
with state.eclip_errors("Try another case."), st.spinner("Computing the model maps…"):
    maps = {side_by_side.label(ck): loader.attribution(m, case, prompt, METHOD) for ck, m in models}
index = None
try:
    index = loaders.load_index(checkpoint, root)
except EclipError:  # IndexMissing, StaleIndex: the presenter goes on without a draft
    st.caption("No embedding index for this model and dataset yet, so no draft here: the Draft "
               "report page says how to build it.")
draft = context = None
with state.eclip_errors("The draft needs the model's index of this dataset."):
    draft, context = _draft(lm, index, manifest, case)
shown = _overlays(case, gaze, list(maps))
panels = _panels(case.pixels, gaze, maps, shown)
outline = _outline(root, row, stop, case.pixels.shape)
fit = room.layout(width, height, len(panels), full)
films, text = (st.columns([fit.films_width, fit.text_width], gap="small") if fit.beside
               else (st.container(), st.container()))
with films:
    _draw(case.pixels, panels, outline, fit.film)
with text, st.container(key="pr_point", height=fit.text_height if fit.beside else "content", border=False):
    _point(stop)
legend = sorted({COLOURS.get(p[3], p[3]) for p in panels if p[1] is not None})
st.caption(f"Maps explain the prompt “{cases.md_escape(prompt)}” (Grad-CAM)" + "".join(
    f" · the outline is where the {cases.md_escape(name)} is (ground truth)" for name in outline)
    + (f" · colours: {', '.join(legend)}" if legend else "") + f" · {ZOOM_HINT}" + _other_models(stop, list(maps)))
model_reads.stated(case)
_case_facts(case, draft, context)
if not full:  # full screen: the films, the talking point and the case alone
    with st.container(key="pr_chrome"):
        _export(case, panels, checkpoint, lm, other[0] if other else None, draft, prompt, outline)
        _technical(checkpoint, root, manifest, lm, case, panels, draft, other[0] if other else None)
        with st.expander("Your own image"):
            picker.take_upload()
            if case.is_upload and st.button("Back to the tour", icon=":material/tour:", key="pr_back"):
                _go(stops, st.session_state.get(_STOP, 0))
                st.rerun()
        _links()
