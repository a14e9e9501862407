"""Draft report: the image embedding retrieves similar training reports, KMeans picks
representative findings, a frozen LLM (Ollama, the embedded model, or none) turns them
into a draft. Every draft is labelled "draft — not a diagnosis", carries its provenance and
is checked against the zero-shot findings shown beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from eclip.report import (CHOICES, DISCLAIMER, build_context, check_draft, draft_for_pixels,
                          load_settings)
from eclip.report.embedded import find_model, warm_up
from eclip.report.ollama_backend import DEFAULT_HOST, OllamaBackend
from eclip.report.settings import ReportSettings

from app.core import cases
from app.components import draft_check, heavy, index_job, model_reads, report_export, state, widgets
from app.components.case import current_case, loader, model_notes, picker

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

# the draft beside its checks: at 1280 px a third of the column left the checks' cards a word a line
CHECK_SPLIT = [3, 2]


def _backend_help(settings) -> str:
    return "; ".join(f"{k}: {v}" for k, v in {
        "auto": "Ollama when a server answers, else the embedded model",
        "ollama": "the Ollama server configured for this app",
        "embedded": f"{find_model(settings.embedded_model).title}, shipped, offline "
                    "(loaded once per server)",
        "retrieval": "no language model: the retrieved findings themselves",
    }.items())


def _ollama_options(settings) -> dict:
    """Host and model: the server's settings; only a signed-in admin may change them (for
    this session), since the server connects to whatever address is given here."""
    host, model = settings.host or DEFAULT_HOST, settings.model
    if not state.is_admin():  # never the host: a visitor reads no server address
        if settings.host is None and model == ReportSettings.model:
            st.caption("No Ollama server is configured for this app: **auto** drafts with the "
                       "embedded model unless one answers, **ollama** falls back to the retrieved findings.")
        else:
            st.caption(f"Ollama model `{model}` (its server is set by the admin)")
        return {}
    with st.expander("Ollama settings (admin)"):
        host = st.text_input("Host", value=host, key="rep_host")
        model = st.text_input("Model", value=model, key="rep_model")
    return {"host": host.strip() or None, "model": model.strip() or None}


def _controls(ids: list[str], manifest: pd.DataFrame, split: str, settings) -> dict:
    c1, c2, c3 = st.columns([1.2, 2.2, 1.2])
    case_id = picker.select(c1, ids, "rep_case", manifest=manifest,
                                 scope=f"this page drafts the `{split}` split's cases, so that no "
                                       "case retrieves its own report")
    backend = c2.radio("Backend", CHOICES, horizontal=True, key="rep_backend",
                       index=CHOICES.index(settings.backend), help=_backend_help(settings))
    k = c3.slider("Retrieved reports (k)", 10, 200, settings.k, 10, key="rep_k")
    options = {**settings.options(), **{k: v for k, v in _ollama_options(settings).items() if v}}
    return {"case_id": case_id, "backend": backend, "k": k, "options": options,
            "hosts": (OllamaBackend(host=options.get("host")).host, DEFAULT_HOST)}


def _context_view(context) -> None:
    terms = pd.DataFrame([{"#": i + 1, "representative finding": t.text, "cluster size": t.cluster_size,
                           "similarity": round(t.similarity, 3), "from case": t.case_id}
                          for i, t in enumerate(context.terms)])
    st.markdown("**Retrieved context** (training reports nearest to this image, one per cluster)")
    st.dataframe(terms, hide_index=True)
    draft_check.probabilities(context.findings, context.zero_shot, context.calibration)


def _hard_breaks(stream, raw: list[str], hosts: tuple):
    """Stream pieces as Markdown that keeps the draft's line breaks (a visitor's without the
    Ollama host its footer may name); ``raw`` collects the original text."""
    for piece in stream:
        raw.append(piece)
        yield cases.md_escape(report_export.for_visitor(piece, hosts)).replace("\n", "  \n")


def _load_first(backend) -> None:
    """Load the model before streaming, with a word about it, so the page never sits on an
    empty "FINDINGS:" while ~200 MB of weights are read."""
    message = backend.loading_message()
    if message:
        with st.status(message) as status:
            seconds = backend.prepare()
            status.update(label=f"Embedded language model loaded ({seconds:.0f} s)", state="complete")


def _draft(sources: tuple, context, pixels, choice) -> None:
    """Stream the draft for ``pixels`` from (model, index, manifest) ``sources``, then
    check it against the zero-shot findings of its ``context``."""
    stream = draft_for_pixels(*sources, pixels, backend=choice["backend"],
                              fallback="retrieval", k=choice["k"], context=context,
                              options=choice["options"])
    # the embedded LLM loads and generates in this server's process: one draft at a time
    with heavy.heavy_job("embedded-LLM draft", when=stream.selection.backend.name == "embedded"):
        _load_first(stream.selection.backend)
        text_col, check_col = st.columns(CHECK_SPLIT, gap="medium")
        with text_col:
            st.badge(DISCLAIMER, icon=":material/warning:", color="red")
            raw: list[str] = []
            with st.container(border=True):
                st.write_stream(_hard_breaks(stream, raw, choice["hosts"]))
    evidence = check_draft(stream.text, context.zero_shot).as_dict()
    with check_col:
        draft_check.evidence_view(evidence)
    # as drafted (the admin's to read); pages and exports show it through report_export
    st.session_state["rep_last"] = {"case": choice["case_id"], "text": "".join(raw), "hosts": choice["hosts"],
                                    "provenance": stream.provenance.as_dict(), "evidence": evidence}


def _last_draft(last: dict) -> None:
    text_col, check_col = st.columns(CHECK_SPLIT, gap="medium")
    with text_col:
        st.badge(DISCLAIMER, icon=":material/warning:", color="red")
        with st.container(border=True):
            st.text(report_export.for_visitor(last["text"], last.get("hosts", ())))
    with check_col:
        draft_check.evidence_view(last["evidence"])


def _export(case, checkpoint: str, lm: LoadedModel) -> None:
    """Export case report: the film, its zero-shot scores and, once drafted, the draft with
    its evidence and provenance."""
    draft = report_export.last_draft(case.id)
    token = f"{case.image_id}|{hash(draft.text) if draft else ''}"
    report_export.export_control("rep", token, lambda: report_export.build(
        case, "Draft report", [report_export.figure("Radiograph", case.pixels)], checkpoint=checkpoint, lm=lm))


st.title("Draft report")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root)
splits = sorted(s for s in manifest["split"].unique() if s)
split = "test" if "test" in splits else (splits[0] if splits else "")
ids = manifest.loc[manifest["split"] == split, "id"].tolist() or manifest["id"].tolist()
with state.eclip_errors("Fix the report settings (ECLIP_REPORT_* variables) and reload."):
    settings = load_settings()
choice = _controls(ids, manifest, split, settings)
if choice["case_id"] == current_case.UPLOAD_ID:
    st.caption("Your uploaded image: the retrieved context comes from this dataset's training reports.")
else:
    st.caption(f"Cases of the `{split}` split: their own reports are never part of the "
               "retrieved context (only training reports are).")
if settings.warm_up and choice["backend"] in ("auto", "embedded"):
    warm_up(settings.embedded_model)  # once per server, in the background: the first draft waits less
with state.eclip_errors("Upload the image again on the Case browser, or pick a case."):
    case = loader.load(root, manifest, choice["case_id"])
model_notes.simulated_banner(checkpoint, case)
left, right = st.columns([1, 3], gap="large")
with left:
    if case.is_upload:
        st.image(case.pixels, width="stretch", clamp=True, caption=current_case.UPLOAD_ID)
    else:
        widgets.case_gallery(root, manifest.loc[[case.row.name]], columns=1)
        with st.expander("The radiologist's report"):
            st.markdown(cases.md_escape(case.row["findings"]) or "_no findings section_")
            if credit := cases.report_credit(case.row):
                st.caption(credit)
    model_reads.stated(case)
with right:
    if st.button("Draft report", type="primary", icon=":material/edit_note:", key="rep_go"):
        with state.eclip_errors("Try another backend, e.g. 'retrieval', which needs no model."):
            pixels = case.pixels
            with st.spinner("Retrieving similar reports…"):
                context = build_context(lm, index, manifest, pixels, k=choice["k"])
            _context_view(context)
            _draft((lm, index, manifest), context, pixels, choice)
    elif (last := st.session_state.get("rep_last")) and last["case"] == choice["case_id"]:
        _last_draft(last)
    else:
        st.caption("Press **Draft report** to retrieve context and draft.")
    last = st.session_state.get("rep_last")
    if last and last["case"] == choice["case_id"]:
        with st.expander("Provenance"):
            st.json(report_export.shown_provenance(last["provenance"], last.get("hosts", ())))
    _export(case, checkpoint, lm)
