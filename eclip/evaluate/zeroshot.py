"""Zero-shot scoring through an index: every image against encoded prompt sets.

This is the path the app's zero-shot page takes: a new prompt set costs one batched pass
of its *new* prompts through the text tower (``eclip.model.encode.encode_prompt_sets``,
memoised per model) plus one matrix product here over the cached image embeddings (see
benchmarks/index_eval.py for the time per 10k images).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eclip.evaluate.metrics import auroc, binary_pair_probability
from eclip.evaluate.suite import MIN_POSITIVES
from eclip.evaluate.targets import binary_target_matrix, target_text
from eclip.model.encode import l2_normalize
from eclip.model.prompts import BinaryLabel, PromptSet


def multiclass_scores(image_emb: np.ndarray, class_emb: np.ndarray,
                      temperature: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class index [N], softmax probabilities [N, C]) from cosine similarities.

    ``temperature`` only shapes the displayed probabilities; the argmax does not depend on it.
    """
    sims = _matmul(image_emb, l2_normalize(class_emb).T)
    z = (sims - sims.max(axis=1, keepdims=True)) / temperature
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    return sims.argmax(axis=1), probs


def binary_scores(image_emb: np.ndarray, pair_emb: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """[N, L] CheXzero probabilities from [L, 2, D] (positive, negative) ensembles; ``scale``
    multiplies the cosines first (the model's logit scale for probabilities a reader sees,
    ``eclip.model.encode.probability_scale``). AUROC and the 0.5 decision do not depend on it."""
    return binary_pair_probability(scale * _matmul(image_emb, pair_emb[:, 0].T),
                                   scale * _matmul(image_emb, pair_emb[:, 1].T))



def binary_results(df: pd.DataFrame, prompt_set: PromptSet, probs: np.ndarray,
                   min_positives: int = MIN_POSITIVES) -> pd.DataFrame:
    """One row per positive/negative pair of a binary set, scored on the rows of ``df``
    with ``probs`` from ``binary_scores``: the label it is scored against, positives,
    negatives (uncertain rows and rows without any label left out: a missing label is not
    a negative), AUROC, ``why`` it has none ("" when it has one) and the mean probability
    of the positive side. The AUROC is NaN unless the label has at least ``min_positives``
    positives *and* negatives (``eclip.evaluate``'s ``--min-positives``, default 10): an
    AUROC from one positive is a coin toss, not a measurement."""
    y = binary_target_matrix(df, prompt_set.binary)
    rows = [_binary_row(lab, y[:, j], probs[:, j], min_positives) for j, lab in enumerate(prompt_set.binary)]
    table = pd.DataFrame(rows, columns=["name", "label column", "positives", "negatives",
                                        "AUROC", "why", "mean probability"])
    return table.astype({"positives": "Int64", "negatives": "Int64", "AUROC": float})


def _binary_row(lab: BinaryLabel, y: np.ndarray, p: np.ndarray, min_positives: int) -> dict:
    row = {"name": lab.name, "label column": target_text(lab.labels, lab.negated),
           "positives": pd.NA, "negatives": pd.NA, "AUROC": float("nan"),
           "why": "no label: probabilities only", "mean probability": float(p.mean())}
    if lab.labels:
        keep = ~np.isnan(y)
        n_pos, n_neg = int(y[keep].sum()), int((y[keep] == 0).sum())
        why = too_few(n_pos, n_neg, min_positives)
        row.update(positives=n_pos, negatives=n_neg, why=why,
                   AUROC=float("nan") if why else auroc(y[keep], p[keep]))
    return row


def too_few(n_pos: int, n_neg: int, min_positives: int = MIN_POSITIVES) -> str:
    """Why a label gets no AUROC ("too few positives (3)"), or "" when it has enough of both."""
    if n_pos < min_positives:
        return f"too few positives ({n_pos})"
    if n_neg < min_positives:
        return f"too few negatives ({n_neg})"
    return ""


def results_for_display(table: pd.DataFrame) -> pd.DataFrame:
    """``binary_results`` as a reader sees it: the AUROC as text beside its counts, and where
    there is none the reason ("too few positives (0)"), never a bare None or NaN."""
    auroc_text = [row.why or f"{row.AUROC:.3f}" for row in table.itertuples()]
    counts = {c: [("–" if pd.isna(v) else str(int(v))) for v in table[c]]
              for c in ("positives", "negatives")}
    return pd.DataFrame({"name": table["name"], "label column": table["label column"], **counts,
                         "AUROC": auroc_text,
                         "mean probability": table["mean probability"].round(3)})


def mean_auroc(results: pd.DataFrame) -> float:
    """Macro AUROC over the rows of ``binary_results`` that have one (enough positives and
    negatives); NaN when none has."""
    values = results["AUROC"].dropna()
    return float(values.mean()) if len(values) else float("nan")


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 a @ b through torch. The text tower runs on torch's thread pool; a numpy
    product here wakes OpenBLAS's own pool, whose spinning threads then slow the next prompt
    encoding by ~50 % on a 2-core machine (measured in benchmarks/index_eval.py)."""
    import torch

    a32 = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    b32 = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    return (a32 @ b32).numpy()
