"""The current case: chosen once, followed by every page, and linked from the address bar
(``?case=ID``). A link new to this session opens its case; choosing a case writes it back to
the address bar (an upload cannot be linked: it lives in one session).

A ``?case=`` this session has had in its address bar before (one it wrote, or followed) is not
a link: it is the address bar catching up. Every rerun carries the address bar as the browser
had it when it sent the rerun, so a rerun sent before the browser heard of the session's last
case (the Presenter's size report ~200 ms after F, landing after the PageDown that followed;
any widget or component racing a case change) carries the case the session just left, and
taking it for a link undid the change. A visitor's own link (an edited address, a link opened)
loads the page again, a new session with nothing seen; the browser's Back and Forward are the
one way an old value returns on purpose, and Streamlit marks those reruns
(``is_history_navigation``), so they still open their case.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx


UPLOAD_ID = "uploaded image"
CURRENT = "current_case"  # survives page switches (widget keys are dropped off-page)
QUERY = "case"  # ?case=ID
_URL_SEEN = "_url_case"  # the last ?case= this session followed or wrote
_URL_OWN = "_url_cases"  # every ?case= this session followed or wrote: back in a rerun, an echo


def current_id() -> str | None:
    return st.session_state.get(CURRENT)


def _seen(case_id: str | None) -> None:
    st.session_state[_URL_SEEN] = case_id
    if case_id:
        st.session_state.setdefault(_URL_OWN, set()).add(case_id)


def set_current(case_id: str) -> None:
    """Make ``case_id`` the case every page opens on, and put it in the address bar."""
    st.session_state[CURRENT] = case_id
    if case_id == UPLOAD_ID:  # an upload cannot be linked: it lives in this session only
        st.query_params.pop(QUERY, None)
        _seen(None)
        return
    _seen(case_id)  # first: a rerun that cuts this write short finds it this session's own
    if st.query_params.get(QUERY) != case_id:
        st.query_params[QUERY] = case_id


def follow_url(widget_key: str | None = None) -> str | None:
    """A ``?case=`` this session has not followed yet becomes the current case (and resets
    the page's case widget ``widget_key`` so it shows that case); returns it, else None. An
    echo of one it had (see the module's doc) puts the current case back in the address bar."""
    wanted = pending_link()
    if not wanted:
        if _echo() and (current := current_id()):
            set_current(current)
        return None
    _seen(wanted)
    st.session_state[CURRENT] = wanted
    if widget_key:
        st.session_state.pop(widget_key, None)
    return wanted


def pending_link() -> str | None:
    """The ``?case=`` this session has not followed yet, left for ``select`` to follow (and
    to say so when it names no case here): one new to this session, or one the browser's
    Back/Forward brings back."""
    wanted = st.query_params.get(QUERY)
    if not wanted or wanted == st.session_state.get(_URL_SEEN) or _echo():
        return None
    return wanted


def _echo() -> bool:
    """This run's ``?case=`` is one this session had before and the address bar has not caught
    up with its last case: not a link (a rerun from Back/Forward is one)."""
    wanted = st.query_params.get(QUERY)
    return (bool(wanted) and wanted != st.session_state.get(_URL_SEEN)
            and wanted in st.session_state.get(_URL_OWN, ()) and not history_navigation())


def history_navigation() -> bool:
    """This run is the browser's Back or Forward, as Streamlit's run context says (1.67 does);
    False where it says nothing, and Back to a case this session had then leaves the case be."""
    return bool(getattr(get_script_run_ctx(), "is_history_navigation", False))


def wanted_id() -> str | None:
    """The case a page is about to open: an unfollowed link's, else the current one."""
    return pending_link() or current_id()
