"""eclip.evaluate.paired: two models on the same zero-shot prompts and images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eclip.evaluate.paired import agreement, binary_comparison, multiclass_comparison
from eclip.evaluate.targets import multiclass_targets
from eclip.model.prompts import BinaryLabel, PromptClass, PromptSet
from floats import assert_close

CLASSES = PromptSet("toy", "multiclass", classes=(
    PromptClass("effusion", ("Pleural Effusion",), ("p",)),
    PromptClass("cardiomegaly", ("Cardiomegaly",), ("p",))))
PAIRS = PromptSet("toy", "binary", binary=(
    BinaryLabel("effusion", ("Pleural Effusion",), ("p",), ("n",)),
    BinaryLabel("free text", (), ("p",), ("n",))))


def _labels(effusion: list) -> pd.DataFrame:
    eff = np.asarray(effusion, float)
    return pd.DataFrame({"Pleural Effusion": eff, "Cardiomegaly": 1.0 - np.nan_to_num(eff)})


def test_multiclass_difference_is_active_minus_compare_with_an_interval_around_it():
    df = _labels([1, 0] * 50)
    truth = np.array([0, 1] * 50)
    active = truth.copy()                      # right on every image
    compare = truth.copy()
    compare[:40] = 1 - compare[:40]            # wrong on 40 of 100
    table = multiclass_comparison(df, CLASSES, active, compare, n_boot=300).set_index("name")
    acc = table.loc["accuracy"]
    assert (acc["active"], acc["compare"]) == (1.0, 0.6)
    assert acc["difference"] == pytest.approx(0.4)
    assert 0.25 < acc["ci_low"] < 0.4 < acc["ci_high"] < 0.55
    assert acc["n"] == 100


def test_multiclass_comparison_leads_with_balanced_accuracy_which_sees_past_a_common_class():
    truth = np.array([0] * 80 + [1] * 20)
    df = _labels((1 - truth).tolist())           # class 0 is "Pleural Effusion" positive
    assert (multiclass_targets(df, CLASSES) == truth).all()
    constant = np.zeros(100, int)                # the common class for every image
    active = truth.copy()
    active[:20] = 1                              # wrong on 20 of the common class, right on the rare
    table = multiclass_comparison(df, CLASSES, active, constant, n_boot=200).set_index("name")
    assert table.index.tolist() == ["balanced accuracy", "macro-F1", "accuracy"]
    assert (table.loc["accuracy", "active"], table.loc["accuracy", "compare"]) == (0.8, 0.8)
    assert (table.loc["balanced accuracy", "active"], table.loc["balanced accuracy", "compare"]) == (0.875, 0.5)


def test_multiclass_comparison_of_a_model_with_itself_is_zero():
    df = _labels([1, 0, 1, 1, 0, 0])
    pred = np.array([0, 0, 1, 0, 1, 0])
    table = multiclass_comparison(df, CLASSES, pred, pred, n_boot=100)
    assert np.all(table[["difference", "ci_low", "ci_high"]].to_numpy() == 0)


def test_multiclass_comparison_without_targets_is_empty():
    df = pd.DataFrame({"Pleural Effusion": [np.nan] * 4, "Cardiomegaly": [np.nan] * 4})
    assert multiclass_comparison(df, CLASSES, np.zeros(4, int), np.ones(4, int)).empty


def test_binary_comparison_pairs_the_aurocs_and_skips_what_has_no_label():
    y = [1, 0] * 30 + [np.nan] * 4             # uncertain rows (-1 in a manifest) left out
    df = _labels(y).fillna(-1.0)
    rng = np.random.default_rng(0)
    truth = np.nan_to_num(np.asarray(y, float))
    active = np.stack([truth * 0.8 + 0.1, rng.random(64)], axis=1)       # separates perfectly
    compare = np.stack([rng.random(64), rng.random(64)], axis=1)         # chance
    table = binary_comparison(df, PAIRS, active, compare, n_boot=300).set_index("name")
    eff = table.loc["effusion"]
    assert eff["active"] == 1.0 and eff["n"] == 60
    assert eff["difference"] == pytest.approx(1.0 - eff["compare"])
    assert eff["ci_low"] > 0.2  # a real difference: the interval stays clear of 0
    free = table.loc["free text"]
    assert np.isnan(free["active"]) and np.isnan(free["ci_low"])


def test_agreement_without_labels():
    out = agreement(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
                    np.array([[0.9, 0.1]] * 4), np.array([[0.7, 0.3]] * 4))
    assert out["same prediction"] == 0.75
    assert out["mean |Δ probability|"] == pytest.approx(0.2)


def test_binary_comparison_adds_a_macro_row_over_the_scored_pairs():
    pairs = PromptSet("toy", "binary", binary=(
        BinaryLabel("effusion", ("Pleural Effusion",), ("p",), ("n",)),
        BinaryLabel("cardiomegaly", ("Cardiomegaly",), ("p",), ("n",)),
        BinaryLabel("free text", (), ("p",), ("n",))))
    df = _labels([1, 0, 1, 0, 0, 1, 1, 0] * 5)
    rng = np.random.default_rng(2)
    active, compare = rng.random((40, 3)), rng.random((40, 3))
    table = binary_comparison(df, pairs, active, compare, n_boot=200).set_index("name")
    assert list(table.index) == ["effusion", "cardiomegaly", "free text", "macro AUROC"]
    macro = table.loc["macro AUROC"]
    assert macro["active"] == pytest.approx(table.loc[["effusion", "cardiomegaly"], "active"].mean())
    assert macro["compare"] == pytest.approx(table.loc[["effusion", "cardiomegaly"], "compare"].mean())
    assert macro["ci_low"] <= macro["difference"] <= macro["ci_high"]


def test_weighted_auroc_equals_auroc_on_ones_and_on_expanded_resamples():
    from eclip.evaluate.metrics import auroc
    from eclip.evaluate.paired import weighted_auroc

    rng = np.random.default_rng(3)
    y = rng.random(60) < 0.4
    s = np.round(rng.random(60), 1)  # many ties
    assert weighted_auroc(y, s, np.ones((1, 60)))[0] == pytest.approx(auroc(y, s))
    idx = rng.integers(0, 60, size=(5, 60))  # resamples as indices, and as counts
    counts = np.stack([np.bincount(i, minlength=60) for i in idx])
    expected = [auroc(y[i], s[i]) for i in idx]
    assert_close(weighted_auroc(y, s, counts), expected)
    assert np.isnan(weighted_auroc(np.zeros(4, bool), np.arange(4.0), np.ones((1, 4)))[0])


def test_binary_comparison_scores_a_pair_only_with_enough_positives_and_negatives():
    """The single-model table's rule (zeroshot.binary_results): no AUROC below
    min_positives of either class, the counts beside every pair, the reason in its place."""
    pairs = PromptSet("toy", "binary", binary=(
        BinaryLabel("effusion", ("Pleural Effusion",), ("p",), ("n",)),
        BinaryLabel("cardiomegaly", ("Cardiomegaly",), ("p",), ("n",)),
        BinaryLabel("free text", (), ("p",), ("n",))))
    df = _labels([1, 1, 1] + [0] * 37)  # effusion: 3 positives, 37 negatives
    df["Cardiomegaly"] = [1.0] * 20 + [0.0] * 20
    rng = np.random.default_rng(4)
    active, compare = rng.random((40, 3)), rng.random((40, 3))
    table = binary_comparison(df, pairs, active, compare, n_boot=100).set_index("name")
    eff = table.loc["effusion"]
    assert (eff["positives"], eff["negatives"], eff["why"]) == (3, 37, "too few positives (3)")
    assert np.isnan(eff["active"]) and np.isnan(eff["compare"]) and np.isnan(eff["ci_low"])
    assert table.loc["cardiomegaly", "why"] == "" and not np.isnan(table.loc["cardiomegaly", "active"])
    assert "macro AUROC" not in table.index  # one pair qualifies: its own row is the mean
    assert table.loc["free text", "why"] == "no label: probabilities only"
    lowered = binary_comparison(df, pairs, active, compare, n_boot=100, min_positives=3).set_index("name")
    assert lowered.loc["effusion", "why"] == "" and not np.isnan(lowered.loc["effusion", "active"])
    assert lowered.loc["macro AUROC", "why"] == "mean over 2 of 3 pairs"

    from eclip.evaluate.paired import for_display

    shown = for_display(table.reset_index()).set_index("name")
    assert list(shown.columns[:2]) == ["positives", "negatives"]
    assert shown.loc["effusion", "active"] == "too few positives (3)"
    assert shown.loc["effusion", "compare"] == "too few positives (3)"
    assert [shown.loc["effusion", c] for c in ("difference", "ci_low", "ci_high")] == ["–"] * 3
    assert shown.loc["cardiomegaly", "difference"] == f"{round(table.loc['cardiomegaly', 'difference'], 3):.3f}"
    nearly_zero = table.reset_index().assign(ci_low=lambda t: np.where(t["why"] == "", -1e-4, np.nan))
    assert for_display(nearly_zero).set_index("name").loc["cardiomegaly", "ci_low"] == "0.000"  # not "-0.000"
    assert shown.loc["effusion", "positives"] == "3" and shown.loc["free text", "positives"] == "–"
    assert shown.loc["cardiomegaly", "active"] == f"{table.loc['cardiomegaly', 'active']:.3f}"
    assert "why" not in shown.columns
    assert "macro AUROC (mean over 2 of 3 pairs)" in for_display(lowered.reset_index())["name"].tolist()


def test_row_statistics_match_one_resample_at_a_time():
    from eclip.evaluate.metrics import (accuracy, accuracy_rows, macro_f1, macro_f1_rows,
                                        paired_bootstrap, paired_bootstrap_rows)

    rng = np.random.default_rng(3)
    y, a, c = (rng.integers(0, 5, 60) for _ in range(3))
    c[:30] = y[:30]  # a better model, so the interval is not centred on 0
    y[y == 4] = 0  # class 4 never true: left out of macro-F1, as one at a time
    for rows_stat, one_stat in ((lambda p, i: accuracy_rows(y[i], p[i]), lambda p, i: accuracy(y[i], p[i])),
                                (lambda p, i: macro_f1_rows(y[i], p[i], 5), lambda p, i: macro_f1(y[i], p[i], 5))):
        fast = paired_bootstrap_rows(lambda i, f=rows_stat: f(a, i), lambda i, f=rows_stat: f(c, i), 60,
                                     n_boot=200, seed=4)
        slow = paired_bootstrap(lambda i, f=one_stat: f(a, i), lambda i, f=one_stat: f(c, i), 60, n_boot=200, seed=4)
        assert fast.keys() == slow.keys()
        for key in fast:
            assert_close(fast[key], slow[key], atol=1e-12)
        assert fast["ci_low"] > 0


def test_macro_f1_by_hand():
    from eclip.evaluate.metrics import macro_f1

    # class 0: tp 1, support 2, predicted 1 -> 2/3; class 1: tp 1, support 1, predicted 2 -> 2/3;
    # class 2 absent from the truth and never predicted: left out
    assert_close(macro_f1(np.array([0, 0, 1]), np.array([0, 1, 1]), 3), 2 / 3, atol=1e-12)
    assert np.isnan(macro_f1(np.array([], int), np.array([], int), 3))
