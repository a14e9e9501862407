"""eCLIP Explorer: `streamlit run app/main.py`.

The entrypoint draws the sidebar (dataset, active model, provenance) and hands over to the
chosen page.

The page scripts live in app/views/, not app/pages/: a folder named ``pages`` beside the
entrypoint switches Streamlit into its old directory-based multipage mode, in which a first
visit to e.g. /admin runs that file alone, without this sidebar or st.navigation.
"""

from __future__ import annotations

import streamlit as st

from app.components import state  # the installed package (`pip install -e .`), whatever `streamlit run` put on sys.path
from app.server.serve import logged_run
from eclip.locations import package_file

VIEWS = package_file("app", "views")  # page scripts Streamlit runs by path, shipped as package data

# Sidebar section -> its pages (file in app/views/, title, icon); the first page is the default
SECTIONS = {
    "Cases": (
        ("explore.py", "Case browser", ":material/radiology:"),
    ),
    "Model": (
        ("embeddings.py", "Embeddings", ":material/scatter_plot:"),
        ("zero_shot.py", "Zero-shot", ":material/label:"),
        ("retrieval.py", "Retrieval", ":material/manage_search:"),
        ("explain.py", "Model vs gaze", ":material/visibility:"),
        ("report.py", "Draft report", ":material/description:"),
    ),
    "Demo": (
        ("presenter.py", "Presenter", ":material/co_present:"),
    ),
    "Admin": (
        ("admin.py", "Admin: training", ":material/admin_panel_settings:"),
    ),
}
PAGES = tuple(page for section in SECTIONS.values() for page in section)


def pages() -> dict[str, list]:
    """``st.navigation``'s sections: their headings in the sidebar, the pages under each."""
    first = PAGES[0]
    return {section: [st.Page(str(VIEWS / file), title=title, icon=icon, default=(file, title, icon) == first)
                      for file, title, icon in listed]
            for section, listed in SECTIONS.items()}


# The favicon is a file served by this app. A Material icon here (":material/…:") made the
# browser fetch its SVG from fonts.gstatic.com on every page: a failed request and a console
# error per page on an offline server. The pages' Material icons above are drawn from the
# font Streamlit bundles, and never become the favicon once this one is set (it is set first
# on every run); tests/app/test_e2e.py fails on any request that leaves 127.0.0.1.
FAVICON = package_file("app", "static", "favicon.png")
# logged_run: the run's own seconds, for a tool that measures the server ($ECLIP_RUN_LOG;
# benchmarks/app_load.py); nothing without it.
with logged_run():
    st.set_page_config(page_title="eCLIP Explorer", page_icon=str(FAVICON), layout="wide")
    page = st.navigation(pages())
    state.render_sidebar()
    page.run()
