"""Render one simulated case: anatomy + findings -> film and per-label masks.

Every random stream is derived from the case seed and a fixed stream number, so leaving a
finding out (``skip``) changes nothing else: the same body, noise and other findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .findings import ORDER, RENDERERS, Finding, prepare
from .mesh import CasePlan, apply_anatomy_terms
from .phantom import Anatomy, Knobs, Scene, build_scene, make_film, sample_anatomy

STREAM_ANATOMY, STREAM_TREE, STREAM_FILM, STREAM_PLAN, STREAM_GAZE = 0, 1, 2, 3, 4
STREAM_FINDING0 = 100
STREAM_SECOND_READER = 1_000_003  # a second reader of the same film, far from the streams above


def stream(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(k)])


@dataclass
class Rendered:
    film: np.ndarray  # float32 HxW in [0, 1]
    masks: dict[str, np.ndarray]  # CheXpert label -> bool HxW (union over its findings)
    finding_masks: list[tuple[Finding, np.ndarray]] = field(default_factory=list)
    scene: Scene | None = None


def render_case(plan: CasePlan, seed: int, size: int = 256, knobs: Knobs | None = None,
                skip: tuple[int, ...] = ()) -> Rendered:
    """Draw ``plan`` for case ``seed``; ``skip`` lists finding indices to leave out."""
    knobs = knobs or Knobs()
    anat: Anatomy = sample_anatomy(stream(seed, STREAM_ANATOMY), knobs)
    anat = apply_anatomy_terms(anat, plan.anatomy_terms)
    todo = [(i, f) for i, f in enumerate(plan.findings) if i not in skip]
    todo.sort(key=lambda it: (ORDER.index(it[1].kind), it[0]))
    scaled = [(i, _scale(f, knobs.severity)) for i, f in todo]
    for _, f in scaled:
        anat = prepare(anat, f)
    scene = build_scene(anat, size, stream(seed, STREAM_TREE))
    masks: dict[str, np.ndarray] = {}
    per_finding = []
    for i, f in scaled:
        m = RENDERERS[f.kind](scene, f, stream(seed, STREAM_FINDING0 + i))
        if not m.any():  # e.g. a focus that landed where no aerated lung was left
            continue
        per_finding.append((f, m))
        for label in f.label.split("|"):
            masks[label] = masks.get(label, np.zeros_like(m)) | m
    film = make_film(scene, stream(seed, STREAM_FILM))
    return Rendered(film, masks, per_finding, scene)


def _scale(f: Finding, k: float) -> Finding:
    if k == 1.0:
        return f
    from dataclasses import replace

    return replace(f, severity=f.severity * k)
