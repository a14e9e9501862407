"""Model vs radiologist: where the active model finds support for a text prompt in the
image (attribution map), beside where the radiologist looked (gaze heatmap), and how well
the two agree (Pearson CC, NSS, KL divergence, AUC-Judd)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eclip.evaluate.saliency import agreement_metrics, is_flat
from eclip.explain import attribution_map, supported_methods

from app import cases, loaders, state
from app.overlay import overlay_figure

METHOD_NAMES = {"gradcam": "Grad-CAM (fast)", "rollout": "Attention rollout (fast, ViT)",
                "integrated_gradients": "Integrated gradients (slow)"}
METRIC_HELP = {"cc": "Pearson correlation (1 = identical)", "nss": "normalised scanpath "
               "saliency (higher is better)", "kl": "KL divergence gaze ‖ map (lower is better)",
               "auc_judd": "AUC-Judd: the map ranks fixated pixels first (1 is perfect)"}


def _default_prompt(row: pd.Series) -> str:
    found = [lab for lab in cases.positive_labels(row) if lab != "No Finding"]
    return f"{found[0]}." if found else (row["findings"].split(".")[0] + ".")


st.title("Model vs gaze")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
c1, c2, c3 = st.columns([1.1, 2.2, 1.5])
only_gaze = c1.toggle("Only cases with gaze", value=bool(cases.has_gaze(manifest).any()),
                      key="xp_gaze_only")
pool = manifest[cases.has_gaze(manifest)] if only_gaze else manifest
ids = pool["id"].tolist()
if not ids:
    st.info("No case to explain with these settings.")
    st.stop()
preferred = st.session_state.get("current_case")
case_id = c1.selectbox("Case", ids, key="xp_case", index=ids.index(preferred) if preferred in ids else 0)
row = pool.loc[pool["id"] == case_id].iloc[0]
if st.session_state.get("xp_prompt_for") != case_id:  # a new case gets its own default prompt
    st.session_state["xp_prompt"] = _default_prompt(row)
    st.session_state["xp_prompt_for"] = case_id
prompt = c2.text_input("Text prompt (the map explains image ↔ prompt similarity)", key="xp_prompt")
methods = supported_methods(lm)
method = c3.selectbox("Method", methods, format_func=lambda m: METHOD_NAMES.get(m, m), key="xp_method")
if method == "integrated_gradients" and not st.toggle(
        "Compute integrated gradients (32 passes, takes a while on CPU)", key="xp_ig_ok"):
    st.stop()

with state.eclip_errors("Try another method or prompt."):
    image = loaders.load_image(root, row["image_path"])
    gaze = loaders.load_heatmap(root, row["gaze_path"], image.shape) if row["gaze_path"] else None
    with st.spinner("Computing the attribution map…"):
        model_map = attribution_map(lm, image, prompt.strip() or ".", method, image_id=f"{root}:{case_id}")

opacity = st.slider("Opacity", 0.0, 1.0, 0.55, 0.05, key="xp_opacity")
left, right = st.columns(2, gap="medium")
with left:
    st.markdown("**Radiologist gaze**")
    if gaze is None:
        st.info("No gaze for this case.", icon=":material/visibility_off:")
    st.plotly_chart(overlay_figure(image, gaze, opacity=opacity, height=420), key="xp_gaze",
                    theme=None, config={"displaylogo": False})
with right:
    st.markdown(f"**Model: {METHOD_NAMES.get(method, method)}**")
    st.plotly_chart(overlay_figure(image, model_map, opacity=opacity, colour_scale="Jet", height=420),
                    key="xp_model", theme=None, config={"displaylogo": False})
flat_map = is_flat(model_map)
if flat_map:  # Grad-CAM's ReLU zeroes a map with no positive evidence; it scores chance
    st.warning("The map is flat: this method found no image region that raises the similarity "
               "to this prompt. Try another prompt (e.g. a finding named in the report) or "
               "another method.", icon=":material/blur_off:")
if gaze is not None:
    scores = agreement_metrics(model_map, gaze)
    cols = st.columns(len(scores))
    for col, (name, value) in zip(cols, scores.items()):
        col.metric(name.upper().replace("_", "-"), f"{value:.3f}", help=METRIC_HELP.get(name))
    st.caption("For the whole gaze subset: `python -m eclip.explain agreement --checkpoint "
               f"{checkpoint} --data {root}`")
st.caption(f"{cases.md_escape(row['findings'])}")
