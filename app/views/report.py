"""Draft report: the image embedding retrieves similar training reports, KMeans picks
representative findings, a frozen LLM (Ollama, the embedded SmolLM2, or none) turns them
into a draft. Every draft is labelled "draft — not a diagnosis" and carries its provenance."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from eclip.report import CHOICES, DISCLAIMER, build_context, draft_for_pixels

from app import cases, index_job, loaders, state, widgets

BACKEND_HELP = {
    "auto": "Ollama when a server answers, else the embedded model",
    "ollama": "a local Ollama server (OLLAMA_HOST)",
    "embedded": "SmolLM2-135M-Instruct, shipped, offline (first use loads it, ~20 s)",
    "retrieval": "no language model: the retrieved findings themselves",
}


def _controls(ids: list[str]) -> dict:
    preferred = st.session_state.get("current_case")
    c1, c2, c3 = st.columns([1.2, 2.2, 1.2])
    case_id = c1.selectbox("Case", ids, key="rep_case",
                           index=ids.index(preferred) if preferred in ids else 0)
    backend = c2.radio("Backend", CHOICES, horizontal=True, key="rep_backend",
                       captions=None, help="; ".join(f"{k}: {v}" for k, v in BACKEND_HELP.items()))
    k = c3.slider("Retrieved reports (k)", 10, 200, 100, 10, key="rep_k")
    with st.expander("Ollama settings"):
        host = st.text_input("Host", value=os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434"),
                             key="rep_host")
        model = st.text_input("Model", value="llama3.2:1b", key="rep_model")
    return {"case_id": case_id, "backend": backend, "k": k,
            "options": {"host": host, "model": model}}


def _context_view(context) -> None:
    terms = pd.DataFrame([{"#": i + 1, "representative finding": t.text, "cluster size": t.cluster_size,
                           "similarity": round(t.similarity, 3), "from case": t.case_id}
                          for i, t in enumerate(context.terms)])
    st.markdown("**Retrieved context** (training reports nearest to this image, one per cluster)")
    st.dataframe(terms, hide_index=True)
    if context.findings:
        st.markdown("**Zero-shot findings**")
        st.markdown(" ".join(f":blue-badge[{cases.md_escape(n)} {p:.2f}]" for n, p in context.findings))


def _hard_breaks(stream, raw: list[str]):
    """Stream pieces as Markdown that keeps the draft's line breaks; ``raw`` collects the
    original text."""
    for piece in stream:
        raw.append(piece)
        yield cases.md_escape(piece).replace("\n", "  \n")


st.title("Draft report")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root)
splits = sorted(s for s in manifest["split"].unique() if s)
split = "test" if "test" in splits else (splits[0] if splits else "")
ids = manifest.loc[manifest["split"] == split, "id"].tolist() or manifest["id"].tolist()
st.caption(f"Cases of the `{split}` split: their own reports are never part of the "
           "retrieved context (only training reports are).")
choice = _controls(ids)
row = manifest.loc[manifest["id"] == choice["case_id"]].iloc[0]
left, right = st.columns([1, 2.3], gap="large")
with left:
    widgets.case_gallery(root, manifest.loc[[row.name]], columns=1)
    with st.expander("The radiologist's report"):
        st.markdown(cases.md_escape(row["findings"]) or "_no findings section_")
with right:
    if st.button("Draft report", type="primary", icon=":material/edit_note:", key="rep_go"):
        with state.eclip_errors("Try another backend, e.g. 'retrieval', which needs no model."):
            pixels = loaders.load_image(root, row["image_path"])
            with st.spinner("Retrieving similar reports…"):
                context = build_context(lm, index, manifest, pixels, k=choice["k"])
            _context_view(context)
            stream = draft_for_pixels(lm, index, manifest, pixels, backend=choice["backend"],
                                      fallback="retrieval", k=choice["k"], context=context,
                                      options=choice["options"])
            st.badge(DISCLAIMER, icon=":material/warning:", color="red")
            raw: list[str] = []
            with st.container(border=True):
                st.write_stream(_hard_breaks(stream, raw))
            text = "".join(raw)
            st.session_state["rep_last"] = {"case": choice["case_id"], "text": text,
                                            "provenance": stream.provenance.as_dict()}
    elif (last := st.session_state.get("rep_last")) and last["case"] == choice["case_id"]:
        st.badge(DISCLAIMER, icon=":material/warning:", color="red")
        with st.container(border=True):
            st.text(last["text"])
    else:
        st.caption("Press **Draft report** to retrieve context and draft.")
    last = st.session_state.get("rep_last")
    if last and last["case"] == choice["case_id"]:
        with st.expander("Provenance"):
            st.json(last["provenance"])
