"""A page's heavy work as the server's one heavy job (app.jobs.slot): while another visitor's
job runs, the page says so where the work starts, with how many wait."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from app.jobs.slot import INDEX_BUILD, SLOT

__all__ = ["INDEX_BUILD", "heavy_job"]


@contextlib.contextmanager
def heavy_job(job: str, when: bool = True) -> Iterator[None]:
    """Run the block as this server's one heavy job (``when`` is False: just run it). While
    another visitor's job runs, the page shows the queue message where the block starts."""
    if not when:
        yield
        return
    note = st.empty()
    with SLOT.hold(job, on_wait=lambda message: note.info(message, icon=":material/hourglass_top:")):
        note.empty()
        yield
