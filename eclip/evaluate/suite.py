"""The evaluation suite: every metric of one model on one split, as bootstrap-able statistics.

The model contributes only arrays (``ModelEmbeddings``); the dataset contributes the items
(``EvalItems``). ``statistics()`` turns both into ``{metric name: Stat}``, where a Stat is a
function of item indices. ``summarise`` bootstraps each Stat; ``compare`` scores two models'
Stats on the same resamples (paired bootstrap). Building the Stats of two models over one
``EvalItems`` is what makes their items identical.

``zero_shot_reference`` gives what the data alone scores on the zero-shot tasks (the
majority class, the train-split label prior, the positives' prevalence) and how many
positives and negatives each prompt pair has: the numbers a model's must be read against.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pandas as pd

from eclip.data.manifest import label_columns
from eclip.errors import EvaluationError
from eclip.evaluate import metrics as M
from eclip.evaluate.targets import binary_targets, multiclass_targets
from eclip.model.encode import l2_normalize
from eclip.model.prompts import PromptSet

PROBE_FRACTIONS = (0.01, 0.10, 1.0)
RECALL_KS = (1, 5, 10)
UNIFORMITY_MAX = 4000  # uniformity is O(n^2): above this, a seeded subsample of items
UNIFORMITY_MIN = 10  # below this many items uniformity is a handful of pairs (0.000 for two copies of a film)
SMALL_GALLERY = 100  # retrieval over fewer items than this carries a note: R@k -> 1 as k -> n
MIN_POSITIVES = 10  # a prompt pair's AUROC needs at least this many positives and negatives


@dataclass
class ModelEmbeddings:
    """What one checkpoint contributes: embeddings of every manifest row and unique text,
    plus encoded prompt sets (multiclass: [C, D]; binary: [L, 2, D] = (positive, negative))."""

    image_emb: np.ndarray
    text_emb: np.ndarray
    text_index: np.ndarray
    prompt_emb: dict[str, np.ndarray]


@dataclass
class Stat:
    """``fn`` of indices into ``n`` items; ``on``: which evaluated rows (positions in
    ``EvalItems.rows``) those n items are, when not all of them in order (for a bootstrap
    over clusters of rows)."""

    fn: Callable[[np.ndarray], float]
    n: int
    on: np.ndarray | None = None

    def clusters(self, row_clusters: np.ndarray | None) -> np.ndarray | None:
        """The cluster of each of this statistic's items, from the evaluated rows' clusters."""
        if row_clusters is None:
            return None
        return np.asarray(row_clusters)[self.on] if self.on is not None else np.asarray(row_clusters)


@dataclass
class EvalItems:
    """The rows evaluated (``rows``, positions in the manifest) and training rows for the probe."""

    df: pd.DataFrame
    rows: np.ndarray
    train_rows: np.ndarray
    prompt_sets: list[PromptSet]
    probe_seeds: tuple[int, ...] = (0, 1, 2)
    probe_fractions: tuple[float, ...] = PROBE_FRACTIONS
    seed: int = 0
    min_positives: int = MIN_POSITIVES  # AUROC only for labels with this many of both classes
    missing: str = "labelled"  # what a blank label means: labelled | exclude | negative (targets.py)
    clusters: np.ndarray | None = None  # per evaluated row: its cluster for the bootstrap (None: rows)


def select_rows(df: pd.DataFrame, split: str, subset: str = "all") -> np.ndarray:
    """Manifest positions of ``split`` (``subset='gaze'``: only rows with a gaze heatmap)."""
    mask = (df["split"] == split).to_numpy(copy=True)
    if subset == "gaze":
        mask = mask & (df["gaze_path"].astype(str) != "").to_numpy()
    return np.flatnonzero(mask)


def statistics(emb: ModelEmbeddings, items: EvalItems) -> tuple[dict[str, Stat], dict]:
    """Every metric for one model on ``items``, and the non-scalar details (confusion
    matrices, per-seed probe numbers, what was skipped and why)."""
    stats: dict[str, Stat] = {}
    details: dict = {}
    for ps in items.prompt_sets:
        if ps.task == "multiclass":
            stats.update(_zero_shot_multiclass(emb, items, ps, details))
        else:
            stats.update(_zero_shot_binary(emb, items, ps, details))
    stats.update(_retrieval(emb, items, details))
    stats.update(_geometry(emb, items, details))
    stats.update(_probe(emb, items, details))
    return stats, details


# --------------------------------------------------------------------------- zero-shot
def _zero_shot_multiclass(emb: ModelEmbeddings, items: EvalItems, ps: PromptSet,
                          details: dict) -> dict[str, Stat]:
    target_all = multiclass_targets(items.df.iloc[items.rows], ps, items.missing)
    keep = target_all >= 0
    if not keep.any():
        details.setdefault("skipped", []).append(f"zs/{ps.name}: no single-positive items")
        return {}
    rows, y = items.rows[keep], target_all[keep]
    pred = M.zero_shot_predict(emb.image_emb[rows], emb.prompt_emb[ps.name])
    k = len(ps.classes)
    details[f"zs/{ps.name}"] = {
        "classes": ps.class_names,
        "confusion": M.confusion_matrix(y, pred, k).tolist(),
        "support": np.bincount(y, minlength=k).tolist(),
    }
    correct = (pred == y).astype(float)
    on = np.flatnonzero(keep)
    return {  # headline first: balanced accuracy is 1/K for a constant answer, whatever the class mix
        f"zs/{ps.name}/balanced_accuracy": Stat(lambda i: M.balanced_accuracy(y[i], pred[i], k), len(y), on),
        f"zs/{ps.name}/macro_f1": Stat(lambda i: M.macro_f1(y[i], pred[i], k), len(y), on),
        f"zs/{ps.name}/accuracy": Stat(lambda i: float(correct[i].mean()), len(y), on),
    }


def _zero_shot_binary(emb: ModelEmbeddings, items: EvalItems, ps: PromptSet,
                      details: dict) -> dict[str, Stat]:
    """AUROC of each prompt pair whose label has ``items.min_positives`` positives and
    negatives among the evaluated rows, and the macro AUROC over those labels only."""
    pairs = emb.prompt_emb[ps.name]  # [L, 2, D]
    img = l2_normalize(emb.image_emb[items.rows])
    targets, scores, names = [], [], []
    for j, (lab, count) in enumerate(zip(ps.binary, binary_counts(items, ps))):
        if not count["scored"]:
            continue
        s_pos, s_neg = img @ pairs[j, 0], img @ pairs[j, 1]
        targets.append(count["y"])
        scores.append(M.binary_pair_probability(s_pos, s_neg))
        names.append(lab.name)
    if not names:
        details.setdefault("skipped", []).append(
            f"zs/{ps.name}: no label with {items.min_positives} positives and negatives")
        return {}
    y_mat, s_mat = np.stack(targets, 1), np.stack(scores, 1)
    out = {f"zs/{ps.name}/macro_auroc": Stat(lambda i: M.masked_macro_auroc(y_mat[i], s_mat[i]), len(y_mat))}
    for j, name in enumerate(names):
        out[f"zs/{ps.name}/{name.replace('/', '-')}/auroc"] = Stat(_masked_auroc(y_mat[:, j], s_mat[:, j]), len(y_mat))
    details[f"zs/{ps.name}"] = {
        "labels": names, "positives": [int(np.nansum(t)) for t in targets],
        "negatives": [int(np.sum(t == 0)) for t in targets]}
    return out


def binary_counts(items: EvalItems, ps: PromptSet) -> list[dict]:
    """Per pair of a binary set, on the evaluated rows: targets ``y`` (NaN = left out),
    ``n_pos``, ``n_neg``, whether its AUROC is ``scored`` (both counts reach
    ``items.min_positives``) and, when not, ``why`` as a table shows it: "n/a (3 positives)"."""
    df = items.df.iloc[items.rows]
    out = []
    for lab in ps.binary:
        y = binary_targets(df, lab, items.missing)
        n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
        if not lab.labels:
            why = "n/a (no label)"
        elif n_pos < items.min_positives:
            why = f"n/a ({_count(n_pos, 'positive')})"
        elif n_neg < items.min_positives:
            why = f"n/a ({_count(n_neg, 'negative')})"
        else:
            why = ""
        out.append({"y": y, "n_pos": n_pos, "n_neg": n_neg, "scored": not why, "why": why})
    return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _masked_auroc(y: np.ndarray, s: np.ndarray) -> Callable[[np.ndarray], float]:
    def fn(i: np.ndarray) -> float:
        yi, si = y[i], s[i]
        known = ~np.isnan(yi)
        return M.auroc(yi[known], si[known])
    return fn


# --------------------------------------------------------------------------- baselines
def zero_shot_reference(items: EvalItems) -> dict[str, dict]:
    """What the data alone scores on each zero-shot prompt set of ``items``, and the
    counts behind it; no model involved, so one per evaluated subset.

    Multiclass: the support of each class on the evaluated rows, the label prior on the
    ``train`` rows (the evaluated rows' own mix when there are none) and the two baselines
    of ``constant_answers``, ``majority`` and ``prior``.
    Binary: per pair n_pos, n_neg, the positives' prevalence, whether the AUROC is scored
    (``min_positives``), the majority answer (from the train prevalence) and its accuracy;
    a constant score has AUROC 0.5 for every pair. ``baselines`` maps each metric name to
    {"majority": value, "prior": value}.
    """
    out = {}
    for ps in items.prompt_sets:
        ref = _multiclass_reference(items, ps) if ps.task == "multiclass" else _binary_reference(items, ps)
        if ref is not None:
            out[ps.name] = ref
    return out


def baseline_values(reference: dict[str, dict]) -> dict[str, dict]:
    """``{metric name: {"majority": v, "prior": v}}`` over every prompt set of a reference."""
    return {m: v for ref in reference.values() for m, v in ref["baselines"].items()}


def _multiclass_reference(items: EvalItems, ps: PromptSet) -> dict | None:
    k = len(ps.classes)
    y = multiclass_targets(items.df.iloc[items.rows], ps, items.missing)
    y = y[y >= 0]
    if not len(y):
        return None
    y_train = multiclass_targets(items.df.iloc[items.train_rows], ps, items.missing) \
        if len(items.train_rows) else np.empty(0, int)
    c = constant_answers(y, y_train[y_train >= 0], k)
    name = f"zs/{ps.name}"
    return {
        "task": "multiclass", "classes": ps.class_names, "n": int(len(y)),
        "support": c.support.tolist(), "prior": c.prior.tolist(), "prior_from": c.prior_from,
        "n_prior": c.n_prior, "majority_class": ps.class_names[c.majority],
        "classes_present": int((c.support > 0).sum()),
        "baselines": {f"{name}/{metric}": values for metric, values in c.scores.items()}}


@dataclass(frozen=True)
class ConstantAnswers:
    """What the data alone scores on a multiclass task (see ``constant_answers``)."""

    support: np.ndarray  # [K] evaluated targets per class
    prior: np.ndarray  # [K] the label prior the answers are drawn from
    prior_from: str
    n_prior: int
    majority: int  # index of the prior's most common class
    scores: dict[str, dict[str, float]]  # {balanced_accuracy|macro_f1|accuracy: {majority, prior}}


def constant_answers(y: np.ndarray, y_train: np.ndarray, k: int) -> ConstantAnswers:
    """The two answers that need no image, scored on targets ``y`` (each in 0..k-1): ``majority``
    (the train prior's most common class for every image: balanced accuracy 1/K) and ``prior``
    (each class drawn at its train rate: expected accuracy sum_c q_c p_c, balanced accuracy mean
    p_c, macro-F1 from the expected counts). ``y_train``: the train split's targets; without
    any, the prior is the evaluated rows' own mix."""
    support = np.bincount(y, minlength=k)
    prior = np.bincount(y_train if len(y_train) else y, minlength=k) / max(len(y_train) or len(y), 1)
    majority = int(np.argmax(prior))
    constant = np.full(len(y), majority)
    q, present = support / max(len(y), 1), support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(q + prior > 0, 2 * q * prior / (q + prior), 0.0)
    return ConstantAnswers(
        support=support, prior=prior, n_prior=int(len(y_train) or len(y)), majority=majority,
        prior_from="train" if len(y_train) else "evaluated rows (no train row with one class)",
        scores={"balanced_accuracy": {"majority": M.balanced_accuracy(y, constant, k),
                                      "prior": float(prior[present].mean())},
                "macro_f1": {"majority": M.macro_f1(y, constant, k), "prior": float(f1[present].mean())},
                "accuracy": {"majority": M.accuracy(y, constant), "prior": float(np.dot(q, prior))}})


def _binary_reference(items: EvalItems, ps: PromptSet) -> dict | None:
    if not ps.binary:
        return None
    train_df = items.df.iloc[items.train_rows]
    labels, baselines = [], {}
    for lab, count in zip(ps.binary, binary_counts(items, ps)):
        known = count["n_pos"] + count["n_neg"]
        prevalence = count["n_pos"] / known if known else float("nan")
        y_train = binary_targets(train_df, lab, items.missing) if len(train_df) else np.empty(0)
        n_train = int(np.sum(~np.isnan(y_train)))
        train_prevalence = float(np.nansum(y_train) / n_train) if n_train else float("nan")
        guide = train_prevalence if n_train else prevalence
        answer = "positive" if guide > 0.5 else "negative"
        labels.append({
            "name": lab.name, "n_pos": count["n_pos"], "n_neg": count["n_neg"],
            "prevalence": prevalence, "train_prevalence": train_prevalence,
            "scored": count["scored"], "why": count["why"], "majority_answer": answer,
            "majority_accuracy": (prevalence if answer == "positive" else 1 - prevalence) if known
            else float("nan")})
        if count["scored"]:
            baselines[f"zs/{ps.name}/{lab.name.replace('/', '-')}/auroc"] = {"majority": 0.5, "prior": 0.5}
    n_scored = sum(lab["scored"] for lab in labels)
    if n_scored:
        baselines[f"zs/{ps.name}/macro_auroc"] = {"majority": 0.5, "prior": 0.5}
    return {"task": "binary", "min_positives": items.min_positives, "missing": items.missing,
            "labels": labels, "n_scored": n_scored, "n_labels": len(labels), "baselines": baselines}


# --------------------------------------------------------------------------- retrieval
def _retrieval(emb: ModelEmbeddings, items: EvalItems, details: dict) -> dict[str, Stat]:
    """Gallery = the unique report texts of the evaluated images (re-indexed)."""
    if len(items.rows) < 2:
        return {}
    own = emb.text_index[items.rows]
    gallery_ids, local = np.unique(own, return_inverse=True)
    if len(gallery_ids) < 2:  # e.g. an evaluation set without reports: R@1 would be 1.0
        details.setdefault("skipped", []).append("retrieval: fewer than 2 distinct report texts")
        return {}
    i2t, t2i = M.image_text_ranks(emb.image_emb[items.rows], emb.text_emb[gallery_ids], local)
    details["retrieval"] = {"n_images": int(len(i2t)), "n_unique_texts": int(len(t2i))}
    if note := small_gallery_note(len(t2i), len(i2t)):
        details["retrieval"]["note"] = note
    out = {}
    text_row = np.unique(local, return_index=True)[1]  # t2i's items are texts: each at its first image
    for name, ranks, on in (("i2t", i2t, None), ("t2i", t2i, text_row)):
        for k in RECALL_KS:
            hits = (ranks < k).astype(float)
            out[f"retrieval/{name}/R@{k}"] = Stat(lambda i, h=hits: float(h[i].mean()), len(hits), on)
    return out


def small_gallery_note(n_texts: int, n_images: int) -> str:
    """Why R@k on a small gallery says little ('' for galleries of ``SMALL_GALLERY`` or more):
    with k close to the gallery's size every ranking finds the match, so each R@k is given
    beside what a random ranking scores (k / n)."""
    n = min(n_texts, n_images)
    if n >= SMALL_GALLERY:
        return ""
    chance = ", ".join(f"R@{k} {min(k, n_texts) / n_texts:.3f}" for k in RECALL_KS)
    return (f"small gallery: image-to-text retrieval ranks {n_texts} report texts, text-to-image "
            f"{n_images} images (fewer than {SMALL_GALLERY}), so R@k is near 1 by construction when k "
            f"is close to that size; a random ranking scores {chance} (image to text)")


# --------------------------------------------------------------------------- geometry
def _geometry(emb: ModelEmbeddings, items: EvalItems, details: dict) -> dict[str, Stat]:
    img = l2_normalize(emb.image_emb[items.rows])
    txt = l2_normalize(emb.text_emb[emb.text_index[items.rows]])
    if len(img) < 2:
        return {}
    sq = M.pair_sq_distances(img, txt)
    sub = np.arange(len(img))
    if len(sub) > UNIFORMITY_MAX:
        sub = np.sort(np.random.default_rng(items.seed).choice(len(img), UNIFORMITY_MAX, replace=False))
    out = {"geometry/alignment": Stat(lambda i: float(sq[i].mean()), len(sq))}
    if len(img) < UNIFORMITY_MIN:
        details.setdefault("skipped", []).append(
            f"geometry/uniformity: {len(img)} items, fewer than {UNIFORMITY_MIN} (it averages over "
            "pairs of items; a few pairs, or two copies of one film, say nothing about the spread)")
    else:  # a resample of items is scored over the pairs it forms (metrics.uniformity_statistic)
        out["geometry/uniformity_image"] = Stat(M.uniformity_statistic(img[sub]), len(sub), sub)
        out["geometry/uniformity_text"] = Stat(M.uniformity_statistic(txt[sub]), len(sub), sub)
    out["geometry/modality_gap"] = Stat(
        lambda i: float(np.linalg.norm(img[i].mean(0) - txt[i].mean(0))), len(img))
    return out


# --------------------------------------------------------------------------- linear probe
def probe_labels(df: pd.DataFrame) -> list[str]:
    return label_columns(df)


def _probe(emb: ModelEmbeddings, items: EvalItems, details: dict) -> dict[str, Stat]:
    """Linear-probe macro AUROC at each training fraction, over the labels with at least
    ``items.min_positives`` positives and negatives among the evaluated rows (the rule of the
    zero-shot pairs); ``details["probe"]["counts"]`` has every label's counts and why a label
    was left out."""
    labels = probe_labels(items.df)
    if len(items.train_rows) < 2 or not labels or np.intersect1d(items.train_rows, items.rows).size:
        # a probe scored on rows it was fitted on would measure memory, not the embedding
        details.setdefault("skipped", []).append("probe: needs 'train' rows disjoint from the evaluated rows")
        return {}
    y_train = M.binarize_labels(items.df[labels].to_numpy(float)[items.train_rows])
    y_test = M.binarize_labels(items.df[labels].to_numpy(float)[items.rows])
    counts = probe_counts(labels, y_test, items.min_positives)
    scored = np.array([c["scored"] for c in counts])
    summary = {"labels": labels, "seeds": list(items.probe_seeds), "min_positives": items.min_positives,
               "counts": counts, "n_scored": int(scored.sum()), "n_labels": len(labels)}
    if not scored.any():
        details["probe"] = summary
        details.setdefault("skipped", []).append(
            f"probe: no label with {items.min_positives} positives and {items.min_positives} negatives "
            "among the evaluated rows")
        return {}
    y_train, y_test = y_train[:, scored], y_test[:, scored]
    x_train, x_test = emb.image_emb[items.train_rows], emb.image_emb[items.rows]
    out, info = {}, {}
    for frac in items.probe_fractions:
        runs = []
        for seed in items.probe_seeds:
            sel = M.probe_subsample(len(x_train), frac, seed)
            runs.append(M.linear_probe_scores(x_train[sel], y_train[sel], x_test, seed=seed))
        per_seed = [M.masked_macro_auroc(y_test, s) for s in runs]
        name = f"probe/{frac * 100:g}%/macro_auroc"
        info[name] = {"per_seed": per_seed, "std": float(np.std(per_seed)),
                         "n_train": int(len(M.probe_subsample(len(x_train), frac, 0)))}
        out[name] = Stat(lambda i, r=runs: _nanmean(
            [M.masked_macro_auroc(y_test[i], s[i]) for s in r]), len(y_test))
    details["probe"] = {**summary, **info}
    return out


def probe_counts(labels: list[str], y: np.ndarray, min_positives: int) -> list[dict]:
    """Per label column of the probe's targets ``y`` [N, L] (NaN = left out): ``n_pos``,
    ``n_neg``, whether it enters the macro AUROC (``scored``: both reach ``min_positives``)
    and, when not, ``why`` as a table shows it: "n/a (3 positives)"."""
    out = []
    for j, name in enumerate(labels):
        n_pos, n_neg = int(np.sum(y[:, j] == 1)), int(np.sum(y[:, j] == 0))
        why = (f"n/a ({_count(n_pos, 'positive')})" if n_pos < min_positives
               else f"n/a ({_count(n_neg, 'negative')})" if n_neg < min_positives else "")
        out.append({"name": name, "n_pos": n_pos, "n_neg": n_neg, "scored": not why, "why": why})
    return out


def _nanmean(values: list[float]) -> float:
    ok = [v for v in values if not np.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


# --------------------------------------------------------------------------- bootstrap
def summarise(stats: dict[str, Stat], n_boot: int, seed: int,
              clusters: np.ndarray | None = None) -> dict[str, dict]:
    """Bootstrap 95 % interval of every Stat; with ``clusters`` (one id per evaluated row)
    whole clusters of rows are resampled instead of rows."""
    return {name: M.bootstrap_ci(s.fn, s.n, n_boot, seed, clusters=s.clusters(clusters))
            for name, s in stats.items()}


def compare(stats_a: dict[str, Stat], stats_b: dict[str, Stat], n_boot: int, seed: int,
            clusters: np.ndarray | None = None) -> dict[str, dict]:
    """Paired bootstrap of b - a for every metric both models have (over ``clusters`` of
    the evaluated rows when given)."""
    out = {}
    for name in stats_a:
        if name not in stats_b:
            continue
        a, b = stats_a[name], stats_b[name]
        if a.n != b.n:
            raise EvaluationError(f"{name}: the two models were scored on different items "
                                  f"({a.n} vs {b.n}); compare needs identical data")
        out[name] = M.paired_bootstrap(a.fn, b.fn, a.n, n_boot, seed, clusters=a.clusters(clusters))
    return out
