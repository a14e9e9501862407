"""The evaluation suite: every metric of one model on one split, as bootstrap-able statistics.

The model contributes only arrays (``ModelEmbeddings``); the dataset contributes the items
(``EvalItems``). ``statistics()`` turns both into ``{metric name: Stat}``, where a Stat is a
function of item indices. ``summarise`` bootstraps each Stat; ``compare`` scores two models'
Stats on the same resamples (paired bootstrap). Building the Stats of two models over one
``EvalItems`` is what makes their items identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pandas as pd

from eclip.evaluate import metrics as M
from eclip.evaluate.targets import binary_targets, multiclass_targets
from eclip.model.encode import l2_normalize
from eclip.model.prompts import PromptSet
from eclip.errors import EvaluationError

PROBE_FRACTIONS = (0.01, 0.10, 1.0)
RECALL_KS = (1, 5, 10)
UNIFORMITY_MAX = 4000  # uniformity is O(n^2): above this, a seeded subsample of items


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
    fn: Callable[[np.ndarray], float]
    n: int


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
    target_all = multiclass_targets(items.df.iloc[items.rows], ps)
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
    return {
        f"zs/{ps.name}/accuracy": Stat(lambda i: float(correct[i].mean()), len(y)),
        f"zs/{ps.name}/macro_f1": Stat(lambda i: M.macro_f1(y[i], pred[i], k), len(y)),
    }


def _zero_shot_binary(emb: ModelEmbeddings, items: EvalItems, ps: PromptSet,
                      details: dict) -> dict[str, Stat]:
    df = items.df.iloc[items.rows]
    pairs = emb.prompt_emb[ps.name]  # [L, 2, D]
    img = l2_normalize(emb.image_emb[items.rows])
    targets, scores, names = [], [], []
    for j, lab in enumerate(ps.binary):
        y = binary_targets(df, lab)
        known = ~np.isnan(y)
        if len(np.unique(y[known])) < 2:
            continue  # AUROC undefined without both classes
        s_pos, s_neg = img @ pairs[j, 0], img @ pairs[j, 1]
        targets.append(y)
        scores.append(M.binary_pair_probability(s_pos, s_neg))
        names.append(lab.name)
    if not names:
        details.setdefault("skipped", []).append(f"zs/{ps.name}: no label with both classes")
        return {}
    y_mat, s_mat = np.stack(targets, 1), np.stack(scores, 1)
    out = {f"zs/{ps.name}/macro_auroc": Stat(lambda i: M.masked_macro_auroc(y_mat[i], s_mat[i]), len(y_mat))}
    for j, name in enumerate(names):
        out[f"zs/{ps.name}/{name.replace('/', '-')}/auroc"] = Stat(_masked_auroc(y_mat[:, j], s_mat[:, j]), len(y_mat))
    details[f"zs/{ps.name}"] = {
        "labels": names, "positives": [int(np.nansum(t)) for t in targets],
        "negatives": [int(np.sum(t == 0)) for t in targets]}
    return out


def _masked_auroc(y: np.ndarray, s: np.ndarray) -> Callable[[np.ndarray], float]:
    def fn(i: np.ndarray) -> float:
        yi, si = y[i], s[i]
        known = ~np.isnan(yi)
        return M.auroc(yi[known], si[known])
    return fn


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
    out = {}
    for name, ranks in (("i2t", i2t), ("t2i", t2i)):
        for k in RECALL_KS:
            hits = (ranks < k).astype(float)
            out[f"retrieval/{name}/R@{k}"] = Stat(lambda i, h=hits: float(h[i].mean()), len(hits))
    return out


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
    u_img, u_txt = M.uniformity_terms(img[sub]), M.uniformity_terms(txt[sub])
    return {
        "geometry/alignment": Stat(lambda i: float(sq[i].mean()), len(sq)),
        # bootstrap resamples per-item kernel means (the pairs within a resample are not
        # re-formed): exact point value, slightly narrow interval, far cheaper than O(n^2) x B
        "geometry/uniformity_image": Stat(lambda i: float(np.log(u_img[i].mean())), len(sub)),
        "geometry/uniformity_text": Stat(lambda i: float(np.log(u_txt[i].mean())), len(sub)),
        "geometry/modality_gap": Stat(
            lambda i: float(np.linalg.norm(img[i].mean(0) - txt[i].mean(0))), len(img)),
    }


# --------------------------------------------------------------------------- linear probe
def probe_labels(df: pd.DataFrame) -> list[str]:
    from eclip.data.manifest import label_columns

    return label_columns(df)


def _probe(emb: ModelEmbeddings, items: EvalItems, details: dict) -> dict[str, Stat]:
    labels = probe_labels(items.df)
    if len(items.train_rows) < 2 or not labels or np.intersect1d(items.train_rows, items.rows).size:
        # a probe scored on rows it was fitted on would measure memory, not the embedding
        details.setdefault("skipped", []).append("probe: needs 'train' rows disjoint from the evaluated rows")
        return {}
    y_train = M.binarize_labels(items.df[labels].to_numpy(float)[items.train_rows])
    y_test = M.binarize_labels(items.df[labels].to_numpy(float)[items.rows])
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
    details["probe"] = {"labels": labels, "seeds": list(items.probe_seeds), **info}
    return out


def _nanmean(values: list[float]) -> float:
    ok = [v for v in values if not np.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


# --------------------------------------------------------------------------- bootstrap
def summarise(stats: dict[str, Stat], n_boot: int, seed: int) -> dict[str, dict]:
    return {name: M.bootstrap_ci(s.fn, s.n, n_boot, seed) for name, s in stats.items()}


def compare(stats_a: dict[str, Stat], stats_b: dict[str, Stat], n_boot: int, seed: int) -> dict[str, dict]:
    """Paired bootstrap of b - a for every metric both models have."""
    out = {}
    for name in stats_a:
        if name not in stats_b:
            continue
        a, b = stats_a[name], stats_b[name]
        if a.n != b.n:
            raise EvaluationError(f"{name}: the two models were scored on different items "
                                  f"({a.n} vs {b.n}); compare needs identical data")
        out[name] = M.paired_bootstrap(a.fn, b.fn, a.n, n_boot, seed)
    return out
