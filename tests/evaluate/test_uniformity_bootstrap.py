"""Uniformity's interval resamples pairs, not per-item kernel means.

Uniformity is a mean over pairs: each item sits in n - 1 of them, so a resample of items
must be scored over the pairs it forms. Resampling each item's mean over the whole set
(the old way) leaves the pairs' own variation out and gave intervals about half as wide
as they should be."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.evaluate import metrics as M


def _sphere_points(rng: np.random.Generator, n: int) -> np.ndarray:
    """A clumped cloud on the unit sphere in 3-D (uniformity far from its minimum)."""
    x = rng.standard_normal((n, 3))
    x[:, 0] += 1.5
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_statistic_on_all_items_is_the_uniformity_and_skips_self_pairs():
    x = _sphere_points(np.random.default_rng(0), 30)
    stat = M.uniformity_statistic(x)
    assert stat(np.arange(30)) == pytest.approx(M.uniformity(x), abs=1e-5)
    # a resample holding item 0 twice and item 1 once: pairs (0,1) twice each way, never (0,0)
    k = np.exp(-2 * np.sum((x[0] - x[1]) ** 2))
    assert stat(np.array([0, 0, 1])) == pytest.approx(np.log(k), abs=1e-5)
    assert np.isnan(stat(np.array([3, 3, 3])))  # only self-pairs: undefined, dropped by the bootstrap


def test_pair_bootstrap_is_wider_and_covers_the_true_value():
    rng = np.random.default_rng(123)
    a, b = _sphere_points(rng, 300_000), _sphere_points(rng, 300_000)
    true = float(np.log(np.mean(np.exp(-2 * np.sum((a - b) ** 2, axis=1)))))  # independent pairs
    reps, n, n_boot = 120, 40, 200
    covered_new = covered_old = 0
    width_new, width_old = [], []
    for r in range(reps):
        x = _sphere_points(rng, n)
        new = M.bootstrap_ci(M.uniformity_statistic(x), n, n_boot, seed=r)
        terms = M.uniformity_terms(x)  # the old statistic: per-item kernel means resampled
        old = M.bootstrap_ci(lambda i, t=terms: float(np.log(t[i].mean())), n, n_boot, seed=r)
        assert new["value"] == pytest.approx(old["value"], abs=1e-5)  # same point estimate
        covered_new += new["ci_low"] <= true <= new["ci_high"]
        covered_old += old["ci_low"] <= true <= old["ci_high"]
        width_new.append(new["ci_high"] - new["ci_low"])
        width_old.append(old["ci_high"] - old["ci_low"])
    assert np.mean(width_new) > 1.5 * np.mean(width_old)  # ~2x
    assert 0.88 <= covered_new / reps <= 1.0  # nominal 0.95 (0.947 with these seeds)
    assert covered_old / reps < 0.8  # 0.65: the old intervals were too narrow
