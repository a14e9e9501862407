"""Model vs radiologist: where the active model finds support for a text prompt in the
image (attribution map), beside where the radiologist looked (gaze heatmap), and how well
the two agree (Pearson CC, NSS, KL divergence, AUC-Judd)."""

from __future__ import annotations

import streamlit as st

from eclip.evaluate.saliency import agreement_metrics, is_flat
from eclip.explain import TITLES, case_report, resolve_prompt, supported_methods, uses_prompt
from eclip.explain.regions import central_region, lung_region, placement
from eclip.explain.tour import default_prompt  # the finding's prompt-pair words, as the tour's

from app.core import cases, paths
from app.components import heavy, loaders, model_reads, report_export, state, upload
from app.components.compare import gaze_maps, side_by_side
from app.components.case import current_case, loader, model_notes, picker, typicality
from app.render.overlay import FILM_CHART, FILM_MIN, ZOOM_HINT, film_row_css, overlay_figure
from app.components import agreement_line  # the floor-and-ceiling line under the scores
from app.components import localisation_line  # split-wide: does the map find the findings?

METHOD_NAMES = {"gradcam": "Grad-CAM (fast)", "rollout": "Attention rollout (fast, ViT, ignores the prompt)",
                "grad_rollout": "Gradient-weighted rollout (fast, ViT)",
                "integrated_gradients": "Integrated gradients (slow)"}
METRIC_HELP = {"cc": "Pearson correlation (1 = identical)", "nss": "normalised scanpath "
               "saliency (higher is better)", "kl": "KL divergence gaze ‖ map (lower is better)",
               "auc_judd": "AUC-Judd: the map ranks fixated pixels first (1 is perfect)"}
PROMPT_SOURCES = {"report": "the case's own report", "default": "a default prompt"}


def _placement_note(model_map, region) -> None:
    where = placement(model_map, region)
    share = (f"{where.outside:.0%} of this map's mass lies outside the lung fields, which cover "
             f"{1 - where.area_outside:.0%} of the image")
    source = f"Lung fields: {region.description}."
    if where.flagged:
        st.warning(f"**Mostly outside the lung fields.** {share}: the model's support for this "
                   "prompt sits on the border, shoulders or soft tissue rather than the lungs. Read "
                   f"the map with care, or try another method. {source}", icon=":material/crop_free:")
    else:
        st.caption(f"{share}. {source}")


def _export(case, image, gaze, maps: dict, method: str, prompt: str, opacity: float, other_ck) -> None:
    """Export case report: the gaze and each model's map as shown, scored against the gaze."""
    def make():
        figs = [report_export.figure("Radiologist gaze", image, gaze, opacity=opacity)] if gaze is not None else []
        figs += [report_export.figure(f"{n}: {TITLES.get(method, method)} for “{prompt}”", image, m,
                                      label=f"{n} map", colour_scale="Jet", opacity=opacity,
                                      scores=agreement_metrics(m, gaze) if gaze is not None else None)
                 for n, m in maps.items() if m is not None]
        return report_export.build(case, "Model vs gaze", figs, checkpoint=checkpoint, lm=lm, other=other_ck)
    report_export.export_control("xp", f"{case.image_id}|{prompt}|{method}|{opacity}|{other_ck}", make)


def _restore(key: str, allowed=None) -> None:
    """Put back the value widget ``key`` had when the visitor left this page: Streamlit drops
    the state of widgets a run does not draw, so a return visit found an empty prompt box,
    explained the whole report instead and computed both models' maps again (5.7 s in-process
    at 20,000 cases under load, 15-17 s in the browser) instead of showing the cached ones."""
    kept = st.session_state.get(f"_{key}_kept")
    if key not in st.session_state and kept is not None and (allowed is None or kept in allowed):
        st.session_state[key] = kept


def _keep(key: str, value):
    st.session_state[f"_{key}_kept"] = value
    return value


st.title("Model vs gaze")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
c1, c2, c3 = st.columns([1.1, 2.2, 1.5])
if current_case.wanted_id() == current_case.UPLOAD_ID and upload.current() is not None:
    only_gaze = False  # an upload has no gaze: the switch is for the dataset's cases
else:
    only_gaze = c1.toggle("Only cases with gaze", value=picker.gaze_first(manifest),
                          key="xp_gaze_only")
pool = manifest[cases.has_gaze(manifest)] if only_gaze else manifest
ids = pool["id"].tolist()
if not ids:
    st.info("No case to explain with these settings.")
    st.stop()
case_id = picker.select(c1, ids, "xp_case", manifest=manifest,
                             scope="it has no gaze: switch off “Only cases with gaze”" if only_gaze else "")
if len(ids) > cases.LIST_LIMIT:
    c1.caption(f"{cases.LIST_LIMIT:,} of {len(ids):,} cases are listed; type an id, a finding or "
               "report words in the box to reach any of them.")
with state.eclip_errors("Upload the image again on the Case browser, or pick a case."):
    case = loader.load(root, manifest, case_id)
row = case.row  # None for an uploaded image: no report, labels or gaze
if st.session_state.get("xp_prompt_for") != case_id:  # a new case gets its own default prompt
    st.session_state["xp_prompt"] = default_prompt(row) if row is not None else ""
    st.session_state["xp_prompt_for"] = case_id
methods = supported_methods(lm)
_restore("xp_method", methods)
method = _keep("xp_method", c3.selectbox("Method", methods, format_func=lambda m: METHOD_NAMES.get(m, m),
                                         key="xp_method"))
prompt_free = not uses_prompt(method)
_restore("xp_prompt")
typed = _keep("xp_prompt", c2.text_input("Text prompt (the map explains image ↔ prompt similarity)",
                                         key="xp_prompt", disabled=prompt_free))
if prompt_free:
    c2.caption(f"{TITLES[method]} reads only the image's attention, never the text: this map and "
               "its scores are the same for every prompt. For a prompt-conditioned map of a ViT "
               "use gradient-weighted rollout.")
prompt, source = resolve_prompt(typed, case_report(row) if row is not None else "")
if not prompt_free and source != "typed":
    st.info(f"The prompt box is empty, so the map explains {PROMPT_SOURCES[source]}: "
            f"“{cases.md_escape(prompt)}”", icon=":material/edit_note:")
if method == "integrated_gradients":
    _restore("xp_ig_ok")  # kept across methods and pages: switched on once, it stays on
    if not _keep("xp_ig_ok", st.toggle("Compute integrated gradients (32 passes, takes a while on CPU)",
                                       key="xp_ig_ok")):
        st.info("Integrated gradients runs the model 32 times, on the image faded in from black, and "
                "adds up its gradients: switch on **Compute integrated gradients** above to draw its "
                "map for this case and prompt beside the radiologist's gaze. It takes a while on this "
                "server's CPU (one such map at a time: other visitors' wait); the switch stays on for "
                "the next cases. The other methods draw at once.", icon=":material/hourglass_empty:")
        st.stop()

model_notes.simulated_banner(checkpoint, case)
typicality.show_typicality(checkpoint, root, manifest, lm, case)
model_reads.stated(case)
with state.eclip_errors("Try another method or prompt."):
    image = case.pixels
    gaze = (loaders.load_heatmap(root, row["gaze_path"], image.shape)
            if row is not None and row["gaze_path"] else None)
    # one slow map at a time per server (queued visitors see why they wait); a cached one never waits
    slow = method == "integrated_gradients" and not loader.map_is_cached(lm, case, prompt, method)
    with heavy.heavy_job("Integrated Gradients map", when=slow), st.spinner("Computing the attribution map…"):
        model_map = loader.attribution(lm, case, prompt, method)
    # the lung fields the dataset stores (lungs/<id>.npz), else a central-region heuristic (an upload)
    region = lung_region(root, row, image.shape) if row is not None else central_region(image.shape)
    other = side_by_side.other_model()  # the sidebar's 'compare with' model, None when off
    other_map = gaze_maps.other_map(other, case, prompt, method) if other else None

opacity = st.slider("Opacity", 0.0, 1.0, 0.55, 0.05, key="xp_opacity")
st.html(film_row_css("xp_films", image.shape))
left, right, *third = st.container(key="xp_films").columns(3 if other else 2, gap="medium")
name = side_by_side.label(checkpoint) if other else "Model"
with left:
    st.markdown("**Radiologist gaze**")
    if gaze is None:
        st.info("No gaze for an uploaded image: no radiologist's eye-tracking exists for it, so "
                "there is nothing to compare the map with." if case.is_upload
                else "No gaze for this case.", icon=":material/visibility_off:")
    st.plotly_chart(overlay_figure(image, gaze, opacity=opacity, height=FILM_MIN, label="gaze", bar_below=True),
                    key="xp_gaze", height="stretch", theme=None, config=FILM_CHART)
with right:
    st.markdown(f"**{name}: {METHOD_NAMES.get(method, method)}**")
    st.plotly_chart(overlay_figure(image, model_map, opacity=opacity, colour_scale="Jet", height=FILM_MIN,
                                   label=f"{name}: {TITLES.get(method, method)}" if other
                                   else TITLES.get(method, method), bar_below=True),
                    key="xp_model", height="stretch", theme=None, config=FILM_CHART)
if other:
    with third[0]:
        gaze_maps.map_column(other, image, other_map, METHOD_NAMES.get(method, method),
                           TITLES.get(method, method), opacity)
st.caption(ZOOM_HINT)
flat_map = is_flat(model_map)
if flat_map:  # Grad-CAM's ReLU zeroes a map with no positive evidence; it scores chance
    st.warning("The map is flat: this method found no image region that raises the similarity "
               "to this prompt. Try another prompt (e.g. a finding named in the report) or "
               "another method.", icon=":material/blur_off:")
else:
    _placement_note(model_map, region)
if gaze is not None:
    if other:
        gaze_maps.agreement_table(gaze, {name: model_map, side_by_side.label(other[0]): other_map}, METRIC_HELP)
    else:
        scores = agreement_metrics(model_map, gaze)
        for col, (metric, value) in zip(st.columns(len(scores)), scores.items()):
            col.metric(metric.upper().replace("_", "-"), f"{value:.3f}", help=METRIC_HELP.get(metric))
    agreement_line.show_case_line(root, row, checkpoint, agreement_metrics(model_map, gaze), gaze)
    agreement_line.show_split_line(root, checkpoint, lm, method)
    admin = state.is_admin()  # a visitor reads no server folder: relative ones, else placeholders
    st.caption("For the whole gaze subset: `python -m eclip.explain agreement --checkpoint "
               f"{paths.command_path(checkpoint, '<checkpoint>', admin)} "
               f"--data {paths.command_path(root, '<dataset>', admin)}`")
if not case.is_upload:
    localisation_line.show_split_localisation(root, checkpoint, lm, method)
if row is not None:
    st.caption(f"{cases.md_escape(row['findings'])}")
    if credit := cases.report_credit(row):
        st.caption(credit)
_shown_maps = {side_by_side.label(checkpoint): model_map,
               **({side_by_side.label(other[0]): other_map} if other else {})}
_export(case, image, gaze, _shown_maps, method, prompt, opacity, other[0] if other else None)
