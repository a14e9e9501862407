"""Evaluation metrics on embeddings, in plain numpy (plus scikit-learn for the probe).

Every metric here works on arrays the index already holds (L2-normalised image and text
embeddings, label matrices), so it can be tested on hand-made numbers without a model.
Each metric that feeds a confidence interval is also offered as a *statistic over item
indices*: ``fn(idx) -> float``. Bootstrap code resamples ``idx`` and calls it; paired
bootstrap calls the two models' statistics with the same ``idx``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from eclip.errors import EvaluationError
from eclip.model.encode import l2_normalize

Statistic = Callable[[np.ndarray], float]


# --------------------------------------------------------------------------- basics
def zero_shot_predict(image_emb: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
    """Index of the most similar class for every image (argmax of cosine similarity)."""
    sims = l2_normalize(image_emb) @ l2_normalize(class_emb).T
    return sims.argmax(axis=1)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of items of true class i predicted as class j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true = np.asarray(y_true)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == np.asarray(y_pred)))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true``.

    Classes absent from the truth are left out (their F1 is undefined), so a bootstrap
    resample that misses a rare class still gives a finite number.
    """
    return float(macro_f1_rows(np.asarray(y_true)[None], np.asarray(y_pred)[None], n_classes)[0])


def macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``macro_f1`` of each row of ``[R, m]`` label arrays at once (R bootstrap resamples
    in one pass: a per-resample Python loop was half of a zero-shot page's run)."""
    cm = _confusion_rows(y_true, y_pred, n_classes)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(float)
    support, predicted = cm.sum(axis=2), cm.sum(axis=1)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return _mean_over_present(f1, support > 0)


def balanced_accuracy_rows(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``balanced_accuracy`` of each row of ``[R, m]`` label arrays at once."""
    cm = _confusion_rows(y_true, y_pred, n_classes)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(float)
    support = cm.sum(axis=2)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    return _mean_over_present(recall, support > 0)


def _confusion_rows(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[R, K, K]``: the confusion matrix of each row, in one bincount."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    rows = y_true.shape[0]
    codes = (np.arange(rows)[:, None] * n_classes + y_true) * n_classes + y_pred
    return np.bincount(codes.ravel(), minlength=rows * n_classes ** 2).reshape(rows, n_classes, n_classes)


def _mean_over_present(per_class: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean of ``[R, K]`` per-class values over each row's classes present in the truth
    (NaN for a row without any)."""
    count = present.sum(axis=1)
    return np.divide(np.where(present, per_class, 0.0).sum(axis=1), count, out=np.full(len(count), np.nan),
                     where=count > 0)


def accuracy_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``accuracy`` of each row of ``[R, m]`` label arrays."""
    return np.mean(np.asarray(y_true) == np.asarray(y_pred), axis=1)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present in ``y_true``: answering one class
    for every item scores 1/K however common that class is (plain accuracy rewards it
    with the class's share)."""
    return float(balanced_accuracy_rows(np.asarray(y_true)[None], np.asarray(y_pred)[None], n_classes)[0])


# --------------------------------------------------------------------------- zero-shot, binary
def binary_pair_probability(s_pos: np.ndarray, s_neg: np.ndarray) -> np.ndarray:
    """CheXzero's score: softmax over the (positive, negative) prompt similarities."""
    s_pos = np.asarray(s_pos, dtype=np.float64)
    s_neg = np.asarray(s_neg, dtype=np.float64)
    # exp(a)/(exp(a)+exp(b)) == 1/(1+exp(b-a)), stable for any magnitude.
    return 1.0 / (1.0 + np.exp(s_neg - s_pos))


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count 1/2).

    NaN when only one class is present, so callers can skip or report it.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # for each positive: negatives strictly below it, plus half of those tied with it
    neg = np.sort(s[~y])
    below = np.searchsorted(neg, s[y], side="left")
    tied = np.searchsorted(neg, s[y], side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (n_pos * n_neg))


def macro_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean AUROC over the columns of ``y`` (items x labels) that hold both classes."""
    values = [auroc(y[:, j], scores[:, j]) for j in range(y.shape[1])]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


# --------------------------------------------------------------------------- retrieval
def retrieval_ranks(query_emb: np.ndarray, gallery_emb: np.ndarray,
                    positives: Sequence[np.ndarray] | np.ndarray,
                    chunk: int = 1024) -> np.ndarray:
    """Best (0-based) rank of a positive gallery item for each query.

    ``positives[i]`` is an int or an array of gallery indices that count as hits for
    query i. Ties are broken pessimistically (a positive tied with a negative ranks
    behind it), so a collapsed model cannot score by luck of ordering.
    """
    q = l2_normalize(query_emb)
    g = l2_normalize(gallery_emb)
    ranks = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):  # chunks bound memory to chunk x gallery floats
        sims = q[start:start + chunk] @ g.T
        for r, row in enumerate(sims):
            pos = np.atleast_1d(positives[start + r])
            best = row[pos].max()
            # positives are not competitors: count strictly the others at or above best
            ranks[start + r] = int(np.count_nonzero(row >= best)) - int(np.count_nonzero(row[pos] >= best))
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    ranks = np.asarray(ranks)
    return float(np.mean(ranks < k)) if ranks.size else float("nan")


def image_text_ranks(image_emb: np.ndarray, text_emb: np.ndarray,
                     text_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks for image->report (each image's positive = its report text among the unique
    texts) and report->image (each unique text's positives = every image with that text)."""
    text_index = np.asarray(text_index, dtype=np.int64)
    i2t = retrieval_ranks(image_emb, text_emb, text_index)
    owners = [np.flatnonzero(text_index == t) for t in range(len(text_emb))]
    if any(len(o) == 0 for o in owners):
        raise EvaluationError("every unique text must belong to at least one image")
    t2i = retrieval_ranks(text_emb, image_emb, owners)
    return i2t, t2i


# --------------------------------------------------------------------------- geometry
def alignment(image_emb: np.ndarray, text_emb: np.ndarray, alpha: float = 2.0) -> float:
    """Wang & Isola alignment: mean ||f(x) - g(y)||^alpha over positive pairs (row i with
    row i), on L2-normalised embeddings. 0 for perfectly aligned pairs; lower is better."""
    return float(np.mean(pair_sq_distances(image_emb, text_emb) ** (alpha / 2)))


def pair_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = l2_normalize(a) - l2_normalize(b)
    return np.einsum("ij,ij->i", d, d).astype(np.float64)


def uniformity_kernel(emb: np.ndarray, t: float = 2.0) -> np.ndarray:
    """[n, n] exp(-t ||x_i - x_j||^2) of L2-normalised rows, 0 on the diagonal (self-pairs)."""
    x = l2_normalize(emb).astype(np.float64)
    sq = np.clip(2.0 - 2.0 * (x @ x.T), 0.0, None)  # unit vectors: ||a-b||^2 = 2 - 2 a.b
    k = np.exp(-t * sq)
    np.fill_diagonal(k, 0.0)
    return k


def uniformity_terms(emb: np.ndarray, t: float = 2.0) -> np.ndarray:
    """Per-item mean of exp(-t ||x_i - x_j||^2) over the other items j != i;
    ``log(mean(terms))`` is Wang & Isola's uniformity over all distinct pairs. Not for a
    bootstrap: resampling these means keeps every item's pairs with the whole set, which
    leaves out the pairs' own variation (``uniformity_statistic`` resamples pairs)."""
    n = len(emb)
    if n < 2:
        return np.full(n, np.nan)
    return uniformity_kernel(emb, t).sum(axis=1) / (n - 1)


def uniformity(emb: np.ndarray, t: float = 2.0) -> float:
    """log mean over distinct pairs of exp(-t ||x - x'||^2); lower is more uniform."""
    return float(np.log(np.mean(uniformity_terms(emb, t))))


def uniformity_statistic(emb: np.ndarray, t: float = 2.0) -> Statistic:
    """Uniformity as a statistic over item indices that re-forms the pairs of a resample.

    A resample ``idx`` (items drawn with replacement) is scored over its pairs
    (idx[a], idx[b]), a != b, leaving out pairs of an item with a copy of itself (a
    self-pair, distance 0): with item counts c, sum c_i c_j K_ij / sum_{i != j} c_i c_j.
    On ``arange(n)`` it is exactly ``uniformity``. Uniformity is a U-statistic: each item
    enters n - 1 pairs, so its bootstrap spread is about twice that of a mean of per-item
    terms, which is what resampling ``uniformity_terms`` reported. O(n^2) per resample
    (a matrix-vector product); callers subsample large sets.
    """
    k = uniformity_kernel(emb, t)
    n = len(k)

    def fn(idx: np.ndarray) -> float:
        c = np.bincount(np.asarray(idx, np.int64), minlength=n).astype(np.float64)
        pairs = c.sum() ** 2 - np.dot(c, c)
        if pairs <= 0:
            return float("nan")
        return float(np.log(c @ k @ c / pairs))
    return fn


def modality_gap(image_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Euclidean distance between the centroids of the normalised image and text clouds."""
    return float(np.linalg.norm(l2_normalize(image_emb).mean(0) - l2_normalize(text_emb).mean(0)))


# --------------------------------------------------------------------------- linear probe
def binarize_labels(values: np.ndarray) -> np.ndarray:
    """Manifest labels [N, L] -> probe/AUROC targets: 1 -> 1, 0 -> 0, uncertain (-1) -> NaN
    (left out), blank -> 0 on a row that carries any label (a labelled report that does not
    name a finding) and NaN on a row without any label (the "labelled" policy of
    ``eclip.evaluate.targets``)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.where(v == 1.0, 1.0, 0.0)
    out[v == -1.0] = np.nan
    if out.ndim == 2:
        out[np.isnan(v).all(axis=1)] = np.nan
    return out


def probe_subsample(n: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of ``fraction`` of ``n`` training items (at least 2), seeded."""
    rng = np.random.default_rng(seed)
    k = min(n, max(2, int(round(fraction * n))))
    return np.sort(rng.choice(n, size=k, replace=False))


def linear_probe_scores(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                        seed: int = 0, c: float = 1.0) -> np.ndarray:
    """One logistic regression per label column; returns P(positive) for the test items.

    NaN targets are left out of that label's fit. A label whose training subset holds a
    single class gets a constant score (AUROC 0.5): with 1 % of labels that happens, and
    it is the honest outcome of having seen no example of the other class.
    """
    from sklearn.linear_model import LogisticRegression

    scores = np.full((len(test_x), train_y.shape[1]), 0.5)
    for j in range(train_y.shape[1]):
        known = ~np.isnan(train_y[:, j])
        y = train_y[known, j]
        if y.size == 0 or y.min() == y.max():
            continue
        clf = LogisticRegression(C=c, max_iter=1000, random_state=seed)
        clf.fit(train_x[known], y.astype(int))
        scores[:, j] = clf.predict_proba(test_x)[:, 1]
    return scores


def masked_macro_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """Macro AUROC over label columns, leaving out NaN targets per column."""
    values = []
    for j in range(y.shape[1]):
        known = ~np.isnan(y[:, j])
        v = auroc(y[known, j], scores[known, j])
        if not np.isnan(v):
            values.append(v)
    return float(np.mean(values)) if values else float("nan")


# --------------------------------------------------------------------------- bootstrap
def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` resamples (with replacement) of ``n`` item indices, seeded."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def cluster_bootstrap_indices(clusters: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """``n_boot`` resamples of whole clusters: as many cluster draws (with replacement) as
    there are clusters, each contributing all its items. ``clusters[i]`` is item i's
    cluster (any hashable values; e.g. its normalised report text), so items that share a
    report move together and count as one piece of evidence, not several."""
    _, inv = np.unique(np.asarray(clusters), return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    sizes = np.bincount(inv)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(sizes), size=len(sizes))
        length = sizes[pick]
        offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        out.append(order[np.repeat(starts[pick], length) + offset])
    return out


def resamples(n: int, n_boot: int, seed: int, clusters: np.ndarray | None = None):
    """Item resamples for a bootstrap: of items, or of ``clusters`` when given."""
    if clusters is None:
        return bootstrap_indices(n, n_boot, seed)
    if len(clusters) != n:
        raise EvaluationError(f"{len(clusters)} cluster ids for {n} items")
    return cluster_bootstrap_indices(clusters, n_boot, seed)


def bootstrap_ci(stat: Statistic, n: int, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95, clusters: np.ndarray | None = None) -> dict:
    """Point estimate on all items plus a percentile bootstrap interval (resampling items,
    or whole ``clusters`` of items when given).

    Resamples whose statistic is undefined (NaN, e.g. AUROC without a positive) are
    dropped; ``n_boot_used`` says how many remained.
    """
    point = stat(np.arange(n))
    samples = np.array([stat(idx) for idx in resamples(n, n_boot, seed, clusters)])
    lo, hi = _percentiles(samples, level)
    return {"value": point, "ci_low": lo, "ci_high": hi, "n": int(n),
            "n_boot_used": int(np.count_nonzero(~np.isnan(samples)))}


def paired_bootstrap(stat_a: Statistic, stat_b: Statistic, n: int, n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95, clusters: np.ndarray | None = None) -> dict:
    """Difference ``b - a`` of two models measured on the *same* items, with an interval
    from resampling the items (or whole ``clusters``) once per replicate and scoring both
    models on that resample.

    ``p_value`` is the two-sided bootstrap p-value of "no difference" (twice the smaller
    tail mass around 0), a rough guide next to the interval, not a substitute for it.
    """
    point = stat_b(np.arange(n)) - stat_a(np.arange(n))
    diffs = np.array([stat_b(idx) - stat_a(idx) for idx in resamples(n, n_boot, seed, clusters)])
    return _paired_result(point, diffs, n, level)


def paired_bootstrap_rows(stat_a: Callable[[np.ndarray], np.ndarray], stat_b: Callable[[np.ndarray], np.ndarray],
                          n: int, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """``paired_bootstrap`` (item resampling) for statistics that score an ``[R, m]`` matrix
    of resampled indices at once, one value per row: the same resamples and result, without
    a Python call per resample."""
    idx = bootstrap_indices(n, n_boot, seed)
    everything = np.arange(n)[None]
    point = float(stat_b(everything)[0] - stat_a(everything)[0])
    return _paired_result(point, stat_b(idx) - stat_a(idx), n, level)


def _paired_result(point: float, diffs: np.ndarray, n: int, level: float) -> dict:
    lo, hi = _percentiles(diffs, level)
    ok = diffs[~np.isnan(diffs)]
    if ok.size == 0 or np.all(ok == 0):
        p = 1.0
    else:
        p = float(min(1.0, 2 * min(np.mean(ok <= 0), np.mean(ok >= 0))))
    return {"diff": float(point), "ci_low": lo, "ci_high": hi, "n": int(n), "p_value": p,
            "n_boot_used": int(ok.size)}


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    ok = samples[~np.isnan(samples)]
    if ok.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(ok, [tail, 100 - tail])
    return float(lo), float(hi)
