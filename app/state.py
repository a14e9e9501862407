"""Session-wide choices made in the sidebar (dataset, active model) and how pages read them.

The sidebar is drawn by main.py on every run, before the page, so pages can rely on
``current_dataset()`` / ``current_checkpoint()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys

import pandas as pd
import streamlit as st

from eclip.errors import EclipError

from app import loaders, paths, runs

log = logging.getLogger(__name__)
_DATA_KEY = "dataset_choice"
_DATA_OTHER_KEY = "dataset_other"
_MODEL_KEY = "model_choice"
ADMIN_KEY = "admin_ok"  # set by the Admin page after a correct password


def is_admin() -> bool:
    """Signed in on the Admin page in this browser session. Anything that reads arbitrary
    server folders or starts long jobs is offered only then: demo visitors share the server."""
    return bool(st.session_state.get(ADMIN_KEY))


def show_error(exc: Exception, hint: str | None = None) -> None:
    """A library error as a message a person can act on, never a traceback."""
    st.error(str(exc), icon=":material/error:")
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


def require_dataset() -> tuple[str, pd.DataFrame]:
    """The chosen dataset folder and its manifest, or an explanation and st.stop()."""
    root = paths.resolve(current_dataset())
    if not (root / "manifest.csv").is_file():
        st.error(f"No dataset at `{paths.display(root)}` (no manifest.csv there).",
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
                     key=_DATA_KEY, help=f"Folders under data/ with a manifest.csv; "
                     f"the default comes from ${paths.DATA_ENV}.")
        if is_admin():
            st.text_input("…or another folder", key=_DATA_OTHER_KEY, placeholder="/path/to/dataset")
        _render_provenance()
        st.divider()
        st.subheader("Model")
        models = paths.checkpoint_candidates()
        st.selectbox("Active checkpoint", models, key=_MODEL_KEY,
                     index=_index_of(models, paths.default_checkpoint()),
                     help=f"Folders under checkpoints/; the default comes from "
                     f"${paths.CHECKPOINT_ENV}. 'none' browses data only.")
        _render_model_card()


def _render_provenance() -> None:
    root = paths.resolve(current_dataset())
    if not (root / "manifest.csv").is_file():
        st.warning(f"No dataset at `{paths.display(root)}`.", icon=":material/folder_off:")
        return
    try:
        info = loaders.dataset_info(root)
    except EclipError as exc:
        st.error(str(exc))
        return
    if info.simulated == info.rows and info.rows:
        st.badge("SIMULATED data", icon=":material/science:", color="orange")
    elif info.simulated:
        st.badge(f"partly SIMULATED data ({info.simulated} of {info.rows} rows)",
                 icon=":material/science:", color="orange")
    st.caption(f"**{info.rows}** cases · **{info.with_gaze}** with gaze  \n"
               f"fingerprint `{info.fingerprint}`")


def _render_model_card() -> None:
    ck = current_checkpoint()
    if ck is None:
        st.caption("No model: pages that need one say so.")
        return
    path = paths.resolve(ck)
    if not paths.is_checkpoint(path):
        st.warning(f"`{paths.display(path)}` is not a checkpoint folder "
                   "(needs config.json and model.safetensors).")
        return
    card = loaders.load_card(path)
    facts = [f"{k}: `{card[k]}`" for k in ("arch", "mode", "steps", "created_at") if k in card]
    data_fp = card.get("data_fingerprint")
    if data_fp:
        facts.append(f"trained on data `{data_fp}`")
    st.caption("  \n".join(facts) or "card.json missing: provenance unknown.")
    root = paths.resolve(current_dataset())
    if data_fp and (root / "manifest.csv").is_file():
        with contextlib.suppress(EclipError, OSError):
            if loaders.dataset_info(root).fingerprint != data_fp:
                st.caption(":orange[This model was trained on other data than the dataset shown.]")


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


def require_index(checkpoint: str, root: str, need_umap: bool = False):
    """The embedding index of ``checkpoint`` over ``root``. When it is missing or stale (or
    lacks the 2-D map a page needs) the page shows the command and offers to run it as a
    separate process."""
    from eclip.index import IndexMissing, StaleIndex

    try:
        index = loaders.load_index(checkpoint, root)
    except (IndexMissing, StaleIndex) as exc:
        st.warning(str(exc), icon=":material/database:")
        _offer_index_build(checkpoint, root, umap=need_umap, force=isinstance(exc, StaleIndex))
        st.stop()
    except EclipError as exc:
        show_error(exc, "Choose another checkpoint or dataset in the sidebar.")
        st.stop()
    if need_umap and index.umap_image is None:
        st.info("This index has no 2-D map yet; computing it (UMAP, seeded) reuses the "
                "stored embeddings.", icon=":material/scatter_plot:")
        _offer_index_build(checkpoint, root, umap=True, force=False)
        st.stop()
    return index


def _offer_index_build(checkpoint: str, root: str, umap: bool, force: bool) -> None:
    argv = [sys.executable, "-m", "eclip.index", "build", "--checkpoint", str(checkpoint),
            "--data", str(root), "--cache", str(loaders.index_cache_root())]
    argv += ([] if umap else ["--no-umap"]) + (["--force"] if force else [])
    st.code("python " + " ".join(argv[1:]), language="bash")
    _index_job(checkpoint, root, argv)


def _index_job_name(checkpoint: str, root: str) -> str:
    key = hashlib.sha256(f"{checkpoint}|{root}".encode()).hexdigest()[:12]
    return f"index-{key}"


def _index_job(checkpoint: str, root: str, argv: list[str]) -> None:
    jobs = paths.runs_root()
    name = _index_job_name(checkpoint, root)
    rec = runs.load_launch(jobs, name)
    if rec is not None and runs.is_alive(rec):
        _index_job_progress(str(jobs), name)
        return
    if rec is not None and rec.argv == argv:
        log_tail = runs.tail(rec.log, 1500)
        if log_tail.strip():
            with st.expander("Log of the last build attempt"):
                st.code(log_tail, language="text")
    if not is_admin():
        st.caption("Building the index is a long job on this server: sign in on the **Admin** "
                   "page to start it from here, or run the command above in a terminal.")
        return
    if st.button("Build the index now", icon=":material/play_arrow:", key="build_index",
                 help="Runs the command above as a separate process; this page reloads when "
                      "it is done."):
        runs.launch(jobs, name, argv)
        st.rerun()


@st.fragment(run_every=2.0)
def _index_job_progress(jobs: str, name: str) -> None:
    rec = runs.load_launch(jobs, name)
    if rec is None or not runs.is_alive(rec):
        st.rerun()  # finished: reload the whole page, which now finds the index
    st.info("Building the index in a separate process…", icon=":material/hourglass_top:")
    st.code(runs.tail(rec.log, 800) or "(starting)", language="text")
