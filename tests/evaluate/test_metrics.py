"""Each metric against a small case computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eclip.evaluate import metrics as m
from eclip.model import encode as enc
from floats import assert_close


def _onehot(n: int, d: int) -> np.ndarray:
    return np.eye(d, dtype=np.float32)[:n]


# ---------------------------------------------------------------- zero-shot multi-class
def test_ensemble_embedding_is_renormalised_mean_of_normalised_prompts():
    prompts = np.array([[2.0, 0.0], [0.0, 5.0]])  # normalised: e1, e2 -> mean (.5,.5)
    out = enc.ensemble_embedding(prompts)
    assert_close(out, [1 / math.sqrt(2), 1 / math.sqrt(2)])


def test_zero_shot_predict_argmax_cosine():
    classes = np.array([[1.0, 0.0], [0.0, 1.0]])
    images = np.array([[3.0, 1.0], [0.1, 0.2], [-1.0, 0.5]])
    np.testing.assert_array_equal(m.zero_shot_predict(images, classes), [0, 1, 1])


def test_known_confusion_matrix_accuracy_and_macro_f1():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = m.confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert m.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # F1 per class: c0 = 2*2/(3+2) = .8 ; c1 = 2*1/(2+2) = .5 ; c2 = 2*1/(1+2) = 2/3
    assert m.macro_f1(y_true, y_pred, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_macro_f1_skips_classes_absent_from_truth():
    # class 2 never occurs in the truth; it is predicted once (a false positive for none)
    y_true = np.array([0, 1])
    y_pred = np.array([0, 2])
    # c0: 2*1/(1+1) = 1 ; c1: 0 ; class 2 left out
    assert m.macro_f1(y_true, y_pred, 3) == pytest.approx(0.5)


def test_balanced_accuracy_is_mean_recall_over_classes_in_the_truth():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    # recall per class: c0 = 2/3 ; c1 = 1/2 ; c2 = 1
    assert m.balanced_accuracy(y_true, y_pred, 3) == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    # one answer for every item scores 1/K of the classes present, however common it is
    assert m.balanced_accuracy(np.array([0, 0, 0, 1]), np.zeros(4, int), 4) == pytest.approx(0.5)
    assert math.isnan(m.balanced_accuracy(np.array([], int), np.array([], int), 3))


def _per_class_mean(t, p, score) -> float:
    """A metric by its definition, one class at a time: the mean of ``score(is_c, said_c)``
    over the classes present in the truth."""
    return float(np.mean([score(t == c, p == c) for c in np.unique(t)]))


def test_row_metrics_are_the_definitions_row_by_row():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, (20, 15)), rng.integers(0, 4, (20, 15))
    y_true[3] = 1  # a row with one class present
    recall = lambda is_c, said_c: (is_c & said_c).sum() / is_c.sum()  # noqa: E731
    f1 = lambda is_c, said_c: 2 * (is_c & said_c).sum() / (is_c.sum() + said_c.sum())  # noqa: E731
    for rows, score in ((m.balanced_accuracy_rows, recall), (m.macro_f1_rows, f1)):
        assert_close(rows(y_true, y_pred, 4), [_per_class_mean(t, p, score) for t, p in zip(y_true, y_pred)])


# ---------------------------------------------------------------- zero-shot binary
def test_binary_pair_probability_matches_softmax():
    p = m.binary_pair_probability(np.array([0.3, 0.0]), np.array([0.1, 0.0]))
    assert p[0] == pytest.approx(math.exp(0.3) / (math.exp(0.3) + math.exp(0.1)))
    assert p[1] == pytest.approx(0.5)
    # huge similarities stay finite
    assert m.binary_pair_probability(1000.0, -1000.0) == pytest.approx(1.0)


def test_auroc_tiny_case_with_a_tie():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    # pos/neg pairs: (.35>.1) (.35<.4) (.8>.1) (.8>.4) -> 3/4
    assert m.auroc(y, s) == pytest.approx(0.75)
    # a tie counts one half: pairs (.5 vs .5)=.5, (.5 > .2)=1 -> 1.5/2
    assert m.auroc(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.2])) == pytest.approx(0.75)
    assert math.isnan(m.auroc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_auroc_agrees_with_scikit_learn_on_tied_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(50):
        y = np.r_[0, 1, rng.integers(0, 2, 40)]
        s = rng.integers(0, 6, 42) / 5.0  # many ties
        assert m.auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_macro_auroc_ignores_single_class_columns():
    y = np.array([[1, 1], [0, 1], [0, 1]])
    s = np.array([[0.9, 0.1], [0.1, 0.2], [0.2, 0.3]])
    assert m.macro_auroc(y, s) == pytest.approx(1.0)


# ---------------------------------------------------------------- retrieval
def test_perfectly_aligned_embeddings_give_recall_one_and_alignment_zero():
    emb = _onehot(5, 8)
    i2t, t2i = m.image_text_ranks(emb, emb, np.arange(5))
    assert m.recall_at_k(i2t, 1) == 1.0 and m.recall_at_k(t2i, 1) == 1.0
    assert m.alignment(emb, emb) == pytest.approx(0.0, abs=1e-12)


def test_retrieval_ranks_hand_case_and_shared_texts():
    # 3 images, 2 unique texts; images 0 and 1 share text 0
    images = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    texts = np.array([[1.0, 0.0], [0.0, 1.0]])
    i2t, t2i = m.image_text_ranks(images, texts, np.array([0, 0, 1]))
    # image 1 is nearest text 1, its own text 0 comes second
    np.testing.assert_array_equal(i2t, [0, 1, 0])
    assert m.recall_at_k(i2t, 1) == pytest.approx(2 / 3)
    assert m.recall_at_k(i2t, 5) == 1.0
    # text 0's positives are images {0, 1}; image 0 ranks first -> rank 0.
    # text 1's positive is image 2, tied with image 1 (a negative) -> rank 1 (pessimistic)
    np.testing.assert_array_equal(t2i, [0, 1])


def test_ties_are_broken_against_the_query():
    # all similarities equal: a collapsed model must not get R@1 = 1
    emb = np.ones((4, 3))
    i2t, _ = m.image_text_ranks(emb, emb, np.arange(4))
    assert m.recall_at_k(i2t, 1) == 0.0
    np.testing.assert_array_equal(i2t, [3, 3, 3, 3])


def test_unique_texts_first_seen_order():
    texts, idx = enc.unique_texts(["b", "a", "b", "c"])
    assert texts == ["b", "a", "c"]
    np.testing.assert_array_equal(idx, [0, 1, 0, 2])


# ---------------------------------------------------------------- geometry
def test_alignment_of_orthogonal_pairs_is_two():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert m.alignment(a, b) == pytest.approx(2.0)  # ||e1 - e2||^2 = 2


def test_uniformity_hand_case():
    # two antipodal points: ||x - x'||^2 = 4 -> log(exp(-8)) = -8
    assert m.uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    # identical points: log(exp(0)) = 0 (the worst value)
    assert_close(m.uniformity(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])), 0.0)
    # three orthonormal points: every pair at squared distance 2 -> -4
    assert m.uniformity(np.eye(3)) == pytest.approx(-4.0)


def test_modality_gap_is_distance_between_centroids():
    img = np.array([[1.0, 0.0], [1.0, 0.0]])
    txt = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert m.modality_gap(img, txt) == pytest.approx(math.sqrt(2))
    assert_close(m.modality_gap(img, img), 0.0)


# ---------------------------------------------------------------- linear probe
def test_binarize_labels():
    out = m.binarize_labels(np.array([1.0, 0.0, np.nan, -1.0]))
    np.testing.assert_array_equal(out[:3], [1.0, 0.0, 0.0])
    assert np.isnan(out[3])
    # a row without any label is not evidence of absence: left out, not negative
    rows = m.binarize_labels(np.array([[1.0, np.nan], [np.nan, np.nan], [0.0, np.nan]]))
    np.testing.assert_array_equal(rows[[0, 2]], [[1.0, 0.0], [0.0, 0.0]])
    assert np.isnan(rows[1]).all()


def test_probe_subsample_is_seeded_and_sized():
    a = m.probe_subsample(100, 0.1, seed=3)
    assert len(a) == 10 and len(set(a)) == 10
    np.testing.assert_array_equal(a, m.probe_subsample(100, 0.1, seed=3))
    assert len(m.probe_subsample(100, 0.001, seed=0)) == 2


def test_linear_probe_separable_data_gets_auroc_one_and_single_class_gets_half():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4))
    y = np.stack([(x[:, 0] > 0).astype(float), np.zeros(60)], axis=1)
    y[5, 0] = np.nan  # an uncertain label is left out of the fit
    scores = m.linear_probe_scores(x[:40], y[:40], x[40:], seed=0)
    assert m.auroc(y[40:, 0], scores[:, 0]) == pytest.approx(1.0)
    np.testing.assert_array_equal(scores[:, 1], 0.5)
    assert m.masked_macro_auroc(y[40:], scores) == pytest.approx(1.0)


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_ci_contains_point_estimate():
    rng = np.random.default_rng(1)
    hits = (rng.random(200) < 0.3).astype(float)
    res = m.bootstrap_ci(lambda idx: float(hits[idx].mean()), len(hits), n_boot=500, seed=0)
    assert res["value"] == pytest.approx(hits.mean())
    assert res["ci_low"] <= res["value"] <= res["ci_high"]
    assert res["ci_high"] - res["ci_low"] < 0.2
    assert res["n_boot_used"] == 500


def test_bootstrap_drops_undefined_resamples():
    y = np.array([1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.5])
    res = m.bootstrap_ci(lambda idx: m.auroc(y[idx], s[idx]), len(y), n_boot=200, seed=0)
    assert res["value"] == 1.0
    assert 0 < res["n_boot_used"] < 200


def test_paired_bootstrap_identical_models_give_zero():
    rng = np.random.default_rng(2)
    hits = (rng.random(100) < 0.5).astype(float)
    stat = lambda idx: float(hits[idx].mean())  # noqa: E731
    res = m.paired_bootstrap(stat, stat, len(hits), n_boot=300, seed=0)
    assert res["diff"] == 0.0 and res["ci_low"] == 0.0 and res["ci_high"] == 0.0
    assert res["p_value"] == 1.0


def test_paired_bootstrap_detects_a_real_difference():
    rng = np.random.default_rng(3)
    a = (rng.random(300) < 0.3).astype(float)
    b = np.maximum(a, (rng.random(300) < 0.4).astype(float))  # b is right wherever a is
    res = m.paired_bootstrap(lambda i: float(a[i].mean()), lambda i: float(b[i].mean()),
                             300, n_boot=500, seed=0)
    assert res["diff"] == pytest.approx(b.mean() - a.mean())
    assert res["ci_low"] > 0 and res["p_value"] < 0.01
