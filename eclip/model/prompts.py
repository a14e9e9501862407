"""Prompt sets: the text fed to the text tower for zero-shot scoring, from ``eclip/assets/prompts/*.json``.

Two kinds of file:

* ``"task": "multiclass"`` - ``classes``: each with ``name``, ``labels`` (manifest label
  columns; the class is positive when any of them is 1) and ``phrases`` (put into every
  entry of the file's ``templates``) and/or verbatim ``prompts``.
* ``"task": "binary"`` - ``labels``: each with ``name``, ``labels``, and ``positive`` /
  ``negative`` prompt lists (CheXzero-style pairs).

A class may say ``"negated": true`` (positive where none of its labels is positive or
uncertain: RSNA's "No Pneumonia"), and may name the extra columns an evaluation set carries
(``eclip.data.evalsets.labels.EXTRA_LABELS``: CXR14's Mass, Nodule ...). The paper's prompt
sets live in ``eclip/assets/prompts/paper/``: found by name, but not in the default "every set".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eclip.data.evalsets.labels import EXTRA_LABELS
from eclip.data.manifest import LABELS
from eclip.errors import PromptSetError
from eclip.locations import package_file

PROMPT_DIR = package_file("eclip", "assets", "prompts")
# The paper's sets (hundreds of prompts each, for build-eval's datasets): by name only.
PAPER_DIR = PROMPT_DIR / "paper"


@dataclass(frozen=True)
class PromptClass:
    name: str
    labels: tuple[str, ...]
    prompts: tuple[str, ...]
    # a typed "no pleural effusion": positive where every label is negative or not mentioned
    negated: bool = False


@dataclass(frozen=True)
class BinaryLabel:
    name: str
    labels: tuple[str, ...]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    negated: bool = False  # the positive side names the labels' absence ("no effusion | effusion")


@dataclass(frozen=True)
class PromptSet:
    name: str
    task: str  # "multiclass" | "binary"
    classes: tuple[PromptClass, ...] = ()
    binary: tuple[BinaryLabel, ...] = ()
    path: str = ""

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes] if self.task == "multiclass" else [b.name for b in self.binary]


def list_prompt_sets(directory: str | Path = PROMPT_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.json"))


def load_prompt_set(path_or_name: str | Path, directory: str | Path = PROMPT_DIR) -> PromptSet:
    """Load a prompt file by path, or by bare name (``findings``) from ``directory``."""
    path = Path(path_or_name)
    extra = [PAPER_DIR] if Path(directory) == PROMPT_DIR else []  # the shipped paper sets
    if not path.suffix and not path.exists():
        path = Path(directory) / f"{path_or_name}.json"
        if not path.is_file():
            path = next((d / path.name for d in extra if (d / path.name).is_file()), path)
    if not path.is_file():
        known = [p.stem for d in [directory, *extra] for p in list_prompt_sets(d)]
        raise PromptSetError(f"prompt set {path_or_name!r} not found ({path}); known: {known}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PromptSetError(f"{path}: not a readable JSON prompt file: {exc}") from exc
    return parse_prompt_set(raw, str(path))


def parse_prompt_set(raw: dict, where: str = "<dict>") -> PromptSet:
    task = raw.get("task")
    name = str(raw.get("name") or Path(where).stem)
    if task == "multiclass":
        templates = list(raw.get("templates", []))
        classes = tuple(_parse_class(c, templates, where) for c in _nonempty(raw, "classes", where))
        return PromptSet(name, task, classes=classes, path=where)
    if task == "binary":
        binary = tuple(_parse_binary(b, where) for b in _nonempty(raw, "labels", where))
        return PromptSet(name, task, binary=binary, path=where)
    raise PromptSetError(f"{where}: 'task' must be 'multiclass' or 'binary', got {task!r}")


def _nonempty(raw: dict, key: str, where: str) -> list:
    items = raw.get(key)
    if not isinstance(items, list) or not items:
        raise PromptSetError(f"{where}: needs a non-empty list {key!r}")
    return items


def _labels(entry: dict, where: str) -> tuple[str, ...]:
    labels = tuple(entry.get("labels") or [entry.get("name", "")])
    unknown = [lab for lab in labels if lab not in LABELS and lab not in EXTRA_LABELS]
    if unknown:
        raise PromptSetError(f"{where}: {entry.get('name')!r} names unknown label(s) {unknown}; "
                              f"use manifest label columns {list(LABELS) + list(EXTRA_LABELS)}")
    return labels


def _parse_class(entry: dict, templates: list[str], where: str) -> PromptClass:
    prompts = [_sentence(t.format(p)) for p in entry.get("phrases", []) for t in templates]
    prompts += list(entry.get("prompts", []))
    if not prompts:
        raise PromptSetError(f"{where}: class {entry.get('name')!r} has no prompts "
                              "(give 'phrases' with file 'templates', or 'prompts')")
    return PromptClass(str(entry["name"]), _labels(entry, where), tuple(dict.fromkeys(prompts)),
                       negated=bool(entry.get("negated", False)))


def _parse_binary(entry: dict, where: str) -> BinaryLabel:
    pos, neg = list(entry.get("positive", [])), list(entry.get("negative", []))
    if not pos or not neg:
        raise PromptSetError(f"{where}: binary label {entry.get('name')!r} needs both "
                              "'positive' and 'negative' prompts")
    return BinaryLabel(str(entry["name"]), _labels(entry, where), tuple(pos), tuple(neg))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
