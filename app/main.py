"""eCLIP Explorer: `streamlit run app/main.py`.

The entrypoint draws the sidebar (dataset, active model, provenance) and hands over to the
chosen page.

The page scripts live in app/views/, not app/pages/: a folder named ``pages`` beside the
entrypoint switches Streamlit into its old directory-based multipage mode, in which a first
visit to e.g. /admin runs that file alone, without this sidebar or st.navigation.
"""

from __future__ import annotations

import streamlit as st

from app import state  # the installed package (`pip install -e .`), whatever `streamlit run` put on sys.path
from eclip.locations import package_file

VIEWS = package_file("app", "views")  # page scripts Streamlit runs by path, shipped as package data

# (file in app/views/, title, icon); the first is the default page
PAGES = (
    ("explore.py", "Case browser", ":material/radiology:"),
    ("embeddings.py", "Embeddings", ":material/scatter_plot:"),
    ("zero_shot.py", "Zero-shot", ":material/label:"),
    ("retrieval.py", "Retrieval", ":material/manage_search:"),
    ("explain.py", "Model vs gaze", ":material/visibility:"),
    ("report.py", "Draft report", ":material/description:"),
    ("presenter.py", "Presenter", ":material/co_present:"),
    ("admin.py", "Admin: training", ":material/admin_panel_settings:"),
)


def pages() -> list:
    return [st.Page(str(VIEWS / file), title=title, icon=icon, default=i == 0)
            for i, (file, title, icon) in enumerate(PAGES)]


# The favicon is a file served by this app. A Material icon here (":material/…:") made the
# browser fetch its SVG from fonts.gstatic.com on every page: a failed request and a console
# error per page on an offline server. The pages' Material icons above are drawn from the
# font Streamlit bundles, and never become the favicon once this one is set (it is set first
# on every run); tests/app/test_e2e.py fails on any request that leaves 127.0.0.1.
FAVICON = package_file("app", "static", "favicon.png")
st.set_page_config(page_title="eCLIP Explorer", page_icon=str(FAVICON), layout="wide")
page = st.navigation(pages())
state.render_sidebar()
page.run()
