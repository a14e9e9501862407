"""Typed zero-shot prompts (eclip.evaluate.typed_prompts): the two line forms, how class
names reach label columns, the messages for bad input, and the targets and pair scores
that the negated labels feed (eclip.evaluate.targets, eclip.evaluate.zeroshot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eclip.errors import PromptSetError
from eclip.evaluate import typed_prompts as TP
from eclip.evaluate.metrics import auroc
from eclip.evaluate.targets import binary_targets, multiclass_targets
from eclip.evaluate.zeroshot import binary_results, mean_auroc, results_for_display, too_few


def _labels_df(effusion: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"c{i}" for i in range(len(effusion))],
                         "Pleural Effusion": effusion, "Cardiomegaly": [np.nan] * len(effusion)})


# ----------------------------------------------------------------------------- classes
def test_one_class_per_line_is_its_own_prompt():
    typed = TP.parse_classes("pleural effusion\n\n  no pleural effusion  \n")
    ps = typed.prompt_set
    assert ps.task == "multiclass"
    assert [(c.name, c.prompts) for c in ps.classes] == [
        ("pleural effusion", ("pleural effusion",)), ("no pleural effusion", ("no pleural effusion",))]


def test_named_templates_semicolon_and_the_old_bar_form_alike():
    typed = TP.parse_classes("pleural effusion: There is a {}.; {} is seen.\n"
                             "Edema: Pulmonary edema. | Edema.\n"
                             "edema: Mild {}.")  # same name, any case -> one class
    by_name = {c.name: c.prompts for c in typed.prompt_set.classes}
    assert by_name == {"pleural effusion": ("There is a pleural effusion.", "Pleural effusion is seen."),
                       "Edema": ("Pulmonary edema.", "Edema.", "Mild edema.")}


@pytest.mark.parametrize("name, labels, negated, via", [
    ("pleural effusion", ("Pleural Effusion",), False, "label name"),
    ("PLEURAL EFFUSION", ("Pleural Effusion",), False, "label name"),
    ("No Finding", ("No Finding",), False, "label name"),  # the label, not a negation
    ("no pleural effusion", ("Pleural Effusion",), True, "binary.json"),
    ("without pneumothorax", ("Pneumothorax",), True, "negation 'without' + label name"),
    ("no lung opacity", ("Lung Opacity",), True, "negation 'no'"),
    ("bilateral pleural effusions", ("Pleural Effusion",), False, "prompt file"),
    ("The lungs are clear.", ("No Finding",), False, "prompt file"),
    ("Consolidation/Opacity", ("Consolidation", "Lung Opacity"), False, "prompt file binary.json"),
    ("normal", ("No Finding",), False, "MeSH"),
    ("normal chest", ("No Finding",), False, "a common name for a normal film"),
    ("No acute disease.", ("No Finding",), False, "normal film"),  # not the negation of a label
    ("Unremarkable", ("No Finding",), False, "normal film"),
    ("pulmonary congestion", ("Edema",), False, "MeSH"),
    ("effusion", ("Pleural Effusion",), False, "report labeller"),
    ("enlarged heart", ("Cardiomegaly",), False, "report labeller"),
    ("no evidence of pneumonia", ("Pneumonia",), True, "prompt file binary.json"),  # the Pneumonia pair
])
def test_class_names_reach_label_columns(name, labels, negated, via):
    m = TP.match_label(name)
    assert (m.labels, m.negated) == (labels, negated)
    assert via in m.via


@pytest.mark.parametrize("name, why", [
    ("dog", "not a label or a known synonym"),
    ("cardiomegaly and effusion", "several findings (Cardiomegaly, Pleural Effusion)"),
    ("possible pneumonia", "uncertain mention of Pneumonia"),
])
def test_names_without_a_label_say_why(name, why):
    m = TP.match_label(name)
    assert m.labels == () and why in m.via
    assert m.target == "no label: probabilities only"


def test_effusion_against_its_absence_scores_every_certain_case():
    """The issue's case: on HEAD's page these two names matched no column (0 cases)."""
    ps = TP.parse_classes("pleural effusion\nno pleural effusion").prompt_set
    df = _labels_df([1.0, 0.0, np.nan, -1.0, 1.0])
    # uncertain (row 3) is neither present nor absent, so it takes no part; nor does the
    # blank row 2 (not mentioned is not "no effusion") unless blanks count as negatives
    np.testing.assert_array_equal(multiclass_targets(df, ps), [0, 1, -1, -1, 0])
    np.testing.assert_array_equal(multiclass_targets(df, ps, missing="negative"), [0, 1, 1, -1, 0])


def test_a_class_without_label_is_never_a_target():
    ps = TP.parse_classes("pleural effusion\ndog").prompt_set
    np.testing.assert_array_equal(multiclass_targets(_labels_df([1.0, 0.0, np.nan]), ps), [0, -1, -1])


def test_mapping_table_lists_each_class_and_its_column():
    table = TP.parse_classes("pleural effusion\nno pleural effusion\ndog: a dog; {}s").table()
    assert list(table.columns) == ["class", "label column", "matched by", "prompts"]
    assert table["label column"].tolist() == ["Pleural Effusion", "not Pleural Effusion",
                                              "no label: probabilities only"]
    assert table["prompts"].iloc[2] == "a dog · Dogs"


# ----------------------------------------------------------------------------- pairs
def test_pairs_positive_bar_negative_with_names_and_templates():
    typed = TP.parse_pairs("pleural effusion | no pleural effusion\n"
                           "cardiomegaly: The heart is enlarged.; {}. | No {}.\n"
                           "dog | cat\n"
                           "dog: a dog | no dog")
    b = typed.prompt_set.binary
    assert typed.prompt_set.task == "binary"
    assert (b[0].name, b[0].positive, b[0].negative) == (
        "pleural effusion", ("pleural effusion",), ("no pleural effusion",))
    assert (b[1].positive, b[1].negative) == (("The heart is enlarged.", "Cardiomegaly."),
                                              ("No cardiomegaly.",))
    assert [x.name for x in b] == ["pleural effusion", "cardiomegaly", "dog", "dog (2)"]
    assert [m.target for m in typed.matches] == ["Pleural Effusion", "Cardiomegaly",
                                                 "no label: probabilities only",
                                                 "no label: probabilities only"]
    assert list(typed.table().columns) == ["pair", "label column", "matched by", "positive", "negative"]


def test_pair_results_count_both_classes_and_reuse_auroc():
    ps = TP.parse_pairs("pleural effusion | no pleural effusion\n"
                        "no effusion | effusion\n"
                        "dog | cat").prompt_set
    assert ps.binary[1].negated  # the positive side names the absence
    df = _labels_df([1.0, 1.0, 0.0, np.nan, -1.0, 0.0])
    rng = np.random.default_rng(0)
    probs = rng.random((6, 3))
    table = binary_results(df, ps, probs, min_positives=2)
    first = table.iloc[0]
    assert (first["positives"], first["negatives"]) == (2, 2)  # the uncertain and blank rows are left out
    keep = [0, 1, 2, 5]
    assert first["AUROC"] == pytest.approx(auroc(np.array([1, 1, 0, 0]), probs[keep, 0]), abs=1e-5)
    second = table.iloc[1]
    assert (second["positives"], second["negatives"]) == (2, 2)
    assert second["AUROC"] == pytest.approx(auroc(np.array([0, 0, 1, 1]), probs[keep, 1]), abs=1e-5)
    assert second["label column"] == "not Pleural Effusion"
    third = table.iloc[2]
    assert pd.isna(third["positives"]) and np.isnan(third["AUROC"])
    assert third["mean probability"] == pytest.approx(probs[:, 2].mean())
    assert mean_auroc(table) == pytest.approx((first["AUROC"] + second["AUROC"]) / 2)


def test_pair_results_show_no_auroc_below_the_floor_and_say_why():
    ps = TP.parse_pairs("pleural effusion | no pleural effusion\n"
                        "cardiomegaly | no cardiomegaly\n"
                        "dog | cat").prompt_set
    effusion = [1.0] * 3 + [0.0] * 12  # 3 positives: below the default floor of 10
    df = _labels_df(effusion)
    probs = np.random.default_rng(0).random((len(df), 3))
    table = binary_results(df, ps, probs)
    assert table["positives"].tolist()[:2] == [3, 0] and table["negatives"].tolist()[:2] == [12, 15]
    assert table["AUROC"].isna().all() and np.isnan(mean_auroc(table))
    assert table["why"].tolist() == ["too few positives (3)", "too few positives (0)",
                                     "no label: probabilities only"]
    shown = results_for_display(table)
    assert shown["AUROC"].tolist() == table["why"].tolist()  # never None or nan
    assert shown[["positives", "negatives"]].values.tolist() == [["3", "12"], ["0", "15"], ["–", "–"]]
    lowered = results_for_display(binary_results(df, ps, probs, min_positives=3))
    assert lowered["AUROC"][0] == f"{auroc(np.array(effusion), probs[:, 0]):.3f}"
    assert too_few(12, 3, 3) == "" and too_few(12, 2, 3) == "too few negatives (2)"


def test_pair_results_never_count_an_unlabelled_row_as_a_negative():
    """A row without any label (an unlabelled report) is left out of both counts; a blank on
    a row that carries other labels is a negative (its report was labelled)."""
    ps = TP.parse_pairs("pleural effusion | no pleural effusion").prompt_set
    df = _labels_df([1.0, np.nan, np.nan, 0.0])
    df.loc[1, "Cardiomegaly"] = 1.0  # labelled, effusion not named: a negative
    table = binary_results(df, ps, np.full((4, 1), 0.5), min_positives=1)
    assert (table["positives"][0], table["negatives"][0]) == (1, 2)  # row 2 (no label at all) left out


def test_negated_binary_label_flips_targets_and_keeps_uncertain_out():
    lab = TP.parse_pairs("no pleural effusion | pleural effusion").prompt_set.binary[0]
    y = binary_targets(_labels_df([1.0, 0.0, np.nan, -1.0]), lab)
    assert y[:2].tolist() == [0.0, 1.0] and np.isnan(y[2]) and np.isnan(y[3])  # blank: not known absent
    y = binary_targets(_labels_df([1.0, 0.0, np.nan, -1.0]), lab, missing="negative")
    assert y[:3].tolist() == [0.0, 1.0, 1.0] and np.isnan(y[3])


# ----------------------------------------------------------------------------- messages
@pytest.mark.parametrize("text, match", [
    ("", "box is empty: type at least two classes"),
    ("  \n\n ", "box is empty"),
    ("pleural effusion", "at least two classes.*only 'pleural effusion'.*'no pleural effusion'"),
    ("Edema: a | b\nedema: c", "at least two classes"),  # one class, typed twice
    ("edema:\ncardiomegaly", "Class 'edema' has no prompt after ':'"),
    ("edema: ; |\ncardiomegaly", "Class 'edema' has no prompt"),
    (": pulmonary edema\ncardiomegaly", "nothing before ':'"),
    ("pleural effusion | no pleural effusion\ncardiomegaly", "use the pairs mode"),
])
def test_class_box_messages(text, match):
    with pytest.raises(PromptSetError, match=match):
        TP.parse_classes(text)


@pytest.mark.parametrize("text, match", [
    ("", "box is empty: type one pair per line as 'positive | negative'"),
    ("pleural effusion", r"no '\|'.*'pleural effusion \| no pleural effusion'"),
    ("a | b | c", r"has 2 '\|'.*';'"),
    ("effusion | ", "no negative prompt after"),
    (" | no effusion", "no positive prompt before"),
    ("There is {}. | No {}.", "stands for the pair's name"),
    ("effusion: {} | {}", "both sides are the same"),
    (": a | b", "nothing before ':'"),
])
def test_pair_box_messages(text, match):
    with pytest.raises(PromptSetError, match=match):
        TP.parse_pairs(text)
