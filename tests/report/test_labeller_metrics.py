"""The negation-aware labeller and the report metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eclip.report.metrics import (corpus_bleu, embedding_cosines, finding_f1, lcs_length,
                                           report_metrics, rouge_l)
from eclip.report.labeller import label_report


@pytest.mark.parametrize("text, label, value", [
    ("No pleural effusion.", "Pleural Effusion", 0.0),
    ("Small left effusion.", "Pleural Effusion", 1.0),
    ("Possible small left pleural effusion.", "Pleural Effusion", -1.0),
    ("Effusion cannot be excluded.", "Pleural Effusion", -1.0),
    ("The previously seen effusion has resolved.", "Pleural Effusion", 0.0),
    ("No focal consolidation, effusion or pneumothorax.", "Pneumothorax", 0.0),
    ("No focal consolidation, effusion or pneumothorax.", "Consolidation", 0.0),
    ("No effusion but there is a right apical pneumothorax.", "Pneumothorax", 1.0),
    ("No effusion but there is a right apical pneumothorax.", "Pleural Effusion", 0.0),
    ("The heart is enlarged.", "Cardiomegaly", 1.0),
    ("Heart size is normal.", "Cardiomegaly", 0.0),
    ("The heart is not enlarged.", "Cardiomegaly", 0.0),
    ("Left basal opacity, likely atelectasis.", "Atelectasis", -1.0),
    ("Left basal opacity, likely atelectasis.", "Lung Opacity", -1.0),
    ("Endotracheal tube terminates 4 cm above the carina.", "Support Devices", 1.0),
    ("The lungs are clear.", "Pleural Effusion", math.nan),
])
def test_labeller_cases(text, label, value):
    got = label_report(text)[label]
    assert (math.isnan(got) and math.isnan(value)) or got == value


def test_positive_beats_negative_and_no_finding():
    labels = label_report("No effusion on the right. Small left pleural effusion.")
    assert labels["Pleural Effusion"] == 1.0 and labels["No Finding"] == 0.0
    normal = label_report("The lungs are clear. Heart size is normal. No effusion. Sternotomy wires.")
    assert normal["No Finding"] == 1.0 and normal["Support Devices"] == 1.0


def test_bleu2_hand_cases():
    assert corpus_bleu(["the heart is enlarged"], ["the heart is normal"]) == pytest.approx(math.sqrt(3 / 4 * 2 / 3))
    assert corpus_bleu(["a b c d"], ["a b"]) == pytest.approx(math.exp(-1))  # brevity penalty
    assert corpus_bleu(["the cat"], ["the the the"]) == 0.0  # clipped counts, no bigram match
    assert corpus_bleu(["No effusion."], ["no effusion"]) == pytest.approx(1.0)
    # corpus level: counts pooled over reports before the ratio
    assert corpus_bleu(["a b", "c d"], ["a b", "c x"]) == pytest.approx(math.sqrt(3 / 4 * 1 / 2))


def test_rouge_l_hand_cases():
    assert lcs_length("a b c d e".split(), "a c e f".split()) == 3
    p, r = 3 / 4, 3 / 5
    assert rouge_l("a b c d e", "a c e f") == pytest.approx((1 + 1.44) * p * r / (r + 1.44 * p))
    assert rouge_l("no effusion", "No effusion.") == pytest.approx(1.0)
    assert rouge_l("a b", "c d") == 0.0


def test_finding_f1():
    refs = ["Small left pleural effusion.", "The heart is enlarged.", "No acute disease."]
    hyps = ["Left pleural effusion.", "No cardiomegaly. Small effusion.", "Normal chest."]
    # effusion: tp 1, fp 1; cardiomegaly: fn 1; no finding: ref (0,0,1) hyp (0,0,1) -> tp 1
    out = finding_f1(refs, hyps)
    assert out["finding_f1_micro"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert out["finding_f1_macro"] == pytest.approx((2 / 3 + 0 + 1) / 3)


@pytest.mark.slow
def test_embedding_cosine_and_all_metrics():
    cos = embedding_cosines(["No pleural effusion.", "No pleural effusion."],
                            ["No pleural effusion.", "The heart is enlarged."])
    assert cos[0] == pytest.approx(1.0, abs=1e-5) and cos[1] < 0.6
    m = report_metrics(["The heart is enlarged."], ["The heart is enlarged."])
    assert m["bleu2"] == pytest.approx(1) and m["rouge_l"] == pytest.approx(1)
    assert m["embedding_cosine"] == pytest.approx(1, abs=1e-5) and m["finding_f1_micro"] == 1.0
