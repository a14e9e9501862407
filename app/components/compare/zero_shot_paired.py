"""Zero-shot with a second model: both on the same prompts and images, each model's
split-level scores, the paired difference and its bootstrap interval; pair probabilities
calibrated on the validate split for each model where they can be (AUROC from the raw ranking).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from app.components import loaders, state
from app.components.compare.side_by_side import label, other_index
from app.core import paths
from eclip.evaluate.paired import agreement, binary_comparison, for_display, multiclass_comparison
from eclip.evaluate.suite import MIN_POSITIVES, ConstantAnswers, constant_answers
from eclip.evaluate.metrics import accuracy, balanced_accuracy, macro_f1
from eclip.evaluate.targets import multiclass_targets
from eclip.evaluate.zeroshot import binary_results, binary_scores, mean_auroc, multiclass_scores
from eclip.index.store import EmbeddingIndex
from eclip.index.zero_shot_calibration import ZeroShotCalibration, calibration_for, pair_logits
from eclip.memo import BoundedCache, IdentityCache
from eclip.model.checkpoint import LoadedModel
from eclip.model.encode import encode_prompt_sets, probability_scale


_WIDTHS = {"name": 140, "positives": 62, "negatives": 66, "95% CI low": 84, "95% CI high": 84}
PAIRED = BoundedCache(64, "paired zero-shot comparisons")  # bootstrap: 2.3 s for 2,000 images
SPLIT_TABLES = BoundedCache(64, "zero-shot split tables")
# Per manifest object, rows and prompt set: the page, its comparison and the paired bootstrap
# read the same split's targets, three times a run.
_TARGETS = IdentityCache(32, "zero-shot split targets")


def split_targets(manifest: pd.DataFrame, rows: np.ndarray, ps, df: pd.DataFrame | None = None) -> np.ndarray:
    """``multiclass_targets`` of the manifest's ``rows`` for ``ps``, computed once per manifest
    object, rows and prompt set; ``df``: those rows when the caller has them. Shared: read-only."""

    def compute() -> np.ndarray:
        target = multiclass_targets(manifest.iloc[rows] if df is None else df, ps)
        target.setflags(write=False)
        return target

    return _TARGETS.get_or_compute((manifest,), (rows.tobytes(), ps), compute)


def constant_answer(manifest: pd.DataFrame, target: np.ndarray, ps) -> ConstantAnswers | None:
    """What answering without the image scores on a multiclass split (``target``: its
    ``split_targets``), the prior taken from the manifest's train split; None without targets."""
    y = target[target >= 0]
    if not len(y):
        return None
    y_train = split_targets(manifest, np.flatnonzero(manifest["split"] == "train"), ps)
    return constant_answers(y, y_train[y_train >= 0], len(ps.class_names))


# a constant score ranks every image alike: AUROC 0.5 for any pair (a random one, on average)
CONSTANT_AUROC = 0.5
MULTICLASS_METRICS = (("balanced accuracy", "balanced_accuracy", balanced_accuracy),  # headline first
                      ("macro-F1", "macro_f1", macro_f1),
                      ("accuracy", "accuracy", lambda y, p, _k: accuracy(y, p)))


def split_results(root: str, rows: np.ndarray, df: pd.DataFrame, ps, probs: np.ndarray,
                  floor: int) -> pd.DataFrame:
    """``binary_results(df, ps, probs, floor)`` for ``df`` = the manifest's ``rows``, kept per
    manifest content, rows, prompt set, floor and the probabilities themselves (a digest:
    whatever model or calibration made them, other numbers are another entry). A page draws
    the same split's table for each model on every visit, whichever case it shows. Shared by
    every session: read it, never modify it."""
    p = np.ascontiguousarray(probs)
    key = (loaders.dataset_info(root).fingerprint, rows.tobytes(), ps, floor, p.shape, p.dtype.str,
           hashlib.blake2b(p.tobytes(), digest_size=16).digest())
    return SPLIT_TABLES.get_or_compute(key, lambda: binary_results(df, ps, probs, min_positives=floor))


def zero_shot(other, root: str, manifest: pd.DataFrame, rows: np.ndarray, ps, prompt_file,
              index: EmbeddingIndex, a: Scored) -> None:
    """Both models on the same prompts and images: each model's split-level scores, the paired
    difference and, where labels exist, its paired bootstrap interval. ``a``: the active model's
    scores of the manifest's ``rows`` (``Scored.of``; each model's probabilities are read at its
    own temperature, a pair's calibrated on the validate split for that model where it can be)."""
    ck, lm = other
    idx_b = other_index(ck, root)
    if idx_b is None:
        return
    class_b = prompt_embeddings(ck, lm, ps, prompt_file)
    df = manifest.iloc[rows].reset_index(drop=True)
    keep = prompt_file is not None
    b = Scored.of(ps, idx_b, manifest, np.asarray(idx_b.image_emb[rows]), class_b,
                  probability_scale(lm), keep)
    floor = int(st.session_state.get("zs_min_pos", MIN_POSITIVES))  # the page's number box
    key = (str(index.path), str(idx_b.path), ps, rows.tobytes(), floor)
    target = split_targets(manifest, rows, ps, df) if ps.task == "multiclass" else None
    table = PAIRED.get_or_compute(key, lambda: _paired_table(df, ps, a.ranked, b.ranked, floor, target))
    names = label(state.current_checkpoint()), label(ck)
    st.subheader(f"{names[0]} vs {names[1]}")
    _split_scores(root, manifest, rows, df, ps, dict(zip(names, (a, b))), floor, target)
    _show_paired(table, *names, agreement(a.predicted, b.predicted, a.shown, b.shown),
                 ps.task == "binary", floor)


def prompt_embeddings(ck, lm: LoadedModel, ps, prompt_file) -> np.ndarray:
    """The compare model's embeddings of the page's prompts (typed ones encoded now)."""
    with state.eclip_errors("Check the prompts."):
        return (encode_prompt_sets(lm, [ps])[ps.name] if prompt_file is None
                else loaders.prompt_set_embeddings(paths.resolve(ck), prompt_file)[1])


@dataclass(frozen=True)
class Scored:
    """One model's scores of the split: ``ranked`` what accuracy and AUROC read ((argmax,
    probabilities) or (raw P > 0.5, raw P)), ``shown`` the probabilities a page shows (a pair's
    calibrated on the validate split where it can be), ``predicted`` the answer from them."""

    ranked: tuple[np.ndarray, np.ndarray]
    shown: np.ndarray
    predicted: np.ndarray
    calibration: ZeroShotCalibration | None = None

    @classmethod
    def of(cls, ps, index: EmbeddingIndex, manifest: pd.DataFrame, emb: np.ndarray,
           class_emb: np.ndarray, scale: float, keep: bool) -> Scored:
        if ps.task == "multiclass":  # typed and file classes at the model's learned temperature
            pred, probs = multiclass_scores(emb, class_emb, temperature=1.0 / scale)
            return cls((pred, probs), probs, pred)
        raw = binary_scores(emb, class_emb, scale)  # the AUROC is the model's raw ranking
        cal = calibration_for(index, manifest, ps, class_emb, scale, keep=keep)
        shown = cal.probabilities(pair_logits(emb, class_emb[:, 0], class_emb[:, 1], scale))
        return cls((raw > 0.5, raw), shown, shown > 0.5, cal)


def _split_scores(root: str, manifest: pd.DataFrame, rows: np.ndarray, df: pd.DataFrame, ps,
                  scored: dict[str, Scored], floor: int, target: np.ndarray | None = None) -> None:
    """Each model's split-level scores, one row per model: what the page above shows for the
    active model alone. ``target``: a multiclass set's ``split_targets``."""
    lines = [_multiclass_line(name, s.predicted, target, len(ps.class_names)) if ps.task == "multiclass"
             else _binary_line(name, s, split_results(root, rows, df, ps, s.ranked[1], floor), floor)
             for name, s in scored.items()]
    if ps.task != "multiclass":
        lines.append({"model": "any constant score", f"macro AUROC (≥ {floor} positives and negatives)":
                      f"{CONSTANT_AUROC:.3f}", "mean P(positive)": "–", "calibrated on the validate split": "–"})
    elif (base := constant_answer(manifest, target, ps)) is not None:
        lines.append({"model": f"constant answer: {ps.class_names[base.majority]}",
                      **{title: f"{base.scores[key]['majority']:.3f}" for title, key, _ in MULTICLASS_METRICS}})
    st.markdown("**Each model on this split**")
    st.dataframe(pd.DataFrame(lines), hide_index=True)
    notes = [f"{name}: {s.calibration.summary()}" for name, s in scored.items() if s.calibration]
    if notes:
        st.caption("  \n".join(notes) + "  \nAUROC is each model's raw ranking; the probabilities "
                   "and the agreement below are calibrated where the pair is.")


def _multiclass_line(name: str, predicted: np.ndarray, target: np.ndarray, k: int) -> dict:
    ok = target >= 0
    return {"model": name, **{title: f"{fn(target[ok], predicted[ok], k):.3f}" if ok.any() else "–"
                              for title, _, fn in MULTICLASS_METRICS}}


def _binary_line(name: str, s: Scored, table: pd.DataFrame, floor: int) -> dict:
    macro = mean_auroc(table)
    return {"model": name,
            f"macro AUROC (≥ {floor} positives and negatives)": "–" if np.isnan(macro) else f"{macro:.3f}",
            "mean P(positive)": f"{float(s.shown.mean()):.3f}",
            "calibrated on the validate split": _calibrated(s.calibration)}


def _calibrated(cal: ZeroShotCalibration | None) -> str:
    if cal is None:
        return "–"
    if cal.why:
        return f"no: {cal.why}"
    pooled = sum(f.pooled for f in cal.findings)
    return f"{cal.n_calibrated} of {len(cal.findings)} pairs" + (f" ({pooled} more pooled)" if pooled else "")


def _paired_table(df: pd.DataFrame, ps, a, b, floor: int, target: np.ndarray | None) -> pd.DataFrame:
    if ps.task == "multiclass":
        return multiclass_comparison(df, ps, a[0], b[0], target=target)
    return binary_comparison(df, ps, a[1], b[1], min_positives=floor)


def _show_paired(table: pd.DataFrame, name_a: str, name_b: str, agree: dict, binary: bool,
                 floor: int) -> None:
    c = st.columns(2)
    c[0].metric("same prediction", f"{agree['same prediction']:.1%}",
                help="Share of images (× pairs) both models give the same answer.")
    c[1].metric("mean |Δ probability|", f"{agree['mean |Δ probability|']:.3f}",
                help="Mean absolute change of each image's probabilities between the models "
                     "(a pair's calibrated on the validate split for each model where it can be).")
    if table.empty:
        st.info("No case of this split has a label these prompts match, so there is no "
                "accuracy to compare: only the agreement above.")
        return
    shown = for_display(table).rename(columns={
        "active": name_a, "compare": name_b, "difference": f"Δ ({name_a} − {name_b})",
        "ci_low": "95% CI low", "ci_high": "95% CI high"})
    widths = {**_WIDTHS, name_a: 122, name_b: 122, f"Δ ({name_a} − {name_b})": 108}
    st.dataframe(shown, hide_index=True, column_config={  # 8 columns in the ~800 px of a 1280 x 720 window
        c: st.column_config.Column(width=widths[c]) for c in shown.columns if c in widths})
    what = ("AUROC per pair and their mean" if binary
            else "Balanced accuracy, macro-F1 and accuracy over the cases with one target class")
    st.caption(f"{what}. Paired bootstrap (1,000 resamples of the images, both models scored on each): "
               "an interval that excludes 0 is a difference these images support. "
               + (f"A pair's AUROC needs at least {floor} positives and negatives (the number box "
                  "above); the reason stands in its place where it has none." if binary else ""))
