"""Does a draft agree with its own evidence, and does it read as one report? The draft is
read by the report labeller (negation-aware) and compared, finding by finding, with the
zero-shot probabilities that were computed for the same image and shown beside it
(calibrated on the validate split where the index has a fit: ``eclip.index.zero_shot_calibration``).

Three kinds of conflict, each reported with the draft's own words:

* ``denies``: zero-shot p >= threshold (0.5), but the draft says the finding is absent;
* ``asserts``: the draft states the finding as present, but zero-shot p < threshold;
* ``ignores``: zero-shot p >= ``IGNORE_THRESHOLD`` (0.8), and the draft does not mention the
  finding at all.

A hedged mention ("possible effusion") is not a conflict: it is what a careful draft does with
weak evidence. ``No Finding`` is not compared on its own: the labeller derives it from the
other findings, so each conflict would be counted twice.

Two checks of the text itself, whatever the evidence:

* repetition: a sentence, or a clause of at least two words, said twice (compared in lower
  case with punctuation and spacing ignored; a repeated sentence is not listed again clause
  by clause);
* contradiction and laterality, per finding over the clauses that mention it, a clause's side
  being the ``left``/``right`` it names (``bilateral``/``both`` name both; a clause naming left
  and right without ``bilateral`` is not read for a side, as it may describe two findings): the
  finding is said present and absent on the same side (``contradicts``: "left pleural effusion
  ... no left effusion"), or said absent with no side, i.e. anywhere, and present in another
  clause (``contradicts``: "the heart is enlarged ... no cardiomegaly"; an absence that compares
  with an earlier film, "no new effusion", is not read this way), or present on the left in one
  clause and on the right in another with no clause calling it bilateral (``mixes sides``: one
  of them is likely the wrong side). Where the model puts the finding is not compared: the check
  reads the draft only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from eclip.report.labeller import combine, mentions

THRESHOLD = 0.5
IGNORE_THRESHOLD = 0.8  # a finding this likely that the draft never mentions is a disagreement
SKIPPED = ("No Finding",)
MIN_REPEAT_WORDS = 2  # a repeated clause shorter than this ("normal") is not flagged
_SENTENCE = re.compile(r"[.!?\n]+")
_CLAUSE = re.compile(r"[.!?;:,\n]+|\b(?:but|however|although|whereas)\b")
_WORDS = re.compile(r"[a-z0-9]+")
_SIDE = re.compile(r"\b(left|right|bilateral(?:ly)?|both)\b")
# words of an absence that compares with an earlier film ("no new effusion"): not an absence
# of the finding itself
_COMPARED = re.compile(r"\b(new|newly|increas\w*|worse\w*|interval|change\w*|further|additional|recurren\w*)\b")


@dataclass(frozen=True)
class ZeroShot:
    """One zero-shot finding: its prompt-set name, the manifest labels it stands for and
    the probability p = sigmoid(scale * (s_pos - s_neg)) for this image."""

    name: str
    labels: tuple[str, ...]
    probability: float
    # how ``probability`` was made, for the reader: "calibrated on the validate split; base rate
    # 12 % of validate films (...)", or why it is the raw pair probability ("" when not known)
    note: str = ""


@dataclass(frozen=True)
class Conflict:
    finding: str
    probability: float
    kind: str  # "denies" | "asserts" | "ignores"
    words: str  # the draft's clause that says so ("" for "ignores")

    def message(self) -> str:
        if self.kind == "ignores":
            return f"{self.finding}: the draft does not mention it, zero-shot p = {self.probability:.2f}"
        said = "says absent" if self.kind == "denies" else "says present"
        return f"{self.finding}: the draft {said} (\u201c{self.words}\u201d), zero-shot p = {self.probability:.2f}"


@dataclass(frozen=True)
class Repeat:
    """A sentence or clause the draft says ``count`` times (``words``: its first wording)."""

    kind: str  # "sentence" | "clause"
    words: str
    count: int

    def message(self) -> str:
        return f"the {self.kind} \u201c{self.words}\u201d is said {self.count} times"


@dataclass(frozen=True)
class SideIssue:
    """A finding whose sides do not add up in the draft (see the module doc)."""

    finding: str
    kind: str  # "contradicts" | "mixes sides"
    words: tuple[str, ...]  # the clauses at odds

    def message(self) -> str:
        quoted = " / ".join(f"\u201c{w}\u201d" for w in self.words)
        if self.kind == "contradicts":
            where = " on the same side" if _sides(self.words[1]) else ""
            return f"{self.finding}: said present and absent{where} ({quoted})"
        return f"{self.finding}: said on the left in one place and on the right in another ({quoted})"


@dataclass(frozen=True)
class EvidenceCheck:
    conflicts: tuple[Conflict, ...]
    checked: int  # zero-shot findings the draft takes a position on (present or absent)
    repeats: tuple[Repeat, ...] = ()
    sides: tuple[SideIssue, ...] = ()

    @property
    def agrees(self) -> bool:
        return not self.conflicts

    @property
    def ignored(self) -> int:
        return sum(c.kind == "ignores" for c in self.conflicts)

    @property
    def reads_clean(self) -> bool:
        """No repetition and no laterality issue."""
        return not (self.repeats or self.sides)

    def as_dict(self) -> dict:
        return {"checked": self.checked, "ignore_threshold": IGNORE_THRESHOLD,
                "conflicts": [asdict(c) for c in self.conflicts],
                "repeats": [{**asdict(r), "message": r.message()} for r in self.repeats],
                "laterality": [{**asdict(s), "words": list(s.words), "message": s.message()}
                               for s in self.sides]}


def _position(text_mentions, labels: tuple[str, ...]) -> tuple[float, str]:
    """The draft's value for a finding over its labels, and the clause that decided it."""
    relevant = [m for m in text_mentions if m.label in labels]
    value = combine([m.value for m in relevant])
    words = next((m.clause for m in relevant if m.value == value), "")
    return value, words


def check_draft(text: str, evidence: Iterable[ZeroShot], threshold: float = THRESHOLD,
                ignore_threshold: float = IGNORE_THRESHOLD) -> EvidenceCheck:
    """Compare ``text`` with the zero-shot ``evidence`` and read it for repetition and
    laterality (see the module doc)."""
    found = mentions(text)
    conflicts, checked = [], 0
    for z in evidence:
        if z.name in SKIPPED:
            continue
        value, words = _position(found, z.labels)
        if math.isnan(value):
            if z.probability >= ignore_threshold:
                conflicts.append(Conflict(z.name, z.probability, "ignores", ""))
            continue
        if value == -1:
            continue
        checked += 1
        if value == 0 and z.probability >= threshold:
            conflicts.append(Conflict(z.name, z.probability, "denies", words))
        elif value == 1 and z.probability < threshold:
            conflicts.append(Conflict(z.name, z.probability, "asserts", words))
    return EvidenceCheck(tuple(conflicts), checked, repetitions(text), laterality(text))


def _normal(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def repetitions(text: str) -> tuple[Repeat, ...]:
    """Sentences, then clauses of at least ``MIN_REPEAT_WORDS`` words, said more than once
    (clauses counted over the distinct sentences, so a repeated sentence is listed once)."""
    sentences = [s.strip() for s in _SENTENCE.split(text or "") if s.strip()]
    repeated = _repeated(sentences, 1)
    distinct = {_normal(s): s for s in reversed(sentences)}.values()
    pieces = [c.strip() for s in distinct for c in _CLAUSE.split(s) if c and c.strip()]
    return (*(Repeat("sentence", words, n) for words, n in repeated.values()),
            *(Repeat("clause", words, n) for words, n in _repeated(pieces, MIN_REPEAT_WORDS).values()))


def _repeated(items: list[str], min_words: int) -> dict[str, tuple[str, int]]:
    """{normalised text: (first wording, count)} for the items said more than once."""
    counts: dict[str, tuple[str, int]] = {}
    for item in items:
        key = _normal(item)
        if len(key.split()) >= min_words:
            first, n = counts.get(key, (item, 0))
            counts[key] = (first, n + 1)
    return {k: v for k, v in counts.items() if v[1] > 1}


def _sides(clause: str) -> frozenset[str]:
    """The sides a clause names: {"left"}, {"right"}, both for bilateral, none otherwise
    (also when it names left and right without "bilateral": two findings, perhaps)."""
    words = set(_SIDE.findall(clause))
    if words & {"bilateral", "bilaterally", "both"}:
        return frozenset({"left", "right"})
    if words == {"left"} or words == {"right"}:
        return frozenset(words)
    return frozenset()


def laterality(text: str) -> tuple[SideIssue, ...]:
    """Findings said present and absent on one side or anywhere, or present on the left and on
    the right in different clauses without "bilateral" (see the module doc)."""
    by_finding: dict[str, list] = {}
    for m in mentions(text):
        if m.label not in SKIPPED and m.value in (0, 1):
            by_finding.setdefault(m.label, []).append((m.value, _sides(m.clause), m.clause))
    issues = []
    for finding, said in by_finding.items():
        present = [c for v, _, c in said if v == 1]
        nowhere = [c for v, s, c in said if v == 0 and not s and not _COMPARED.search(c)]
        if present and nowhere:
            issues.append(SideIssue(finding, "contradicts", (present[0], nowhere[0])))
            continue
        for side in ("left", "right"):
            present = [c for v, s, c in said if v == 1 and side in s]
            absent = [c for v, s, c in said if v == 0 and side in s]
            if present and absent:
                issues.append(SideIssue(finding, "contradicts", (present[0], absent[0])))
                break
        else:
            one_side = {next(iter(s)): c for v, s, c in said if v == 1 and len(s) == 1}
            bilateral = any(v == 1 and len(s) == 2 for v, s, _ in said)
            if len(one_side) == 2 and not bilateral:
                issues.append(SideIssue(finding, "mixes sides", (one_side["left"], one_side["right"])))
    return tuple(issues)


def agreement_summary(checks: Sequence[EvidenceCheck]) -> dict[str, float]:
    """Share of drafts with no conflict, and share of the (draft, finding) positions a
    draft took that agree with zero-shot, over a set of drafts."""
    if not checks:
        return dict.fromkeys(("evidence_agreement", "evidence_finding_agreement",
                              "evidence_conflicts_per_draft"), math.nan)
    # a finding the draft ignores (a conflict) is a judged (draft, finding) pair as well
    positions = sum(c.checked + c.ignored for c in checks)
    conflicts = sum(len(c.conflicts) for c in checks)
    return {"evidence_agreement": sum(c.agrees for c in checks) / len(checks),
            "evidence_finding_agreement": (1 - conflicts / positions) if positions else math.nan,
            "evidence_conflicts_per_draft": conflicts / len(checks)}
