"""card.json as a typed object: what a model was trained on, what it is for, and what was
measured about where it fails, so that every output of the model can say so.

Any card loads: a key this module does not know is kept in ``extra`` and written back as it
was, a missing key takes its default (an old card's training data is *unknown*, not real).
``ModelCard.caveat`` is the one sentence each output of a model trained on simulated films
carries (the CLIs' tables and JSON, drafts, the app's pages, case reports).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from eclip.io import write_json

CARD = "card.json"
INTENDED_USE = ("research and demonstration only: not a medical device, not for diagnosis or "
                "any clinical decision")


@dataclass(frozen=True)
class RealFilmCheck:
    """One measurement of a model on real films: e.g. No Finding AUROC 0.515 [0.39, 0.63]
    on 523 COVID-era films. A fact measured on a model, never an estimate."""

    metric: str  # "No Finding AUROC"
    value: float
    ci95: tuple[float, float]
    n_films: int
    films: str  # what the films were: "COVID-era films"
    chance: float = 0.5  # the metric's chance level (AUROC: 0.5)
    model: str = ""  # which model was measured, when not exactly these weights
    source: str = ""  # who measured it, where the films and numbers are

    @classmethod
    def from_dict(cls, raw: Any) -> RealFilmCheck | None:
        """None for anything that is not a complete measurement (no half-facts on a card)."""
        try:
            lo, hi = (float(x) for x in raw["ci95"])
            check = cls(str(raw["metric"]), float(raw["value"]), (lo, hi), int(raw["n_films"]),
                        str(raw.get("films", "")), float(raw.get("chance", 0.5)), str(raw.get("model", "")),
                        str(raw.get("source", "")))
        except (TypeError, KeyError, ValueError):
            return None
        return check if all(map(math.isfinite, (check.value, lo, hi))) else None

    def as_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "ci95": list(self.ci95),
                "n_films": self.n_films, "films": self.films, "chance": self.chance,
                **{key: getattr(self, key) for key in ("model", "source") if getattr(self, key)}}

    @property
    def verdict(self) -> str:
        """What the interval says against chance: a claim the measurement itself supports."""
        lo, hi = self.ci95
        return "at chance" if lo <= self.chance <= hi else ("above chance" if lo > self.chance else "below chance")

    def sentence(self) -> str:
        lo, hi = self.ci95
        films = f"{self.n_films} {self.films}".strip()
        return (f"on real films ({films}) this model type was measured {self.verdict}: "
                f"{self.metric} {self.value:g} [{lo:g}, {hi:g}]")


@dataclass(frozen=True)
class GazeEffect:
    """The seeds experiment's answer to "does gaze help?" (eCLIP against CLIP and against the
    same training with random heatmaps, paired by training seed; written by
    ``eclip.evaluate.gaze_effect``). A fact about the model type, measured across seeds: the
    same on the eCLIP and the CLIP card; a gaze-prior model's card carries the prior-only arm's
    answer (that model against CLIP and random heatmaps) from the same report."""

    sentence: str  # what a clinician reads (the app, the Presenter tour)
    answer: str  # the verdict in a phrase: "better than both on the pointing game; no detectable ..."
    n_seeds: int
    planned_seeds: int = 6
    source: str = ""  # the report file's name, never a path
    metrics: dict = field(default_factory=dict)  # metric -> its name, verdict and [mean, low, high] per contrast

    @classmethod
    def from_dict(cls, raw: Any) -> GazeEffect | None:
        """None for anything without its sentence and seed count (no half-answers on a card)."""
        try:
            effect = cls(str(raw["sentence"]), str(raw.get("answer", "")), int(raw["n_seeds"]),
                         int(raw.get("planned_seeds", 6)), str(raw.get("source", "")),
                         dict(raw.get("metrics") or {}))
        except (TypeError, KeyError, ValueError, AttributeError):
            return None
        return effect if effect.sentence.strip() and effect.n_seeds > 0 else None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def provisional(self) -> bool:
        return self.n_seeds < self.planned_seeds


def training_mode(method: dict) -> str:
    """"eclip" (expert images), "gaze-prior" (gaze only as a prior on where the model looks)
    or "clip" (no gaze), from a run config's [method]."""
    if method.get("expert", True):  # MethodConfig's default
        return "eclip"
    return "gaze-prior" if float(method.get("gaze_prior_weight") or 0) > 0 else "clip"


def gaze_use(method: dict) -> str:
    """How gaze entered training, in words a clinician reads (the sidebar's card facts)."""
    parts = (["expert images"] if method.get("expert", True) else []) + (
        ["a prior on where it looks"] if float(method.get("gaze_prior_weight") or 0) > 0 else [])
    if not parts:
        return "none (the CLIP baseline)"
    control = " (random heatmaps in place of gaze: the control)" if method.get("random_heatmaps") else ""
    return " and ".join(parts) + control


@dataclass(frozen=True)
class TrainingData:
    simulated: bool | None = None  # None: the card does not say (an old card)
    source: str = ""  # "demo (simulated films, Open-I report text)"
    text_licence: str = ""  # of the report text the model learned from
    root: str = ""  # the corpus folder named in the config
    fingerprint: str = ""  # its manifest hash when the model was trained
    n_train: int = 0  # training-split images

    @classmethod
    def from_dict(cls, raw: Any) -> TrainingData:
        if not isinstance(raw, dict):
            return cls()
        sim = raw.get("simulated")
        return cls(sim if isinstance(sim, bool) else None, str(raw.get("source", "")),
                   str(raw.get("text_licence", "")), str(raw.get("root", "")),
                   str(raw.get("fingerprint", "")), _int(raw.get("n_train")))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ModelCard:
    arch: str = ""
    steps: int = 0
    weights_sha256: str = ""
    data_fingerprint: str = ""
    dataset: str = ""
    training_data: TrainingData = field(default_factory=TrainingData)
    intended_use: str = ""
    limitations: tuple[str, ...] = ()
    real_film_check: RealFilmCheck | None = None
    gaze_effect: GazeEffect | None = None  # does gaze help? the seeds experiment's answer
    expert: bool | None = None  # trained with the gaze expert (eCLIP) or not (CLIP); None: unknown
    seed: int | None = None
    created_at: str = ""
    selected_on: str = ""  # what the model was chosen on (a test split makes its test number optimistic)
    metrics: dict = field(default_factory=dict)  # "eval/<split>" -> headline numbers (eclip.evaluate.card)
    headline: dict = field(default_factory=dict)  # which of ``metrics`` to quote, and why
    extra: dict = field(default_factory=dict)  # every other key, written back unchanged

    @classmethod
    def from_dict(cls, raw: Any) -> ModelCard:
        raw = dict(raw) if isinstance(raw, dict) else {}
        typed = {f.name for f in fields(cls)} - {"extra"}
        limits = raw.get("limitations")
        return cls(
            arch=str(raw.get("arch") or ""), steps=_int(raw.get("steps")),
            weights_sha256=str(raw.get("weights_sha256") or ""),
            data_fingerprint=str(raw.get("data_fingerprint") or ""), dataset=str(raw.get("dataset") or ""),
            training_data=TrainingData.from_dict(raw.get("training_data")),
            intended_use=str(raw.get("intended_use") or ""),
            limitations=tuple(map(str, limits)) if isinstance(limits, list) else (),
            real_film_check=RealFilmCheck.from_dict(raw.get("real_film_check")),
            gaze_effect=GazeEffect.from_dict(raw.get("gaze_effect")),
            expert=raw["expert"] if isinstance(raw.get("expert"), bool) else None,
            seed=_int(raw["seed"]) if raw.get("seed") is not None else None,
            created_at=str(raw.get("created_at") or ""), selected_on=str(raw.get("selected_on") or ""),
            metrics=dict(raw["metrics"]) if isinstance(raw.get("metrics"), dict) else {},
            headline=dict(raw["headline"]) if isinstance(raw.get("headline"), dict) else {},
            extra={k: v for k, v in raw.items() if k not in typed})

    def as_dict(self) -> dict:
        """The card.json object: ``extra`` as read, then every typed field that holds a value
        (an old card read and written back gains no empty fields)."""
        out = dict(self.extra)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or _unset(f.name, value):
                continue
            out[f.name] = value.as_dict() if hasattr(value, "as_dict") else (
                list(value) if isinstance(value, tuple) else value)
        return out

    @property
    def simulated_training(self) -> bool:
        return self.training_data.simulated is True

    @property
    def caveat(self) -> str:
        """The sentence every output of a model trained on simulated films carries ("" for
        any other model): the measured real-film fact when the card holds one."""
        if not self.simulated_training:
            return ""
        check = self.real_film_check
        known = check.sentence() if check else "it has not been measured on real films"
        return f"Trained on simulated films; {known}."


def _unset(name: str, value: Any) -> bool:
    """A field left at its default, not written (``False`` and a seed of 0 are values)."""
    if value is None or value == TrainingData() or (name == "steps" and value == 0):
        return True
    return isinstance(value, (str, tuple, dict)) and not value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def read_card(folder: str | Path, *, strict: bool = False) -> ModelCard:
    """The folder's card ({} when missing or unreadable: every field unknown; with ``strict``
    a missing or unreadable card raises OSError / ValueError instead)."""
    try:
        return ModelCard.from_dict(json.loads((Path(folder) / CARD).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        if strict:
            raise
        return ModelCard()


def write_card(folder: str | Path, card: ModelCard) -> Path:
    path = Path(folder) / CARD
    write_json(path, card.as_dict())
    return path
