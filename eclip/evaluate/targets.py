"""Zero-shot targets: which rows of a manifest are positive for a prompt set's classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eclip.model.prompts import BinaryLabel, PromptClass, PromptSet


def multiclass_targets(df: pd.DataFrame, prompt_set: PromptSet) -> np.ndarray:
    """For every row, the index of its single positive class, or -1 when zero or several
    classes are positive (such rows do not take part, as in the 5x200 benchmarks).

    A negated class (typed "no pleural effusion") is positive where none of its labels is
    positive or uncertain; a class without labels is never positive."""
    hits = np.stack([_class_hit(df, c) for c in prompt_set.classes], axis=1)
    target = hits.argmax(axis=1)
    target[hits.sum(axis=1) != 1] = -1
    return target


def binary_targets(df: pd.DataFrame, label: BinaryLabel) -> np.ndarray:
    """1 when any of the label's columns is 1; NaN when none is 1 but one is uncertain
    (-1); else 0 (negative or not mentioned). A negated label flips 1 and 0."""
    pos = _positive(df, label.labels)
    out = pos.astype(float)
    out[~pos & _uncertain(df, label.labels)] = np.nan
    return 1.0 - out if label.negated else out



def target_text(labels: tuple[str, ...], negated: bool = False) -> str:
    """What a class or pair is scored against, for tables: "Pleural Effusion",
    "Consolidation or Lung Opacity", "not Pleural Effusion", or that it is not scored."""
    if not labels:
        return "no label: probabilities only"
    names = " or ".join(labels)
    return f"not {names}" if negated else names

def _class_hit(df: pd.DataFrame, cls: PromptClass) -> np.ndarray:
    if cls.negated and cls.labels:
        return ~_positive(df, cls.labels) & ~_uncertain(df, cls.labels)
    return _positive(df, cls.labels)


def _positive(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, 1.0)


def _uncertain(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, -1.0)


def _any_equal(df: pd.DataFrame, labels: tuple[str, ...], value: float) -> np.ndarray:
    hit = np.zeros(len(df), dtype=bool)
    for col in labels:
        if col in df.columns:
            hit |= df[col].to_numpy(dtype=float) == value
    return hit
