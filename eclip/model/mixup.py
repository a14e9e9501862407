"""Per-batch mixup of images: one lam ~ Beta(alpha, alpha) for the whole expert batch."""

from __future__ import annotations

import numpy as np

from eclip.config import MethodConfig


def mixup_lambda(method: MethodConfig, rng: np.random.Generator) -> float:
    """lam for one expert batch; 0 (pure expert image) for the naive / no-mixup ablations."""
    if method.naive or not method.mixup:
        return 0.0
    return float(rng.beta(method.mixup_alpha, method.mixup_alpha))


def step_rng(seed: int, stream: int, step: int) -> np.random.Generator:
    """A generator that depends only on (seed, stream, step): decisions replay on resume
    and agree across ranks without any state to save."""
    return np.random.default_rng([int(seed), int(stream), int(step)])
