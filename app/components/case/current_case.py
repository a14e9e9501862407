"""The current case: chosen once, followed by every page, and linked from the address bar
(``?case=ID``). A link this session has not followed yet opens its case; choosing a case
writes it back to the address bar (an upload cannot be linked: it lives in one session).
"""

from __future__ import annotations

import streamlit as st


UPLOAD_ID = "uploaded image"
CURRENT = "current_case"  # survives page switches (widget keys are dropped off-page)
QUERY = "case"  # ?case=ID
_URL_SEEN = "_url_case"  # the last ?case= this session followed or wrote


def current_id() -> str | None:
    return st.session_state.get(CURRENT)


def set_current(case_id: str) -> None:
    """Make ``case_id`` the case every page opens on, and put it in the address bar."""
    st.session_state[CURRENT] = case_id
    if case_id == UPLOAD_ID:  # an upload cannot be linked: it lives in this session only
        st.query_params.pop(QUERY, None)
        st.session_state[_URL_SEEN] = None
        return
    if st.query_params.get(QUERY) != case_id:
        st.query_params[QUERY] = case_id
    st.session_state[_URL_SEEN] = case_id


def follow_url(widget_key: str | None = None) -> str | None:
    """A ``?case=`` this session has not followed yet becomes the current case (and resets
    the page's case widget ``widget_key`` so it shows that case); returns it, else None."""
    wanted = pending_link()
    if not wanted:
        return None
    st.session_state[_URL_SEEN] = wanted
    st.session_state[CURRENT] = wanted
    if widget_key:
        st.session_state.pop(widget_key, None)
    return wanted


def pending_link() -> str | None:
    """The ``?case=`` this session has not followed yet, left for ``select`` to follow (and
    to say so when it names no case here)."""
    wanted = st.query_params.get(QUERY)
    return wanted if wanted and wanted != st.session_state.get(_URL_SEEN) else None


def wanted_id() -> str | None:
    """The case a page is about to open: an unfollowed link's, else the current one."""
    return pending_link() or current_id()
