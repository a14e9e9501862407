"""What the data alone scores, beside every zero-shot number: the majority class and the
train-split label prior (balanced accuracy the headline), and for prompt pairs the counts,
the prevalence and an AUROC only where a label has enough positives and negatives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eclip.data.manifest import LABELS
from eclip.evaluate import metrics as M
from eclip.evaluate import suite, tables
from eclip.model.prompts import parse_prompt_set

CLASSES = ["Cardiomegaly", "Edema", "No Finding"]


def test_balanced_accuracy_is_mean_recall_over_present_classes():
    y = np.array([0, 0, 0, 0, 1, 2])
    assert M.balanced_accuracy(y, np.zeros(6, int), 4) == pytest.approx(1 / 3, abs=1e-5)  # class 3 absent
    assert M.accuracy(y, np.zeros(6, int)) == pytest.approx(4 / 6, abs=1e-5)
    assert M.balanced_accuracy(y, np.array([0, 0, 1, 1, 1, 2]), 3) == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-5)
    assert np.isnan(M.balanced_accuracy(np.array([], int), np.array([], int), 3))


def _items(test_counts: dict[str, int], train_counts: dict[str, int], prompt_sets, **kw) -> suite.EvalItems:
    """One row per case: its class is 1, the other two classes 0, other labels blank."""
    rows = []
    for split, counts in (("test", test_counts), ("train", train_counts)):
        for cls, n in counts.items():
            for _ in range(n):
                rows.append({"split": split, "gaze_path": "",
                             **{lab: (1.0 if lab == cls else 0.0 if lab in CLASSES else np.nan)
                                for lab in LABELS}})
    df = pd.DataFrame(rows)
    return suite.EvalItems(df, suite.select_rows(df, "test"), suite.select_rows(df, "train"),
                           prompt_sets, **kw)


MC = parse_prompt_set({"name": "mc", "task": "multiclass",
                       "classes": [{"name": c, "labels": [c], "prompts": [c]} for c in CLASSES]})
BIN = parse_prompt_set({"name": "bin", "task": "binary", "labels": [
    {"name": c, "labels": [c], "positive": [c], "negative": ["no " + c]} for c in CLASSES]})


def test_multiclass_baselines_come_from_the_train_prior():
    # test: 6 No Finding, 3 Cardiomegaly, 1 Edema; train prior 0.2 / 0.2 / 0.6
    items = _items({"No Finding": 6, "Cardiomegaly": 3, "Edema": 1},
                   {"No Finding": 6, "Cardiomegaly": 2, "Edema": 2}, [MC])
    ref = suite.zero_shot_reference(items)["mc"]
    assert ref["majority_class"] == "No Finding" and ref["support"] == [3, 1, 6]
    assert ref["prior"] == pytest.approx([0.2, 0.2, 0.6], abs=1e-5)
    base = ref["baselines"]
    # "No Finding" for every film: 0.6 accuracy, but balanced accuracy 1/K
    assert base["zs/mc/accuracy"]["majority"] == pytest.approx(0.6, abs=1e-5)
    assert base["zs/mc/balanced_accuracy"]["majority"] == pytest.approx(1 / 3, abs=1e-5)
    assert base["zs/mc/macro_f1"]["majority"] == pytest.approx((2 * 0.6 / 1.6) / 3, abs=1e-5)
    # each class drawn with its train prior: expected sum q_c p_c, mean p_c
    q, p = np.array([0.3, 0.1, 0.6]), np.array([0.2, 0.2, 0.6])
    assert base["zs/mc/accuracy"]["prior"] == pytest.approx(float(q @ p), abs=1e-5)
    assert base["zs/mc/balanced_accuracy"]["prior"] == pytest.approx(p.mean(), abs=1e-5)
    assert base["zs/mc/macro_f1"]["prior"] == pytest.approx(float(np.mean(2 * q * p / (q + p))), abs=1e-5)


def test_prior_baseline_matches_random_draws_from_the_prior():
    items = _items({"No Finding": 30, "Cardiomegaly": 15, "Edema": 5},
                   {"No Finding": 5, "Cardiomegaly": 3, "Edema": 2}, [MC])
    ref = suite.zero_shot_reference(items)["mc"]
    y = np.repeat([2, 0, 1], [30, 15, 5])
    rng = np.random.default_rng(0)
    draws = rng.choice(3, size=(4000, len(y)), p=ref["prior"])
    assert np.mean([M.accuracy(y, d) for d in draws]) == pytest.approx(
        ref["baselines"]["zs/mc/accuracy"]["prior"], abs=0.01)
    assert np.mean([M.balanced_accuracy(y, d, 3) for d in draws]) == pytest.approx(
        ref["baselines"]["zs/mc/balanced_accuracy"]["prior"], abs=0.01)


def _one_axis_embeddings(items: suite.EvalItems) -> suite.ModelEmbeddings:
    """Images on their class's axis (slightly noisy): every pair separates its label."""
    df = items.df
    cls = np.array([next(i for i, c in enumerate(CLASSES) if r[c] == 1.0) for _, r in df.iterrows()])
    rng = np.random.default_rng(0)
    emb = np.eye(3)[cls] + 0.05 * rng.standard_normal((len(df), 3))
    class_emb = np.eye(3)
    pairs = np.stack([np.stack([class_emb[c], -class_emb[c]]) for c in range(3)])
    return suite.ModelEmbeddings(image_emb=emb, text_emb=emb.copy(), text_index=np.arange(len(df)),
                                 prompt_emb={"mc": class_emb, "bin": pairs})


def test_auroc_only_for_labels_with_enough_positives_and_negatives():
    items = _items({"No Finding": 12, "Cardiomegaly": 11, "Edema": 3},
                   {"No Finding": 4, "Cardiomegaly": 4, "Edema": 4}, [BIN], min_positives=10)
    stats, details = suite.statistics(_one_axis_embeddings(items), items)
    assert "zs/bin/Edema/auroc" not in stats  # 3 positives
    assert {"zs/bin/Cardiomegaly/auroc", "zs/bin/No Finding/auroc"} <= set(stats)
    point = {n: s.fn(np.arange(s.n)) for n, s in stats.items()}
    assert point["zs/bin/macro_auroc"] == pytest.approx(
        (point["zs/bin/Cardiomegaly/auroc"] + point["zs/bin/No Finding/auroc"]) / 2, abs=1e-5)
    ref = suite.zero_shot_reference(items)["bin"]
    edema = next(lab for lab in ref["labels"] if lab["name"] == "Edema")
    assert (edema["n_pos"], edema["n_neg"], edema["scored"], edema["why"]) == (3, 23, False, "n/a (3 positives)")
    assert edema["prevalence"] == pytest.approx(3 / 26, abs=1e-5)
    assert edema["majority_answer"] == "negative" and edema["majority_accuracy"] == pytest.approx(23 / 26, abs=1e-5)
    assert (ref["n_scored"], ref["n_labels"]) == (2, 3)
    assert ref["baselines"]["zs/bin/macro_auroc"] == {"majority": 0.5, "prior": 0.5}
    # too few negatives is said as such; min_positives=1 scores every label
    few_neg = _items({"No Finding": 20, "Cardiomegaly": 5, "Edema": 3}, {}, [BIN], min_positives=10)
    assert next(lab for lab in suite.zero_shot_reference(few_neg)["bin"]["labels"]
                if lab["name"] == "No Finding")["why"] == "n/a (8 negatives)"
    every = _items({"No Finding": 12, "Cardiomegaly": 11, "Edema": 3}, {}, [BIN], min_positives=1)
    assert "zs/bin/Edema/auroc" in suite.statistics(_one_axis_embeddings(every), every)[0]


def test_blank_labels_count_by_the_missing_policy():
    items = _items({"No Finding": 12, "Cardiomegaly": 11, "Edema": 3}, {}, [BIN], min_positives=1)
    items.df.loc[items.rows[:5], "Edema"] = np.nan  # five No Finding films never mention edema
    label_cols = [c for c in LABELS if c in items.df.columns]
    items.df.loc[items.rows[5:7], label_cols] = np.nan  # two films carry no label at all
    edema = lambda it: next(lab for lab in suite.zero_shot_reference(it)["bin"]["labels"]  # noqa: E731
                            if lab["name"] == "Edema")
    # default: a labelled film's silence on edema is a negative; an unlabelled film is left out
    assert (edema(items)["n_pos"], edema(items)["n_neg"]) == (3, 21)
    items.missing = "exclude"
    assert (edema(items)["n_pos"], edema(items)["n_neg"]) == (3, 16)
    items.missing = "negative"
    assert (edema(items)["n_pos"], edema(items)["n_neg"]) == (3, 23)


def test_tables_show_baselines_counts_and_why_an_auroc_is_missing():
    items = _items({"No Finding": 12, "Cardiomegaly": 11, "Edema": 3},
                   {"No Finding": 6, "Cardiomegaly": 2, "Edema": 2}, [MC, BIN], min_positives=10)
    stats, details = suite.statistics(_one_axis_embeddings(items), items)
    result = {"subsets": {"all": {"n_images": len(items.rows), "metrics": suite.summarise(stats, 20, 0),
                                  "zero_shot": suite.zero_shot_reference(items), "details": details}}}
    md = tables.single_table(result)
    assert md.startswith("**zs/mc** (all: 26 images with exactly one of its 3 classes, 3 present")
    assert "| metric | model | majority: No Finding | train label prior |" in md
    assert "| zs/mc/balanced_accuracy | 1.000 [1.000, 1.000] | 0.333 | 0.333 |" in md
    assert "| Edema | 3 | 23 | 0.115 | n/a (3 positives) |  | negative (0.885) |" in md
    assert "| macro AUROC (2 of 3 labels) |" in md
    assert "AUROC only for labels with at least 10 positives and 10 negatives: 2 of 3" in md
    assert "blank labels negative on films with any label, films without labels left out" in md
    # the zero-shot metrics are in their blocks, not repeated in the table of the others
    assert md.count("zs/mc/accuracy") == 1 and "| geometry/alignment |" in md


def test_tables_say_what_was_not_computed_and_why():
    details = {"skipped": ["zs/binary: no label with 10 positives and negatives",
                           "retrieval: fewer than 2 distinct report texts",
                           "probe: needs 'train' rows disjoint from the evaluated rows"]}
    notes = tables.notes_below({"all": {"n_images": 2, "metrics": {}, "details": details}})
    assert notes == ["", "Not computed (all): retrieval: fewer than 2 distinct report texts.",
                     "Not computed (all): probe: needs 'train' rows disjoint from the evaluated rows."]
    assert tables.notes_below({"all": {"details": {}}}) == []


def test_experiment_headline_has_baseline_rows_and_says_how_many_labels_average():
    from dataclasses import replace

    from eclip.evaluate.experiment import headline_table

    findings, binary = replace(MC, name="findings"), replace(BIN, name="binary")
    items = _items({"No Finding": 12, "Cardiomegaly": 11, "Edema": 3},
                   {"No Finding": 6, "Cardiomegaly": 2, "Edema": 2}, [findings, binary], min_positives=10)
    emb = _one_axis_embeddings(items)
    emb.prompt_emb = {"findings": emb.prompt_emb["mc"], "binary": emb.prompt_emb["bin"]}
    stats, _ = suite.statistics(emb, items)
    metrics = {k: v for k, v in suite.summarise(stats, 20, 0).items() if k.startswith("zs/")}
    result = {"baseline": "clip", "diff": {}, "zero_shot": {"all": suite.zero_shot_reference(items)},
              "groups": {"clip": {"checkpoints": [{}], "subsets": {"all": {"n_images": 26, "metrics": metrics}}}}}
    lines = headline_table(result).splitlines()
    assert lines[2] == ("| group | seeds | zs/findings/balanced_accuracy | zs/findings/macro_f1 | "
                        "zs/binary/macro_auroc (2 of 3 labels) |")
    assert lines[4].startswith("| clip (baseline) | 1 | 1.000 | 1.000 | ")
    assert lines[5] == "| *majority class (train split)* | - | 0.333 | 0.211 | 0.500 |"  # F1 2*12/38 / 3
    assert lines[6] == "| *train label prior* | - | 0.333 | 0.313 | 0.500 |"
