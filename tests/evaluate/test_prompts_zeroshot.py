"""Prompt files (eclip.model.prompts), item targets (eclip.evaluate.targets), prompt encoding
(eclip.model.encode) and zero-shot scoring through the index."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from eclip.errors import PromptSetError
from eclip.evaluate import targets as T
from eclip.evaluate.zeroshot import binary_scores, multiclass_scores
from eclip.model import encode as E
from eclip.model import load_model
from eclip.model import prompts as P
from eclip.model.encode import encode_class_prompts, encode_prompt_sets, encode_texts
from floats import assert_close


def test_shipped_prompt_files_load_and_cover_our_findings():
    sets = {p.stem: P.load_prompt_set(p) for p in P.list_prompt_sets()}
    assert {"findings", "chexpert5", "binary"} <= set(sets)
    assert sets["findings"].class_names == [
        "Atelectasis", "Cardiomegaly", "Consolidation/Opacity", "Edema", "Pleural Effusion",
        "Pneumothorax", "No Finding", "Lung Lesion", "Support Devices"]
    assert all(len(c.prompts) >= 5 for c in sets["findings"].classes)
    assert sets["chexpert5"].class_names == ["Atelectasis", "Cardiomegaly", "Consolidation",
                                             "Edema", "Pleural Effusion"]
    assert all(b.positive and b.negative for b in sets["binary"].binary)


def test_templates_times_phrases_plus_verbatim_prompts():
    ps = P.parse_prompt_set({"task": "multiclass", "name": "t", "templates": ["{}.", "There is {}."],
                             "classes": [{"name": "Edema", "phrases": ["edema", "mild edema"],
                                          "prompts": ["Lungs are wet."]}]})
    assert ps.classes[0].prompts == ("Edema.", "There is edema.", "Mild edema.",
                                     "There is mild edema.", "Lungs are wet.")
    assert ps.classes[0].labels == ("Edema",)


@pytest.mark.parametrize("raw, match", [
    ({"task": "other"}, "'task' must be"),
    ({"task": "multiclass", "classes": []}, "non-empty list 'classes'"),
    ({"task": "multiclass", "classes": [{"name": "Edema"}]}, "has no prompts"),
    ({"task": "multiclass", "classes": [{"name": "Foo", "prompts": ["x"]}]}, "unknown label"),
    ({"task": "binary", "labels": [{"name": "Edema", "positive": ["x"]}]}, "both"),
])
def test_bad_prompt_files_are_explained(raw, match):
    with pytest.raises(PromptSetError, match=match):
        P.parse_prompt_set(raw, "x.json")


def test_unknown_prompt_set_lists_known_ones(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps({"task": "binary", "labels": [
        {"name": "Edema", "positive": ["a"], "negative": ["b"]}]}))
    assert P.load_prompt_set("mine", tmp_path).name == "mine"
    with pytest.raises(PromptSetError, match=r"known: \['mine'\]"):
        P.load_prompt_set("nope", tmp_path)


def test_multiclass_targets_keep_single_positive_rows_only():
    ps = P.load_prompt_set("findings")
    df = pd.DataFrame({"Cardiomegaly": [1.0, 1.0, np.nan, 0.0, np.nan],
                       "Lung Opacity": [np.nan, 1.0, 1.0, np.nan, np.nan],
                       "Consolidation": [np.nan, np.nan, 1.0, np.nan, -1.0]})
    # row 0 cardiomegaly; row 1 two classes -> out; row 2 opacity+consolidation = one class;
    # rows 3, 4 no positive (uncertain is not positive) -> out
    np.testing.assert_array_equal(T.multiclass_targets(df, ps), [1, -1, 2, -1, -1])


def test_binary_targets_uncertain_and_unmentioned_left_out():
    lab = P.BinaryLabel("Consolidation/Opacity", ("Consolidation", "Lung Opacity"), ("p",), ("n",))
    df = pd.DataFrame({"Consolidation": [1.0, 0.0, -1.0, np.nan, -1.0, 0.0],
                       "Lung Opacity": [np.nan, np.nan, np.nan, np.nan, 1.0, 0.0]})
    out = T.binary_targets(df, lab, missing="exclude")
    # a negative needs every column known 0: row 1 never said whether there is an opacity
    assert out[0] == 1 and np.isnan(out[1]) and np.isnan(out[2]) and np.isnan(out[3])
    assert out[4] == 1 and out[5] == 0
    # the default: a labelled row's silence is a negative (row 1); a row without any label is
    # not evidence of anything (row 3), and uncertain stays out (row 2)
    out = T.binary_targets(df, lab)
    assert out[0] == 1 and out[1] == 0 and np.isnan(out[2]) and np.isnan(out[3])
    assert out[4] == 1 and out[5] == 0
    # the explicit option: blank = not seen = negative (the MIMIC habit)
    out = T.binary_targets(df, lab, missing="negative")
    assert out[0] == 1 and out[1] == 0 and np.isnan(out[2]) and out[3] == 0 and out[4] == 1
    with pytest.raises(ValueError, match="missing"):
        T.binary_targets(df, lab, missing="zero")


def _target_by_row(row: pd.Series, lab, missing: str, label_cols: list[str]) -> float:
    """The module docstring's rule for one row, written out as plainly as it reads."""
    vals = [row[c] for c in lab.labels if c in row.index]
    if 1.0 in vals:
        y = 1.0
    elif -1.0 in vals:
        y = np.nan
    elif missing == "negative":
        y = 0.0
    elif missing == "exclude":
        y = 0.0 if vals and not np.isnan(vals).any() else np.nan
    else:
        y = 0.0 if vals and not np.isnan([row[c] for c in label_cols]).all() else np.nan
    return 1.0 - y if lab.negated else y


@pytest.mark.parametrize("missing", T.MISSING)
def test_binary_target_matrix_equals_the_rule_row_by_row(missing):
    """The matrix reads which rows carry a label once for all pairs: each column is still
    what the rule gives row by row, with uncertain labels, blanks, rows without any label,
    negated and multi-column labels, a column the frame lacks and one that is no label."""
    from eclip.data.manifest import label_columns

    nan = np.nan
    df = pd.DataFrame({"Cardiomegaly": [1.0, 0.0, -1.0, nan, nan, nan, 0.0],
                       "Edema": [nan, nan, 0.0, nan, -1.0, nan, 1.0],
                       "Pneumothorax": [nan, 0.0, nan, nan, nan, nan, nan],
                       "Other": [0.0, 1.0, nan, 0.0, nan, nan, -1.0]})  # not a label column
    B = P.BinaryLabel
    labs = [B("c", ("Cardiomegaly",), ("p",), ("n",)), B("ce", ("Cardiomegaly", "Edema"), ("p",), ("n",)),
            B("not c", ("Cardiomegaly",), ("p",), ("n",), negated=True),
            B("not ce", ("Cardiomegaly", "Edema"), ("p",), ("n",), negated=True),
            B("absent", ("Fracture",), ("p",), ("n",)), B("mixed", ("Fracture", "Pneumothorax"), ("p",), ("n",)),
            B("other", ("Other",), ("p",), ("n",)), B("none", (), ("p",), ("n",))]
    got = T.binary_target_matrix(df, labs, missing)
    want = np.array([[_target_by_row(row, lab, missing, label_columns(df)) for lab in labs]
                     for _, row in df.iterrows()])
    np.testing.assert_array_equal(got, want)  # NaNs in the same places
    for j, lab in enumerate(labs):
        np.testing.assert_array_equal(T.binary_targets(df, lab, missing), got[:, j])
    assert T.binary_target_matrix(df.iloc[:0], labs, missing).shape == (0, len(labs))
    assert T.binary_target_matrix(df, [], missing).shape == (len(df), 0)


def test_multiclass_and_binary_scores_hand_case():
    img = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
    pred, probs = multiclass_scores(img, np.array([[1.0, 0.0], [0.0, 1.0]]), temperature=1.0)
    np.testing.assert_array_equal(pred, [0, 1])
    assert_close(probs[0], np.exp([1, 0]) / np.exp([1, 0]).sum())
    pairs = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # [L=1, 2, D]
    assert_close(binary_scores(img, pairs)[:, 0],
                 [np.exp(1) / (np.exp(1) + 1), np.exp(0.6) / (np.exp(0.6) + np.exp(0.8))])


@pytest.fixture(scope="module")
def lm(micro_checkpoint):
    return load_model(micro_checkpoint)


def test_trimmed_text_encoding_equals_the_model(lm):
    texts = ["Edema.", "", "Small left pleural effusion with blunting of the costophrenic angle. " * 4,
             "No acute cardiopulmonary process."]
    with torch.no_grad():
        ref = lm.model.encode_text(lm.tokenizer(texts)).numpy()
    assert_close(encode_texts(lm, texts, batch_size=3), ref, atol=1e-5)
    assert encode_texts(lm, []).shape == (0, 64)


def test_prompt_sets_encode_to_ensembles(lm):
    sets = [P.load_prompt_set("chexpert5"), P.load_prompt_set("binary")]
    emb = encode_prompt_sets(lm, sets)
    assert emb["chexpert5"].shape == (5, 64) and emb["binary"].shape == (10, 2, 64)
    edema = sets[0].classes[3].prompts
    one = encode_class_prompts(lm, {"Edema": list(edema)})[0]
    assert_close(emb["chexpert5"][3], one)
    assert_close(np.linalg.norm(emb["binary"], axis=-1), 1.0)


def test_prompt_cache_returns_the_same_embeddings(lm):
    E.clear_prompt_cache()
    texts = ["Edema.", "No pneumothorax.", "Edema."]
    first = E.encode_prompts(lm, texts)
    assert len(E.PROMPT_CACHE) == 2  # duplicates encoded once
    assert_close(first, encode_texts(lm, texts))  # other batches: other float32 sums
    np.testing.assert_array_equal(E.encode_prompts(lm, texts[::-1]), first[::-1])
    assert E.encode_prompts(lm, []).shape == (0, 64)


def test_prompt_cache_survives_clears_from_other_sessions(lm):
    """Streamlit sessions share the cache: one clearing it between another's fill and read
    must not make that read fail. The old dict cache read back from the shared dict after
    filling it and raised KeyError here in 2 of 3 runs; values are now returned from the
    caller's own hands. A tiny switch interval makes thread switches land inside that window."""
    import sys
    import threading

    texts = [f"There is finding number {i}." for i in range(300)]
    ref = encode_texts(lm, texts)
    errors, stop = [], threading.Event()

    def clearer():
        while not stop.is_set():
            E.clear_prompt_cache()

    def reader():
        try:
            for _ in range(40):
                assert_close(E.encode_prompts(lm, texts), ref, atol=1e-5)
        except Exception as exc:  # noqa: BLE001 - any failure in a thread is the test's failure
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=clearer)] + [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        stop.set()
        threads[0].join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
