"""eCLIP Explorer: `streamlit run app/main.py`.

The entrypoint draws the sidebar (dataset, active model, provenance) and hands over to the
chosen page. Pages for the model-based features appear only once their library modules exist,
so nothing in the navigation is a stub.

The page scripts live in app/views/, not app/pages/: a folder named ``pages`` beside the
entrypoint switches Streamlit into its old directory-based multipage mode, in which a first
visit to e.g. /admin runs that file alone, without this sidebar or st.navigation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR.parent) not in sys.path:  # `streamlit run` puts app/ on the path, not the repo
    sys.path.insert(0, str(APP_DIR.parent))

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

# (file, title, icon, library module that must exist for the page to be listed)
PAGES = (
    ("explore.py", "Case browser", ":material/radiology:", None),
    ("embeddings.py", "Embeddings", ":material/scatter_plot:", "eclip.index"),
    ("zero_shot.py", "Zero-shot", ":material/label:", "eclip.evaluate"),
    ("retrieval.py", "Retrieval", ":material/manage_search:", "eclip.index"),
    ("explain.py", "Model vs gaze", ":material/visibility:", "eclip.explain"),
    ("report.py", "Draft report", ":material/description:", "eclip.report"),
    ("admin.py", "Admin: training", ":material/admin_panel_settings:", None),
)


def _module_exists(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    # An empty folder is a namespace package (origin None): not an implementation yet.
    return spec is not None and spec.origin is not None


def available_pages() -> list:
    pages = []
    for file, title, icon, needs in PAGES:
        path = APP_DIR / "views" / file
        if path.is_file() and (needs is None or _module_exists(needs)):
            pages.append(st.Page(str(path), title=title, icon=icon, default=not pages))
    return pages


st.set_page_config(page_title="eCLIP Explorer", page_icon=":material/radiology:", layout="wide")
page = st.navigation(available_pages())
state.render_sidebar()
page.run()
