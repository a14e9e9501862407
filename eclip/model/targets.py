"""Zero-shot targets: which rows of a manifest are positive for a prompt set's classes.

Manifest labels are CheXpert's: 1 positive, 0 negative, -1 uncertain, blank (NaN) not
mentioned. What a blank means is the ``missing`` policy:

* ``"labelled"`` (default): a blank is a negative on a row that carries at least one label
  (its report was labelled and did not name this finding: Open-I's MeSH indexing, from which
  the demo corpus's labels come, lists every finding it indexes), and the row is left out
  where it carries no label at all (an unlabelled report is not evidence of absence);
* ``"exclude"``: only an explicit 0 is a negative; every blank is left out. In the demo corpus
  only normal reports carry 0s, so this scores each finding against normal films alone (an
  easier question: AUROCs rise);
* ``"negative"``: every blank is a negative, even on a row without any label (the old habit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eclip.data.manifest import label_columns
from eclip.model.prompts import BinaryLabel, PromptClass, PromptSet

MISSING = ("labelled", "exclude", "negative")  # what a blank label (NaN) is: see the module docstring


def multiclass_targets(df: pd.DataFrame, prompt_set: PromptSet, missing: str = "labelled") -> np.ndarray:
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


def binary_targets(df: pd.DataFrame, label: BinaryLabel, missing: str = "labelled") -> np.ndarray:
    """1 when any of the label's columns is 1; NaN when none is 1 but one is uncertain
    (-1); else 0 when the label is known negative, i.e. every one of its columns present
    in ``df`` is 0. A row where a column is blank (NaN, not mentioned) and none is 1 or -1
    is NaN (left out) with ``missing="exclude"``, 0 with ``missing="negative"``. A label
    without columns in ``df`` is NaN throughout (0 with ``missing="negative"``: every one of
    its columns is missing). A negated label flips 1 and 0."""
    return binary_target_matrix(df, [label], missing)[:, 0]


def binary_target_matrix(df: pd.DataFrame, labels: Sequence[BinaryLabel],
                         missing: str = "labelled") -> np.ndarray:
    """[N, L] float: column j is ``binary_targets(df, labels[j], missing)``. Which rows carry
    any label is read once for all of them, not once per label: that read was most of a
    zero-shot table's time (a page redraws three tables of ten pairs each)."""
    _check_missing(missing)
    labelled = _row_labelled(df) if missing == "labelled" else None
    out = np.empty((len(df), len(labels)))
    for j, label in enumerate(labels):
        pos = _positive(df, label.labels)
        y = pos.astype(float)
        y[~pos & _uncertain(df, label.labels)] = np.nan
        y[~pos & ~_known(df, label.labels, missing, labelled)] = np.nan
        out[:, j] = 1.0 - y if label.negated else y
    return out


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


def _class_hit(df: pd.DataFrame, cls: PromptClass, missing: str = "labelled") -> np.ndarray:
    if cls.negated and cls.labels:
        hit = ~_positive(df, cls.labels) & ~_uncertain(df, cls.labels)
        return hit & _known(df, cls.labels, missing)
    return _positive(df, cls.labels)


def _positive(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, 1.0)


def _uncertain(df: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    return _any_equal(df, labels, -1.0)


def _known(df: pd.DataFrame, labels: tuple[str, ...], missing: str,
           labelled: np.ndarray | None = None) -> np.ndarray:
    """Rows where a non-positive, non-uncertain value of ``labels`` counts as a negative;
    ``labelled``: ``_row_labelled(df)`` when the caller has it already."""
    if missing == "exclude":
        return _all_known(df, labels)
    if missing == "labelled":
        if labelled is None:
            labelled = _row_labelled(df)
        return labelled & np.full(len(df), any(c in df.columns for c in labels))
    return np.ones(len(df), dtype=bool)


def _row_labelled(df: pd.DataFrame) -> np.ndarray:
    """Rows that carry at least one label (1, 0 or -1) in any label column."""
    cols = label_columns(df)
    if not cols:
        return np.zeros(len(df), dtype=bool)
    return ~np.isnan(df[cols].to_numpy(dtype=float)).all(axis=1)


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
