"""The line every model page states under its image: which image the model read. A dataset
film is read as stored (the exported working image, no display window); a visitor's upload
with the display window chosen on the Case browser, or as stored, and where a window is
chosen, the choice to score the stored image instead (kept for the session, on every model
page: ``upload.score_stored``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from app.components import upload

if TYPE_CHECKING:
    from app.components.case.loader import Case

TOGGLE = "model_reads_stored"  # the widget; the choice itself is kept by upload.score_stored
DATASET = ("The model read the dataset's films as stored (each case's exported working image): "
           "no display window is applied.")
FILM = ("The model read this film as stored (the dataset's exported working image): no display "
        "window is applied.")


def text(case: Case | None = None) -> str:
    """The sentence for ``case`` (None: the dataset's films in general)."""
    if case is None:
        return DATASET
    if not case.is_upload:
        return FILM
    w = upload.window()
    if w is None:
        return "The model read your image as stored (the file's own window): no display window is applied."
    chosen = f"the display window chosen on the Case browser (centre {w.center:.0f}, width {w.width:.0f})"
    if upload.scores_stored():
        return f"The model read your image as stored (the file's own window), not with {chosen}."
    return f"The model read your image with {chosen}, as shown there."


def _toggled() -> None:
    upload.score_stored(st.session_state[TOGGLE])


def stated(case: Case | None = None, where=st) -> None:
    """The line, in ``where``; under it, for an upload shown with a display window, the
    choice to score the stored image (the page reruns with it)."""
    where.caption(text(case), help="What the model scores is the image it read: a display window "
                                   "changes the pixels, and with them every score and map.")
    if case is None or not case.is_upload or upload.window() is None:
        return
    st.session_state[TOGGLE] = upload.scores_stored()  # the kept choice: widget keys do not outlive a page
    where.toggle("Score the stored image (no display window)", key=TOGGLE, on_change=_toggled,
                 help="Off: the model reads your image with the window the Case browser shows. "
                      "On: as stored in the file, on every model page, until you switch it off.")
