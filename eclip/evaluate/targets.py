"""Zero-shot targets: which rows of a manifest are positive for a prompt set's classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eclip.model.prompts import BinaryLabel, PromptSet


def multiclass_targets(df: pd.DataFrame, prompt_set: PromptSet) -> np.ndarray:
    """For every row, the index of its single positive class, or -1 when zero or several
    classes are positive (such rows do not take part, as in the 5x200 benchmarks)."""
    hits = np.stack([_positive(df, c.labels) for c in prompt_set.classes], axis=1)
    target = hits.argmax(axis=1)
    target[hits.sum(axis=1) != 1] = -1
    return target


def binary_targets(df: pd.DataFrame, label: BinaryLabel) -> np.ndarray:
    """1 when any of the label's columns is 1; NaN when none is 1 but one is uncertain
    (-1); else 0 (negative or not mentioned)."""
    pos = _positive(df, label.labels)
    uncertain = np.zeros(len(df), dtype=bool)
    for col in label.labels:
        if col in df.columns:
            uncertain |= df[col].to_numpy(dtype=float) == -1.0
    out = pos.astype(float)
    out[~pos & uncertain] = np.nan
    return out


def _positive(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    hit = np.zeros(len(df), dtype=bool)
    for col in labels:
        if col in df.columns:
            hit |= df[col].to_numpy(dtype=float) == 1.0
    return hit
