"""Beside a draft (Draft report, Presenter): its evidence check from eclip.report.evidence
(disagreements with the zero-shot findings, a likely finding it never mentions included; its
repetitions and contradictions) and the zero-shot probabilities it was checked against,
each saying whether it was calibrated on the validate split (or why not) and its base rate."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app.core import cases
from eclip.report.evidence import ZeroShot


def probabilities(findings: Sequence[tuple[str, float]], zero_shot: Sequence[ZeroShot], calibration: str) -> None:
    """The most likely ``findings`` as chips; under them how the probabilities were made
    (``calibration``: the summary line) and each finding's calibration and validate base rate."""
    if not findings:
        return
    st.markdown("**Zero-shot findings**")
    st.markdown(" ".join(f":blue-badge[{cases.md_escape(n)} {p:.2f}]" for n, p in findings))
    notes = {z.name: z.note for z in zero_shot}
    st.caption("  \n".join([cases.md_escape(calibration)] + [
        f"{cases.md_escape(n)}: {cases.md_escape(notes[n])}" for n, _ in findings if notes.get(n)]))


def evidence_view(evidence: dict) -> None:
    """The findings where the draft and the zero-shot probabilities disagree (a likely
    finding the draft never mentions included), then the draft's repetitions and contradictions."""
    st.markdown("**Draft vs zero-shot findings**")
    if not evidence["conflicts"]:
        st.success(f"No disagreement ({evidence['checked']} finding(s) the draft takes a position on; "
                   f"no finding of p ≥ {evidence.get('ignore_threshold', 0.8):.1f} left unmentioned).",
                   icon=":material/check_circle:")
    for c in evidence["conflicts"]:
        said = {"denies": "says absent", "asserts": "says present"}.get(c["kind"])
        words = f": “{cases.md_escape(c['words'])}”" if said else ""
        st.warning(f"**{cases.md_escape(c['finding'])}** (zero-shot p = {c['probability']:.2f}): the draft "
                   f"{said or 'does not mention it'}{words}", icon=":material/report:")
    if evidence["conflicts"]:
        st.caption("Check these against the image before using the draft.")
    st.markdown("**Repetition and contradictions**")
    issues = [r["message"] for r in evidence.get("repeats", [])] + [
        s["message"] for s in evidence.get("laterality", [])]
    for message in issues:
        st.warning(cases.md_escape(message), icon=":material/content_copy:")
    if not issues and "repeats" in evidence:
        st.success("Nothing said twice; no finding said both present and absent, or on conflicting sides.",
                   icon=":material/check_circle:")
