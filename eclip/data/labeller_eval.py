"""How well the report labeller agrees with a reference labelling (Open-I's MeSH terms).

The Open-I reports come with MeSH major terms assigned by indexers; ``mesh_to_labels`` turns
them into CheXpert columns, which makes a free reference for the text labeller. The reports
are split once into a development half (rules are tuned on it) and a held-out half (reported),
by a hash of the report uid so the split never depends on file order or on which copy of the
collection is read. A label counts as positive when its value is 1 (uncertain, -1, does not:
MeSH has no "possible"); everything else (0, -1, not mentioned) is negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eclip.data.manifest import LABELS
from eclip.io import sha256_text

HALVES = ("dev", "heldout")
MIN_POSITIVES = 10  # labels with fewer reference positives are listed but not averaged


@dataclass(frozen=True)
class LabelledReport:
    uid: str
    text: str
    reference: dict[str, float]


def half_of(uid: str) -> str:
    """'dev' or 'heldout', fixed per report uid (about half each)."""
    return HALVES[int(sha256_text(f"labeller-split:{uid}", 8), 16) % 2]


def reference_reports(reports: Iterable, mesh_to_labels: Callable) -> list[LabelledReport]:
    """Open-I reports with text and at least one informative MeSH term (a report whose only
    terms are "No Indexing" has no reference labels and is left out)."""
    out = []
    for rep in reports:
        text = " ".join(t for t in (rep.findings, rep.impression) if t).strip()
        ref = mesh_to_labels(list(rep.mesh_major))
        if text and not all(math.isnan(v) for v in ref.values()):
            out.append(LabelledReport(rep.uid, text, ref))
    return out


def score(reports: list[LabelledReport], labeller: Callable[[str], dict]) -> dict[str, dict]:
    """Per label: reference positives ``n``, precision, recall, F1 (NaN when undefined)."""
    predicted = [labeller(r.text) for r in reports]
    out = {}
    for lab in LABELS:
        ref = [r.reference[lab] == 1.0 for r in reports]
        got = [p[lab] == 1.0 for p in predicted]
        tp = sum(a and b for a, b in zip(ref, got))
        out[lab] = _prf(tp, sum(got), sum(ref))
    return out


def _prf(tp: int, n_pred: int, n_ref: int) -> dict:
    p = tp / n_pred if n_pred else math.nan
    r = tp / n_ref if n_ref else math.nan
    f = 2 * p * r / (p + r) if n_pred and n_ref and (p + r) > 0 else (0.0 if n_ref else math.nan)
    return {"n": n_ref, "precision": p, "recall": r, "f1": f}


def macro_f1(per_label: dict[str, dict], min_positives: int = MIN_POSITIVES) -> float:
    """Mean F1 over labels with at least ``min_positives`` reference positives."""
    f1s = [v["f1"] for v in per_label.values() if v["n"] >= min_positives]
    return sum(f1s) / len(f1s) if f1s else math.nan
