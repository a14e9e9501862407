"""Zero-shot with a second model: both on the same prompts and images, the paired difference
and its bootstrap interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.components import loaders, state
from app.components.compare.side_by_side import label, other_index
from app.core import paths
from eclip.evaluate.paired import agreement, binary_comparison, for_display, multiclass_comparison
from eclip.evaluate.suite import MIN_POSITIVES
from eclip.evaluate.zeroshot import binary_scores, multiclass_scores
from eclip.index.store import EmbeddingIndex
from eclip.memo import BoundedCache
from eclip.model.encode import encode_prompt_sets, probability_scale


PAIRED = BoundedCache(64, "paired zero-shot comparisons")  # bootstrap: 2.3 s for 2,000 images


def zero_shot(other, root: str, manifest: pd.DataFrame, rows: np.ndarray, ps, prompt_file,
              emb: np.ndarray, class_emb: np.ndarray, index: EmbeddingIndex, scale: float) -> None:
    """Both models on the same prompts and images: scores, the paired difference and, where
    labels exist, its paired bootstrap interval. ``scale``: the active model's logit scale
    (each model's pair probabilities are read at its own temperature)."""
    ck, lm = other
    idx_b = other_index(ck, root)
    if idx_b is None:
        return
    with state.eclip_errors("Check the prompts."):
        class_b = (encode_prompt_sets(lm, [ps])[ps.name] if prompt_file is None
                   else loaders.prompt_set_embeddings(paths.resolve(ck), prompt_file)[1])
    df = manifest.iloc[rows].reset_index(drop=True)
    a = _zero_shot_scores(ps, emb, class_emb, scale)
    b = _zero_shot_scores(ps, np.asarray(idx_b.image_emb[rows]), class_b, probability_scale(lm))
    floor = int(st.session_state.get("zs_min_pos", MIN_POSITIVES))  # the page's number box
    key = (str(index.path), str(idx_b.path), ps, rows.tobytes(), floor)
    table = PAIRED.get_or_compute(key, lambda: _paired_table(df, ps, a, b, floor))
    _show_paired(table, label(state.current_checkpoint()), label(ck), agreement(a[0], b[0], a[1], b[1]),
                 ps.task == "binary", floor)


def _zero_shot_scores(ps, emb: np.ndarray, class_emb: np.ndarray,
                      scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, probabilities): argmax classes, or P(positive) > 0.5 per pair."""
    if ps.task == "multiclass":
        return multiclass_scores(emb, class_emb)
    probs = binary_scores(emb, class_emb, scale)
    return probs > 0.5, probs


def _paired_table(df: pd.DataFrame, ps, a, b, floor: int) -> pd.DataFrame:
    if ps.task == "multiclass":
        return multiclass_comparison(df, ps, a[0], b[0])
    return binary_comparison(df, ps, a[1], b[1], min_positives=floor)


def _show_paired(table: pd.DataFrame, name_a: str, name_b: str, agree: dict, binary: bool,
                 floor: int) -> None:
    st.subheader(f"{name_a} vs {name_b}")
    c = st.columns(2)
    c[0].metric("same prediction", f"{agree['same prediction']:.1%}",
                help="Share of images (× pairs) both models give the same answer.")
    c[1].metric("mean |Δ probability|", f"{agree['mean |Δ probability|']:.3f}",
                help="Mean absolute change of each image's probabilities between the models.")
    if table.empty:
        st.info("No case of this split has a label these prompts match, so there is no "
                "accuracy to compare: only the agreement above.")
        return
    shown = for_display(table).rename(columns={
        "active": name_a, "compare": name_b, "difference": f"Δ ({name_a} − {name_b})",
        "ci_low": "95% CI low", "ci_high": "95% CI high"})
    st.dataframe(shown, hide_index=True)
    what = ("AUROC per pair and their mean" if binary
            else "Accuracy and macro-F1 over the cases with one target class")
    st.caption(f"{what}. Paired bootstrap (1,000 resamples of the images, both models scored on each): "
               "an interval that excludes 0 is a difference these images support. "
               + (f"A pair's AUROC needs at least {floor} positives and negatives (the number box "
                  "above); the reason stands in its place where it has none." if binary else ""))
