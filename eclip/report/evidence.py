"""Does a draft agree with its own evidence? The draft is read by the report labeller
(negation-aware) and compared, finding by finding, with the zero-shot probabilities that
were computed for the same image and shown beside it.

Two kinds of conflict, each reported with the draft's own words:

* ``denies``: zero-shot p >= threshold, but the draft says the finding is absent;
* ``asserts``: the draft states the finding as present, but zero-shot p < threshold.

A hedged mention ("possible effusion") and an unmentioned finding are not conflicts: the
first is what a careful draft does with weak evidence, the second is an omission a reader
sees from the chips. ``No Finding`` is not compared on its own: the labeller derives it from
the other findings, so each conflict would be counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eclip.report.labeller import combine, mentions

THRESHOLD = 0.5
SKIPPED = ("No Finding",)


@dataclass(frozen=True)
class ZeroShot:
    """One zero-shot finding: its prompt-set name, the manifest labels it stands for and
    the probability p = sigmoid(scale * (s_pos - s_neg)) for this image."""

    name: str
    labels: tuple[str, ...]
    probability: float


@dataclass(frozen=True)
class Conflict:
    finding: str
    probability: float
    kind: str  # "denies" | "asserts"
    words: str  # the draft's clause that says so

    def message(self) -> str:
        said = "says absent" if self.kind == "denies" else "says present"
        return f"{self.finding}: the draft {said} (\u201c{self.words}\u201d), zero-shot p = {self.probability:.2f}"


@dataclass(frozen=True)
class EvidenceCheck:
    conflicts: tuple[Conflict, ...]
    checked: int  # zero-shot findings the draft takes a position on (present or absent)

    @property
    def agrees(self) -> bool:
        return not self.conflicts

    def as_dict(self) -> dict:
        return {"checked": self.checked, "conflicts": [c.__dict__ for c in self.conflicts]}


def _position(text_mentions, labels: tuple[str, ...]) -> tuple[float, str]:
    """The draft's value for a finding over its labels, and the clause that decided it."""
    relevant = [m for m in text_mentions if m.label in labels]
    value = combine([m.value for m in relevant])
    words = next((m.clause for m in relevant if m.value == value), "")
    return value, words


def check_draft(text: str, evidence: Iterable[ZeroShot], threshold: float = THRESHOLD) -> EvidenceCheck:
    """Compare ``text`` with the zero-shot ``evidence`` (see the module doc)."""
    found = mentions(text)
    conflicts, checked = [], 0
    for z in evidence:
        if z.name in SKIPPED:
            continue
        value, words = _position(found, z.labels)
        if math.isnan(value) or value == -1:
            continue
        checked += 1
        if value == 0 and z.probability >= threshold:
            conflicts.append(Conflict(z.name, z.probability, "denies", words))
        elif value == 1 and z.probability < threshold:
            conflicts.append(Conflict(z.name, z.probability, "asserts", words))
    return EvidenceCheck(tuple(conflicts), checked)


def agreement_summary(checks: Sequence[EvidenceCheck]) -> dict[str, float]:
    """Share of drafts with no conflict, and share of the (draft, finding) positions a
    draft took that agree with zero-shot, over a set of drafts."""
    if not checks:
        return dict.fromkeys(("evidence_agreement", "evidence_finding_agreement",
                              "evidence_conflicts_per_draft"), math.nan)
    positions = sum(c.checked for c in checks)
    conflicts = sum(len(c.conflicts) for c in checks)
    return {"evidence_agreement": sum(c.agrees for c in checks) / len(checks),
            "evidence_finding_agreement": (1 - conflicts / positions) if positions else math.nan,
            "evidence_conflicts_per_draft": conflicts / len(checks)}
