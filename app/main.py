"""eCLIP Explorer: `streamlit run app/main.py`.

The entrypoint draws the sidebar (dataset, active model, provenance) and hands over to the
chosen page.

The page scripts live in app/views/, not app/pages/: a folder named ``pages`` beside the
entrypoint switches Streamlit into its old directory-based multipage mode, in which a first
visit to e.g. /admin runs that file alone, without this sidebar or st.navigation.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR.parent) not in sys.path:  # `streamlit run` puts app/ on the path, not the repo
    sys.path.insert(0, str(APP_DIR.parent))

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

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
    return [st.Page(str(APP_DIR / "views" / file), title=title, icon=icon, default=i == 0)
            for i, (file, title, icon) in enumerate(PAGES)]


# The favicon is a file served by this app. A Material icon here (":material/…:") made the
# browser fetch its SVG from fonts.gstatic.com on every page: a failed request and a console
# error per page on an offline server. The pages' Material icons above are drawn from the
# font Streamlit bundles, and never become the favicon once this one is set (it is set first
# on every run); tests/app/test_e2e.py fails on any request that leaves 127.0.0.1.
FAVICON = APP_DIR / "static" / "favicon.png"
st.set_page_config(page_title="eCLIP Explorer", page_icon=str(FAVICON), layout="wide")
page = st.navigation(pages())
state.render_sidebar()
page.run()
