"""A draft checked against its own zero-shot evidence (labeller on the draft vs p >= 0.5, and
findings of p >= 0.8 it never mentions), and read for repetition and laterality."""

from __future__ import annotations

import math

import pytest

from eclip.report.evidence import ZeroShot, agreement_summary, check_draft, laterality, repetitions

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
])
def test_agreeing_or_hedged_drafts_have_no_conflict(text):
    assert check_draft(text, EVIDENCE).agrees


def test_a_silent_draft_ignoring_a_likely_finding_disagrees():
    # Pneumothorax 0.84 is never mentioned: a disagreement; Pleural Effusion 0.71 is below 0.8
    check = check_draft("", EVIDENCE)
    assert [(c.finding, c.kind, c.words) for c in check.conflicts] == [("Pneumothorax", "ignores", "")]
    assert check.ignored == 1 and not check.agrees
    assert check.conflicts[0].message() == "Pneumothorax: the draft does not mention it, zero-shot p = 0.84"


def test_five_ignored_likely_findings_are_five_disagreements():
    # The page said "No disagreement" beside a draft that ignored five findings above 0.8.
    high = tuple(ZeroShot(name, (name,), p) for name, p in [
        ("Edema", 0.93), ("Pneumothorax", 0.91), ("Lung Lesion", 0.90), ("Atelectasis", 0.86),
        ("Cardiomegaly", 0.81), ("Pleural Effusion", 0.79), ("No Finding", 0.95)])
    check = check_draft("The lungs are clear. Heart size is normal.", high)
    assert sorted(c.finding for c in check.conflicts if c.kind == "ignores") == [
        "Atelectasis", "Edema", "Lung Lesion", "Pneumothorax"]
    assert [c.kind for c in check.conflicts if c.finding == "Cardiomegaly"] == ["denies"]
    assert check.as_dict()["ignore_threshold"] == 0.8


def test_a_hedged_mention_is_not_ignoring():
    assert check_draft("Possible pneumothorax.", (ZeroShot("Pneumothorax", ("Pneumothorax",), 0.95),)).agrees


def test_a_finding_with_several_labels_counts_once():
    # "Consolidation/Opacity" covers two labels; the positive opacity decides (p = 0.30 -> asserts).
    check = check_draft("No focal consolidation. Patchy right basal opacity.", EVIDENCE)
    assert [(c.finding, c.kind, c.words) for c in check.conflicts if c.kind != "ignores"] == [
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
              check_draft("Left pleural effusion. No cardiomegaly. Right pneumothorax.", EVIDENCE),  # 3, agree
              check_draft("", EVIDENCE)]  # no position, pneumothorax 0.84 ignored: 1 conflict
    out = agreement_summary(checks)
    assert out["evidence_agreement"] == pytest.approx(1 / 3)
    assert out["evidence_finding_agreement"] == pytest.approx(1 - 2 / 5)
    assert out["evidence_conflicts_per_draft"] == pytest.approx(2 / 3)
    assert all(math.isnan(v) for v in agreement_summary([]).values())


def test_a_repeated_sentence_and_a_repeated_clause_are_found():
    text = ("Small left pleural effusion. No pneumothorax. Small left pleural effusion. "
            "Heart size is normal, no pneumothorax.")
    found = {(r.kind, r.words.lower(), r.count) for r in repetitions(text)}
    assert found == {("sentence", "small left pleural effusion", 2), ("clause", "no pneumothorax", 2)}
    check = check_draft(text, ())
    assert not check.reads_clean
    assert check.as_dict()["repeats"][0]["message"] == \
        "the sentence \u201cSmall left pleural effusion\u201d is said 2 times"


@pytest.mark.parametrize("text", [
    "No pneumothorax. No pleural effusion.",  # two different clauses
    "Normal. Normal heart size.",  # a one-word clause is not flagged
    "",
])
def test_a_draft_that_says_each_thing_once_has_no_repeat(text):
    assert repetitions(text) == ()


def test_punctuation_and_case_do_not_hide_a_repeat():
    assert [r.count for r in repetitions("No focal consolidation.\nno  focal consolidation!")] == [2]


def test_a_finding_present_and_absent_on_one_side_contradicts():
    (issue,) = laterality("Small left pleural effusion. No left pleural effusion.")
    assert (issue.finding, issue.kind) == ("Pleural Effusion", "contradicts")
    assert issue.words == ("small left pleural effusion", "no left pleural effusion")
    assert "present and absent on the same side" in issue.message()


def test_bilateral_then_absent_on_one_side_contradicts():
    assert [i.kind for i in laterality("Bilateral pleural effusions. No right pleural effusion.")] == ["contradicts"]


@pytest.mark.parametrize("text, words", [
    ("The heart is enlarged. No cardiomegaly.", ("the heart is enlarged", "no cardiomegaly")),
    ("Heart size is normal. The heart is mildly enlarged.", ("the heart is mildly enlarged", "heart size is normal")),
    ("No pleural effusion. Small left pleural effusion.", ("small left pleural effusion", "no pleural effusion")),
])
def test_a_finding_present_and_absent_anywhere_contradicts(text, words):
    (issue,) = laterality(text)
    assert (issue.kind, issue.words) == ("contradicts", words)
    assert issue.message().endswith(f"said present and absent (\u201c{words[0]}\u201d / \u201c{words[1]}\u201d)")


def test_left_in_one_clause_and_right_in_another_mixes_sides():
    (issue,) = laterality("Left pneumothorax is seen. The right pneumothorax is small.")
    assert (issue.finding, issue.kind) == ("Pneumothorax", "mixes sides")
    assert check_draft("Left pneumothorax is seen. The right pneumothorax is small.", ()).as_dict()[
        "laterality"][0]["words"] == ["left pneumothorax is seen", "the right pneumothorax is small"]


@pytest.mark.parametrize("text", [
    "Left pleural effusion. No right pleural effusion.",  # consistent sides
    "Bilateral pleural effusions, left greater than right. Small right effusion.",  # said bilateral
    "Left lower lobe atelectasis and right pleural effusion. No right pneumothorax.",  # two findings in a clause
    "Possible left pneumothorax. No left pneumothorax.",  # hedged, not a position
    "Small left pleural effusion. No new effusion.",  # compares with an earlier film
    "Stable cardiomegaly. No interval change in the cardiomegaly.",
    "Small left pleural effusion. No right pleural effusion.",
])
def test_consistent_sides_raise_nothing(text):
    assert laterality(text) == ()
