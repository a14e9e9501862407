"""Zero-shot targets: which rows of a manifest are positive for a prompt set's classes.

Manifest labels are CheXpert's: 1 positive, 0 negative, -1 uncertain, blank (NaN) not
mentioned. By default (``missing="exclude"``) a row takes part in a label only where the
label is known: 0 is a negative, -1 and NaN are left out. A report names what it sees, so
"not mentioned" is often read as negative (``missing="negative"``, the MIMIC habit); but in
the demo corpus (labels from Open-I MeSH terms, ``eclip.data.reports.mesh_to_labels``) only
normal reports carry 0s, and every abnormal report leaves the labels it does not index
blank, so counting blanks as negatives would score e.g. "edema" against pneumonia films
whose report never said whether there was edema.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eclip.model.prompts import BinaryLabel, PromptClass, PromptSet

MISSING = ("exclude", "negative")  # what a row without the label (NaN) is: left out, or a negative


def multiclass_targets(df: pd.DataFrame, prompt_set: PromptSet, missing: str = "exclude") -> np.ndarray:
    """For every row, the index of its single positive class, or -1 when zero or several
    classes are positive (such rows do not take part, as in the 5x200 benchmarks).

    A negated class (typed "no pleural effusion") is positive where none of its labels is
    positive or uncertain and, with ``missing="exclude"``, each is known (0); a class
    without labels is never positive."""
    _check_missing(missing)
    hits = np.stack([_class_hit(df, c, missing) for c in prompt_set.classes], axis=1)
    target = hits.argmax(axis=1)
    target[hits.sum(axis=1) != 1] = -1
    return target


def binary_targets(df: pd.DataFrame, label: BinaryLabel, missing: str = "exclude") -> np.ndarray:
    """1 when any of the label's columns is 1; NaN when none is 1 but one is uncertain
    (-1); else 0 when the label is known negative, i.e. every one of its columns present
    in ``df`` is 0. A row where a column is blank (NaN, not mentioned) and none is 1 or -1
    is NaN (left out) with ``missing="exclude"``, 0 with ``missing="negative"``. A label
    without columns in ``df`` is NaN throughout. A negated label flips 1 and 0."""
    _check_missing(missing)
    pos = _positive(df, label.labels)
    out = pos.astype(float)
    out[~pos & _uncertain(df, label.labels)] = np.nan
    if missing == "exclude":
        out[~pos & ~_all_known(df, label.labels)] = np.nan
    return 1.0 - out if label.negated else out


def target_text(labels: tuple[str, ...], negated: bool = False) -> str:
    """What a class or pair is scored against, for tables: "Pleural Effusion",
    "Consolidation or Lung Opacity", "not Pleural Effusion", or that it is not scored."""
    if not labels:
        return "no label: probabilities only"
    names = " or ".join(labels)
    return f"not {names}" if negated else names


def _check_missing(missing: str) -> None:
    if missing not in MISSING:
        raise ValueError(f"missing={missing!r}: one of {MISSING}")


def _class_hit(df: pd.DataFrame, cls: PromptClass, missing: str = "exclude") -> np.ndarray:
    if cls.negated and cls.labels:
        hit = ~_positive(df, cls.labels) & ~_uncertain(df, cls.labels)
        return hit & _all_known(df, cls.labels) if missing == "exclude" else hit
    return _positive(df, cls.labels)


def _positive(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, 1.0)


def _uncertain(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, -1.0)


def _all_known(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    """No column of ``labels`` present in ``df`` is blank (and at least one is present)."""
    cols = [c for c in labels if c in df.columns]
    known = np.full(len(df), bool(cols))
    for col in cols:
        known &= ~np.isnan(df[col].to_numpy(dtype=float))
    return known


def _any_equal(df: pd.DataFrame, labels: tuple[str, ...], value: float) -> np.ndarray:
    hit = np.zeros(len(df), dtype=bool)
    for col in labels:
        if col in df.columns:
            hit |= df[col].to_numpy(dtype=float) == value
    return hit
