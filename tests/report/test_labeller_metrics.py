"""The negation-aware labeller and the report metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eclip.report.labeller import label_report
from eclip.report.metrics import (corpus_bleu, embedding_cosines, finding_f1, lcs_length, mean_rouge_l,
                                  report_metrics, rouge_l, tokenize)
from floats import assert_close


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


def test_bleu_hand_cases():
    assert_close(corpus_bleu(["the heart is enlarged"], ["the heart is normal"]), math.sqrt(3 / 4 * 2 / 3))
    assert_close(corpus_bleu(["a b c d"], ["a b"]), math.exp(1 - 4 / 2))  # brevity penalty
    assert corpus_bleu(["the cat"], ["the the the"]) == 0.0  # clipped counts, no bigram match
    # corpus level: counts pooled over reports before the ratio
    assert_close(corpus_bleu(["a b", "c d"], ["a b", "c x"]), math.sqrt(3 / 4 * 1 / 2))
    assert math.isnan(corpus_bleu([], []))


def test_bleu_n_averages_orders_one_to_n():
    ref, hyp = ["a b c d e"], ["a b c d x"]  # n-gram precisions 4/5, 3/4, 2/3, 1/2
    assert_close(corpus_bleu(ref, hyp, 1), 4 / 5)
    assert_close(corpus_bleu(ref, hyp, 3), (4 / 5 * 3 / 4 * 2 / 3) ** (1 / 3))
    assert_close(corpus_bleu(ref, hyp, 4), (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** (1 / 4))


def test_bleu_uses_13a_tokens_on_lower_case():
    assert tokenize("No effusion. Heart 1.5cm, stable.") == ["no", "effusion", ".", "heart", "1.5cm", ",",
                                                            "stable", "."]
    assert corpus_bleu(["No effusion."], ["no effusion."]) == 1.0  # case folded, never above 1
    # the full stop is a word of the reference: 2 of 3 words, brevity penalty exp(1 - 3/2)
    assert_close(corpus_bleu(["No effusion."], ["no effusion"]), math.exp(1 - 3 / 2))


def test_rouge_l_hand_cases():
    assert lcs_length("a b c d e".split(), "a c e f".split()) == 3
    p, r = 3 / 4, 3 / 5  # LCS "a c e" over the 4 generated and the 5 reference words
    assert_close(rouge_l("a b c d e", "a c e f"), 2 * p * r / (p + r))
    assert rouge_l("no effusion", "No effusion.") == 1.0  # rouge-score drops case and punctuation
    assert rouge_l("a b", "c d") == 0.0 and rouge_l("", "a b") == 0.0
    assert_close(mean_rouge_l(["a b c d e", "a b"], ["a c e f", "a b"]), (2 * p * r / (p + r) + 1) / 2)


def test_report_metrics_give_bleu_1_to_4_and_rouge_l():
    m = report_metrics(["a b c d e"], ["a b c d x"], embeddings=False)
    assert {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"} <= m.keys() and m["n"] == 1
    assert_close(m["bleu1"], 4 / 5)
    assert_close(m["rouge_l"], 4 / 5)  # LCS of 4 in 5 words each side


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
    assert_close(cos[0], 1.0)  # float32 MiniLM embeddings
    assert cos[1] < 0.6
    m = report_metrics(["The heart is enlarged."], ["The heart is enlarged."])
    assert m["bleu4"] == 1.0 and m["rouge_l"] == 1.0 and m["finding_f1_micro"] == 1.0
    assert_close(m["embedding_cosine"], 1.0)
