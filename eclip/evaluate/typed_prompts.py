"""Prompts typed by hand (the app's zero-shot page) -> a prompt set whose classes know the
manifest label columns they are scored against.

Two forms, one item per line; blank lines are skipped.

Classes (multiclass: every image goes to its closest class)::

    pleural effusion                        no ':' -> a class whose one prompt is the line
    pleural effusion: There is a {}.; {}.   'name: prompt; prompt'; '{}' takes the name
    Edema: Pulmonary edema. | Edema.        '|' separates prompts exactly as ';' does
                                            (the form the page took first; both stay)

The same name twice (any case) is one class with the prompts of both lines.

Pairs (binary, CheXzero style: P(positive) from the two sides' similarities)::

    pleural effusion | no pleural effusion  'positive | negative'; the name is the positive
    effusion: There is {}.; Small {}. | No {}.   'name:' first; ';' between one side's prompts

In a pair '|' splits the two sides, so there only ';' separates prompts.

A class (a pair: its name) maps to a label column, tried in this order:

1. the label's name, case-insensitive ("pleural effusion" -> Pleural Effusion), or a common way
   of calling a film normal ("normal chest", "unremarkable", "no acute disease" -> No Finding);
2. a phrase the shipped prompt files use for a label (eclip/assets/prompts/*.json: class names,
   phrases, prompts; a binary file's negative prompts give the label negated);
3. a negation cue in front, as the report labeller reads them ("no", "without",
   "negative for" ...), then 1, 2, 4 or 5 for the rest -> the label negated: the class is
   positive where the label is negative or not mentioned (eclip.evaluate.targets);
4. a NLMCXR MeSH term (eclip.data.reports.mesh_to_labels: "pulmonary edema" -> Edema);
5. the report labeller's mention patterns (eclip.report.labeller: "enlarged heart",
   "pleural fluid", "There is a small effusion.") when they name exactly one finding.

A class without a label still gets per-image probabilities; it is never a target.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import pandas as pd

from eclip.data.manifest import LABELS
from eclip.data.reports import mesh_to_labels
from eclip.errors import PromptSetError
from eclip.evaluate.targets import target_text
from eclip.model.prompts import BinaryLabel, PromptClass, PromptSet, list_prompt_sets, load_prompt_set
from eclip.report.labeller import PRE_NEGATION, label_report

_PROMPTS = re.compile(r"[;|]")  # between the prompts of a class
_SIDE_PROMPTS = re.compile(r";")  # between the prompts of one side of a pair
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
_NEG_CUE = re.compile(rf"^{PRE_NEGATION}\s+")
_LABEL_NAMES = {lab.lower(): lab for lab in LABELS}
# What a newcomer types for the normal class; none names a label, and the labeller reads no
# finding in them (it labels No Finding only from a whole report).
_NORMAL = frozenset({
    "normal chest", "normal chest x-ray", "normal chest xray", "normal chest radiograph", "normal radiograph",
    "normal film", "normal study", "normal x-ray", "normal cxr", "healthy", "healthy chest", "unremarkable",
    "unremarkable chest", "no abnormality", "no abnormalities", "no acute disease", "no acute findings",
    "no acute abnormality", "clear lungs", "lungs clear"})

EMPTY_CLASSES = ("The box is empty: type at least two classes, one per line, e.g. "
                 "'pleural effusion' and 'no pleural effusion'.")
EMPTY_PAIRS = ("The box is empty: type one pair per line as 'positive | negative', e.g. "
               "'pleural effusion | no pleural effusion'.")


@dataclass(frozen=True)
class LabelMatch:
    labels: tuple[str, ...] = ()  # manifest label columns; () = probabilities only
    negated: bool = False
    via: str = ""  # how the name was matched, or why it was not

    @property
    def target(self) -> str:
        return target_text(self.labels, self.negated)


@dataclass(frozen=True)
class TypedPrompts:
    prompt_set: PromptSet
    matches: tuple[LabelMatch, ...]  # one per class (pair), in order

    @property
    def labelled(self) -> int:
        """How many classes (pairs) are scored against a label."""
        return sum(bool(m.labels) for m in self.matches)

    def table(self) -> pd.DataFrame:
        """What each class (pair) was scored against, and why, for the page to show."""
        ps = self.prompt_set
        if ps.task == "multiclass":
            names = [{"class": c.name} for c in ps.classes]
            prompts = [{"prompts": " · ".join(c.prompts)} for c in ps.classes]
        else:
            names = [{"pair": b.name} for b in ps.binary]
            prompts = [{"positive": " · ".join(b.positive), "negative": " · ".join(b.negative)}
                       for b in ps.binary]
        return pd.DataFrame([{**n, "label column": m.target, "matched by": m.via, **p}
                             for n, m, p in zip(names, self.matches, prompts)])


# ----------------------------------------------------------------------------- parsing
def parse_classes(text: str) -> TypedPrompts:
    """Multiclass prompt set from typed lines (see the module doc for the form)."""
    lines = _lines(text)
    if not lines:
        raise PromptSetError(EMPTY_CLASSES)
    classes: dict[str, tuple[str, list[str]]] = {}
    for line in lines:
        name, prompts = _class_line(line)
        classes.setdefault(name.lower(), (name, []))[1].extend(prompts)
    if len(classes) < 2:
        (name, _), = classes.values()
        raise PromptSetError(f"Give at least two classes, one per line: zero-shot picks the closest "
                             f"class, and only {name!r} was typed. Add e.g. 'no {name}' on a second "
                             "line, or use the pairs mode for one positive | negative pair.")
    matches = tuple(match_label(name) for name, _ in classes.values())
    return TypedPrompts(PromptSet("custom", "multiclass", classes=tuple(
        PromptClass(name, m.labels, tuple(dict.fromkeys(prompts)), m.negated)
        for (name, prompts), m in zip(classes.values(), matches))), matches)


def parse_pairs(text: str) -> TypedPrompts:
    """Binary prompt set (positive | negative per line; see the module doc)."""
    lines = _lines(text)
    if not lines:
        raise PromptSetError(EMPTY_PAIRS)
    pairs = [_pair_line(line) for line in lines]
    matches = tuple(match_label(name) for name, _, _ in pairs)
    names = _distinct([name for name, _, _ in pairs])
    return TypedPrompts(PromptSet("custom pairs", "binary", binary=tuple(
        BinaryLabel(name, m.labels, tuple(pos), tuple(neg), m.negated)
        for name, (_, pos, neg), m in zip(names, pairs, matches))), matches)


def _distinct(names: list[str]) -> list[str]:
    """A name seen before gets ' (2)', ' (3)' ...: tables keyed by pair name stay whole."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
        out.append(name if seen[name.lower()] == 1 else f"{name} ({seen[name.lower()]})")
    return out


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _class_line(line: str) -> tuple[str, list[str]]:
    if ":" not in line:
        if _PROMPTS.search(line):
            raise PromptSetError(f"{line!r}: '|' and ';' separate the prompts of a named class; "
                                 f"write 'name: {line}', or use the pairs mode for "
                                 "'positive | negative'.")
        return line, [line]
    name, rest = (part.strip() for part in line.split(":", 1))
    if not name:
        raise PromptSetError(f"{line!r}: nothing before ':'; start the line with the class "
                             "name, e.g. 'edema: Pulmonary edema.'")
    prompts = _fill(_split(rest, _PROMPTS), name)
    if not prompts:
        raise PromptSetError(f"Class {name!r} has no prompt after ':'; add one (e.g. "
                             f"'{name}: There is {{}}.') or drop the ':' to use the name as "
                             "its prompt.")
    return name, prompts


def _pair_line(line: str) -> tuple[str, list[str], list[str]]:
    name, body = _pair_name(line)
    sides = body.split("|")
    if len(sides) == 1:
        raise PromptSetError(f"{line!r} has no '|': write the positive prompt, '|', then the "
                             f"negative one, e.g. '{body} | no {body}'.")
    if len(sides) > 2:
        raise PromptSetError(f"{line!r} has {len(sides) - 1} '|': a pair is 'positive | "
                             "negative'; separate several prompts of one side with ';'.")
    pos, neg = (_split(side, _SIDE_PROMPTS) for side in sides)
    if not pos or not neg:
        side = "positive prompt before" if not pos else "negative prompt after"
        raise PromptSetError(f"{line!r} has no {side} '|'.")
    if not name:
        if any("{}" in p for p in pos + neg):
            raise PromptSetError(f"{line!r}: '{{}}' stands for the pair's name; start the line "
                                 "with one, e.g. 'effusion: There is {}. | No {}.'")
        name = pos[0]
    pos, neg = _fill(pos, name), _fill(neg, name)
    if set(pos) == set(neg):
        raise PromptSetError(f"{line!r}: both sides are the same prompts, so every image "
                             "would score 0.5; make the negative side say the opposite.")
    return name, pos, neg


def _pair_name(line: str) -> tuple[str, str]:
    """('name', rest) when a ':' comes before the first '|'; else ('', line)."""
    head = line.split("|", 1)[0]
    if ":" not in head:
        return "", line
    name, body = (part.strip() for part in line.split(":", 1))
    if not name:
        raise PromptSetError(f"{line!r}: nothing before ':'; start the line with the pair's "
                             "name or drop the ':'.")
    return name, body


def _split(text: str, sep: re.Pattern) -> list[str]:
    return [p.strip() for p in sep.split(text) if p.strip()]


def _fill(prompts: list[str], name: str) -> list[str]:
    """'{}' in a prompt takes the class name; a prompt that starts with it is capitalised."""
    out = [p.replace("{}", name) if "{}" in p else p for p in prompts]
    return [q[:1].upper() + q[1:] if p.startswith("{}") else q for p, q in zip(prompts, out)]


# ----------------------------------------------------------------------------- labels
def match_label(name: str) -> LabelMatch:
    """The label column(s) a typed class name stands for (order in the module doc)."""
    key = _key(name)
    direct = _direct(key)
    if direct:
        return direct
    cue = _NEG_CUE.match(key)
    if cue:
        rest = key[cue.end():]
        inner = _direct(rest) or _mesh(rest) or _labeller(rest)
        if inner.labels:
            return LabelMatch(inner.labels, not inner.negated,
                              f"negation '{cue.group(0).strip()}' + {inner.via}")
    return _mesh(key) or _labeller(name)


def _key(text: str) -> str:
    return _ARTICLE.sub("", " ".join(text.lower().split()).rstrip(". ").strip())


def _direct(key: str) -> LabelMatch | None:
    if key in _LABEL_NAMES:
        return LabelMatch((_LABEL_NAMES[key],), False, "label name")
    if key in _NORMAL:
        return LabelMatch(("No Finding",), False, "a common name for a normal film")
    return _phrases().get(key)


@functools.lru_cache(maxsize=1)
def _phrases() -> dict[str, LabelMatch]:
    """Every name and prompt of the shipped prompt files -> its labels (first file wins)."""
    table: dict[str, LabelMatch] = {}
    for path in list_prompt_sets():
        ps = load_prompt_set(path)
        via = f"prompt file {path.name}"
        for c in ps.classes:
            for text in (c.name, *c.prompts):
                table.setdefault(_key(text), LabelMatch(c.labels, False, via))
        for b in ps.binary:
            for text in (b.name, *b.positive):
                table.setdefault(_key(text), LabelMatch(b.labels, False, via))
            for text in b.negative:
                table.setdefault(_key(text), LabelMatch(b.labels, True, via))
    return table


def _mesh(key: str) -> LabelMatch | None:
    hits = tuple(lab for lab, v in mesh_to_labels([key]).items() if v == 1.0)
    return LabelMatch(hits, False, "MeSH term") if hits else None


def _labeller(text: str) -> LabelMatch:
    """The report labeller over the name as if it were a report sentence."""
    values = {lab: v for lab, v in label_report(text).items()
              if lab != "No Finding" and not math.isnan(v)}
    if not values:
        return LabelMatch(via="not a label or a known synonym")
    if len(values) > 1:
        return LabelMatch(via=f"names several findings ({', '.join(values)}); give one per class")
    (lab, v), = values.items()
    if v == -1.0:
        return LabelMatch(via=f"uncertain mention of {lab}; state it or its absence")
    return LabelMatch((lab,), v == 0.0, "report labeller")
