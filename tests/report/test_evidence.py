"""A draft checked against its own zero-shot evidence (labeller on the draft vs p >= 0.5)."""

from __future__ import annotations

import math

import pytest

from eclip.report.evidence import ZeroShot, agreement_summary, check_draft

EVIDENCE = (ZeroShot("Pneumothorax", ("Pneumothorax",), 0.84),
            ZeroShot("Pleural Effusion", ("Pleural Effusion",), 0.71),
            ZeroShot("Cardiomegaly", ("Cardiomegaly",), 0.12),
            ZeroShot("Consolidation/Opacity", ("Consolidation", "Lung Opacity"), 0.30),
            ZeroShot("No Finding", ("No Finding",), 0.65))


def test_the_draft_seen_on_the_page_is_flagged_twice():
    # The retrieval draft a user saw beside "Pneumothorax 0.84" chips.
    check = check_draft("No large pleural effusion. The lungs are clear and there is no pneumothorax.",
                        EVIDENCE)
    assert not check.agrees
    by_finding = {c.finding: c for c in check.conflicts}
    assert set(by_finding) == {"Pneumothorax", "Pleural Effusion"}
    assert by_finding["Pneumothorax"].kind == "denies"
    assert by_finding["Pneumothorax"].words == "the lungs are clear and there is no pneumothorax"
    msg = by_finding["Pneumothorax"].message()
    assert "says absent" in msg and "0.84" in msg and "no pneumothorax" in msg


def test_asserting_an_unlikely_finding_is_flagged():
    check = check_draft("The heart is enlarged. Small right pneumothorax. Left pleural effusion.", EVIDENCE)
    assert [(c.finding, c.kind) for c in check.conflicts] == [("Cardiomegaly", "asserts")]
    assert check.checked == 3


@pytest.mark.parametrize("text", [
    "Small right apical pneumothorax. Moderate left pleural effusion. Heart size is normal.",
    "Possible small pneumothorax. Effusion cannot be excluded.",  # hedged: no position taken
    "",  # says nothing
])
def test_agreeing_hedged_or_silent_drafts_have_no_conflict(text):
    assert check_draft(text, EVIDENCE).agrees


def test_a_finding_with_several_labels_counts_once():
    # "Consolidation/Opacity" covers two labels; the positive opacity decides (p = 0.30 -> asserts).
    check = check_draft("No focal consolidation. Patchy right basal opacity.", EVIDENCE)
    assert [(c.finding, c.kind, c.words) for c in check.conflicts] == [
        ("Consolidation/Opacity", "asserts", "patchy right basal opacity")]


def test_no_finding_is_not_compared_on_its_own():
    # The labeller derives No Finding from the others: a normal draft beside No Finding 0.65
    # and a draft asserting effusion are judged by their findings only.
    assert check_draft("The lungs are clear.", EVIDENCE).checked == 0


def test_threshold_is_inclusive_at_half():
    edge = (ZeroShot("Edema", ("Edema",), 0.5),)
    assert check_draft("No pulmonary edema.", edge).conflicts[0].kind == "denies"
    assert check_draft("Mild pulmonary edema.", edge).agrees


def test_agreement_summary():
    checks = [check_draft("No pneumothorax.", EVIDENCE),  # 1 position, 1 conflict
              check_draft("Left pleural effusion. No cardiomegaly.", EVIDENCE),  # 2 positions, agree
              check_draft("", EVIDENCE)]  # no position
    out = agreement_summary(checks)
    assert out["evidence_agreement"] == pytest.approx(2 / 3)
    assert out["evidence_finding_agreement"] == pytest.approx(1 - 1 / 3)
    assert out["evidence_conflicts_per_draft"] == pytest.approx(1 / 3)
    assert all(math.isnan(v) for v in agreement_summary([]).values())
