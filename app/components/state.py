"""Session-wide choices made in the sidebar (dataset, active model) and how pages read them.

The sidebar is drawn by main.py on every run, before the page, so pages can rely on
``current_dataset()`` / ``current_checkpoint()``.
"""

from __future__ import annotations

import contextlib
import logging

import pandas as pd
import streamlit as st

from eclip.errors import EclipError
from eclip.model.card import GazeEffect

from app.core import paths
from app.components import loaders

log = logging.getLogger(__name__)
_DATA_KEY = "dataset_choice"
_DATA_OTHER_KEY = "dataset_other"
_MODEL_KEY = "model_choice"
_COMPARE_KEY = "compare_choice"
# The paper's comparison: eCLIP against the same model trained with the expert path off.
PARTNERS = {"checkpoints/demo-eclip": "checkpoints/demo-clip",
            "checkpoints/demo-clip": "checkpoints/demo-eclip"}
ADMIN_KEY = "admin_ok"  # set by the Admin page after a correct password


def is_admin() -> bool:
    """Signed in on the Admin page in this browser session. Anything that reads arbitrary
    server folders or starts long jobs is offered only then: demo visitors share the server."""
    return bool(st.session_state.get(ADMIN_KEY))


def visible(text) -> str:
    """``text`` (an error message) as this session may read it: whole for the admin; for a
    visitor without the server's folders outside the repository (``paths.redact_folders``)."""
    return str(text) if is_admin() else paths.redact_folders(str(text))


def show_error(exc: Exception, hint: str | None = None) -> None:
    """A library error as a message a person can act on, never a traceback; a visitor reads
    it without the server's folders outside the repository (``visible``)."""
    st.error(visible(exc), icon=":material/error:")
    if hint:
        st.caption(hint)


@contextlib.contextmanager
def eclip_errors(hint: str | None = None):
    """Show EclipError raised inside the block with st.error and stop the page."""
    try:
        yield
    except EclipError as exc:
        log.info("shown to user: %s", exc)
        show_error(exc, hint)
        st.stop()


def current_dataset() -> str:
    other = (st.session_state.get(_DATA_OTHER_KEY) or "").strip() if is_admin() else ""
    return other or st.session_state.get(_DATA_KEY) or paths.default_dataset()


def current_checkpoint() -> str | None:
    choice = st.session_state.get(_MODEL_KEY) or paths.default_checkpoint()
    return None if choice == paths.NO_MODEL else choice


def compare_key(active: str) -> str:
    """The sidebar key of the 'compare with' choice. Each active model has its own, so a
    switch of active model falls back to that model's partner instead of comparing a model
    with itself."""
    return f"{_COMPARE_KEY}:{active}"


def default_compare(active: str | None) -> str:
    """The active model's natural partner when it is there (demo-eclip <-> demo-clip), else none."""
    partner = PARTNERS.get(paths.display(active)) if active else None
    return partner if partner and paths.is_checkpoint(paths.resolve(partner)) else paths.NO_MODEL


def compare_checkpoint() -> str | None:
    """The checkpoint the model pages show beside the active one, or None (off, no active
    model, or the active model itself)."""
    active = current_checkpoint()
    if active is None:
        return None
    choice = st.session_state.get(compare_key(active)) or default_compare(active)
    off = choice == paths.NO_MODEL or paths.resolve(choice) == paths.resolve(active)
    return None if off else choice


def require_dataset() -> tuple[str, pd.DataFrame]:
    """The chosen dataset folder and its manifest, or an explanation and st.stop()."""
    root = paths.resolve(current_dataset())
    if not (root / "manifest.csv").is_file():
        st.error(f"No dataset at `{_folder_label(str(root))}` (no manifest.csv there).",
                 icon=":material/folder_off:")
        st.markdown(paths.BUILD_DEMO_HINT)
        st.code("make run\n# or\npython -m eclip.data build-demo --n 2000 --out data/demo",
                language="bash")
        st.stop()
    with eclip_errors("Check the dataset folder chosen in the sidebar."):
        return str(root), loaders.load_manifest(root)


def _index_of(options: list[str], value: str) -> int:
    return options.index(value) if value in options else 0


def render_sidebar() -> None:
    with st.sidebar:
        st.subheader("Dataset")
        options = paths.dataset_candidates()
        st.selectbox("Dataset folder", options, index=_index_of(options, paths.default_dataset()),
                     key=_DATA_KEY, format_func=_folder_label, help=f"Folders under data/ with a manifest.csv; "
                     f"the default comes from ${paths.DATA_ENV}.")
        if is_admin():
            st.caption(f"`{paths.resolve(current_dataset())}`")
            st.text_input("…or another folder", key=_DATA_OTHER_KEY, placeholder="/path/to/dataset")
        info = _render_provenance()
        st.divider()
        st.subheader("Model")
        models = paths.checkpoint_candidates()
        st.selectbox("Active checkpoint", models, key=_MODEL_KEY, format_func=_folder_label,
                     index=_index_of(models, paths.default_checkpoint()),
                     help=f"Folders under checkpoints/; the default comes from "
                     f"${paths.CHECKPOINT_ENV}. 'none' browses data only.")
        _render_model_card(info)
        _render_compare_choice()


def _folder_label(path: str) -> str:
    """A folder as the lists show it: never a server folder outside the repository
    (``$ECLIP_DATA=/mnt/...`` shows as its name; the admin sees the whole path under the
    list). The same for everyone: a label that changed at sign-in would reset the choice."""
    return path if path == paths.NO_MODEL else paths.visitor_label(path)


def _render_provenance() -> loaders.DatasetInfo | None:
    """The dataset's counts and fingerprint under its list; returns them (None when there is
    no readable dataset) for the model card's "trained on other data" check."""
    root = paths.resolve(current_dataset())
    if not (root / "manifest.csv").is_file():
        st.warning(f"No dataset at `{_folder_label(str(root))}`.", icon=":material/folder_off:")
        return None
    try:
        info = loaders.dataset_info(root)
    except EclipError as exc:
        show_error(exc)
        return None
    if info.simulated == info.rows and info.rows:
        st.badge("SIMULATED data", icon=":material/science:", color="orange")
    elif info.simulated:
        st.badge(f"partly SIMULATED data ({info.simulated} of {info.rows} rows)",
                 icon=":material/science:", color="orange")
    st.caption(f"**{info.rows}** cases · **{info.with_gaze}** with gaze  \n"
               f"fingerprint `{info.fingerprint}`")
    return info


def _render_model_card(info: loaders.DatasetInfo | None) -> None:
    """The active model's card; ``info``: the sidebar's dataset as ``_render_provenance`` read it."""
    ck = current_checkpoint()
    if ck is None:
        st.caption("No model: pages that need one say so.")
        return
    path = paths.resolve(ck)
    if not paths.is_checkpoint(path):
        st.warning(f"`{_folder_label(str(path))}` is not a checkpoint folder "
                   "(needs config.json and model.safetensors).")
        return
    card = loaders.load_card(path)
    facts = [f"{k}: `{card[k]}`" for k in ("arch", "mode", "steps", "created_at") if k in card]
    if card.get("gaze"):
        facts.insert(min(2, len(facts)), f"gaze in training: {card['gaze']}")
    data_fp = card.get("data_fingerprint")
    if data_fp:
        facts.append(f"trained on data `{data_fp}`")
    st.caption("  \n".join(facts) or "card.json missing: provenance unknown.")
    if data_fp and info is not None and info.fingerprint != data_fp:
        st.caption(":orange[This model was trained on other data than the dataset shown.]")
    gaze_answer(card)


def gaze_answer(card: dict) -> None:
    """The seeds experiment's answer on the card (``eclip evaluate card --gaze-seeds``), under
    its question; nothing for a card without one. Whatever it says, a reader of the model sees it."""
    answered = gaze_question_and_answer(card)
    if answered is not None:
        question, answer = answered
        st.markdown(f"**{question}**")
        st.caption(answer)


def gaze_question_and_answer(card: dict) -> tuple[str, str] | None:
    """(the question, the card's answer to it) as every reader of the model sees them (the
    sidebar, the Presenter, an exported case report); None for a card without one."""
    effect = GazeEffect.from_dict(card.get("gaze_effect"))
    return None if effect is None else ("Does gaze help?", effect.sentence)


def _render_compare_choice() -> None:
    active = current_checkpoint()
    if active is None:
        return
    active_path = paths.resolve(active)
    options = [c for c in paths.checkpoint_candidates()
               if c == paths.NO_MODEL or paths.resolve(c) != active_path]
    st.selectbox("Compare with", options, key=compare_key(active),
                 index=_index_of(options, default_compare(active)),
                 help="A second checkpoint shown beside the active one on Model vs gaze, "
                      "Zero-shot, Retrieval and Embeddings. 'none' turns the comparison off.")


# --------------------------------------------------------------------------- model pages
def require_model():
    """(checkpoint folder, LoadedModel) of the sidebar's active model, or a message + stop."""
    ck = current_checkpoint()
    if ck is None:
        st.info("This page needs a model: choose a checkpoint under **Model** in the sidebar.",
                icon=":material/neurology:")
        st.stop()
    path = paths.resolve(ck)
    with eclip_errors("Choose another checkpoint in the sidebar."):
        return str(path), loaders.load_model(path)
