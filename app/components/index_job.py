"""The embedding index a model page needs, and the build job as a page shows it.

A page calls ``require_index``; when the index is missing or stale the signed-in admin sees
what is wrong (with the server's folder), the command that builds it and a button that runs
it as a separate process (app.jobs.index_build) and polls its log until it is done. A
visitor sees that the index is missing and who can build it, never a server folder. A build is
heavy work: it waits for the server's heavy-job slot (app/jobs/slot.py) before it starts, and
holds it while its process lives.
"""

from __future__ import annotations

import streamlit as st

from app.components import heavy, loaders, state
from app.core import paths
from app.core.index_words import INDEX_NOT_READY
from app.jobs import index_build, launcher
from eclip.errors import EclipError
from eclip.index import IndexMissing, StaleIndex


def require_index(checkpoint: str, root: str, need_umap: bool = False):
    """The embedding index of ``checkpoint`` over ``root``. When it is missing or stale (or
    lacks the 2-D map a page needs) the page shows the command and offers to run it as a
    separate process."""
    try:
        index = loaders.load_index(checkpoint, root)
    except (IndexMissing, StaleIndex) as exc:
        st.warning(index_problem(exc), icon=":material/database:")
        _offer_index_build(checkpoint, root, umap=need_umap, force=isinstance(exc, StaleIndex))
        st.stop()
    except EclipError as exc:
        state.show_error(exc, "Choose another checkpoint or dataset in the sidebar.")
        st.stop()
    if need_umap and index.umap_image is None:
        st.info("This index has no 2-D map yet; computing it (UMAP, seeded) reuses the "
                "stored embeddings.", icon=":material/scatter_plot:")
        _offer_index_build(checkpoint, root, umap=True, force=False)
        st.stop()
    return index


def index_problem(exc: EclipError) -> str:
    """What is wrong with the index: for a visitor without the server's folders (shared
    server: folders are for the admin only); the admin reads the full message after it."""
    what = "is out of date" if isinstance(exc, StaleIndex) else "has not been built yet"
    head = f"{INDEX_NOT_READY} {what}."
    return f"{head} {exc}" if state.is_admin() else head


def _offer_index_build(checkpoint: str, root: str, umap: bool, force: bool) -> None:
    argv = index_build.command(checkpoint, root, loaders.index_cache_root(), umap=umap, force=force)
    if state.is_admin():  # the command names the server's folders
        st.code("python " + " ".join(argv[1:]), language="bash")
    _index_job(checkpoint, root, argv)


def _index_job(checkpoint: str, root: str, argv: list[str]) -> None:
    jobs = paths.runs_root()
    name = index_build.job_name(checkpoint, root)
    rec = launcher.load_launch(jobs, name)
    if rec is not None and launcher.is_alive(rec):
        _index_job_progress(str(jobs), name)
        return
    if rec is not None and rec.argv == argv and state.is_admin():
        log_tail = launcher.tail(rec.log, 1500)
        if log_tail.strip():
            with st.expander("Log of the last build attempt"):
                st.code(log_tail, language="text")
    if not state.is_admin():
        st.caption("Building the index is a long job on this server: an admin can start it "
                   "from here after signing in on the **Admin** page.")
        return
    if st.button("Build the index now", icon=":material/play_arrow:", key="build_index",
                 help="Runs the command above as a separate process; this page reloads when "
                      "it is done."):
        with heavy.heavy_job(heavy.INDEX_BUILD):  # once launched, its record holds the slot
            index_build.start(jobs, name, argv)
        st.rerun()


@st.fragment(run_every=2.0)
def _index_job_progress(jobs: str, name: str) -> None:
    rec = launcher.load_launch(jobs, name)
    if rec is None or not launcher.is_alive(rec):
        st.rerun()  # finished: reload the whole page, which now finds the index
    st.info("Building the index in a separate process…", icon=":material/hourglass_top:")
    st.code(launcher.tail(rec.log, 800) or "(starting)", language="text")
