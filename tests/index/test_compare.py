"""eclip.index.compare: aligning one model's 2-D map onto another's, and which cases'
neighbourhoods changed between two embedding spaces."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.errors import EvaluationError
from eclip.index.compare import (most_changed, nearest_neighbours, neighbourhood_change, neighbours_of,
                                 procrustes_fit)
from floats import assert_close


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_a_known_rotation_scale_and_shift(reflect):
    target = np.random.default_rng(0).normal(size=(200, 2)) * [3.0, 1.0]
    r = _rotation(37.0) @ (np.diag([1.0, -1.0]) if reflect else np.eye(2))
    source = 0.25 * target @ r + [5.0, -2.0]  # what a second UMAP run might hand back
    fit = procrustes_fit(source, target)
    assert_close(fit.apply(source), target, atol=1e-4)
    assert fit.scale == pytest.approx(4.0)
    assert fit.residual < 1e-6
    # the transform found is the inverse of the one applied, so it also moves new points
    assert_close(fit.apply(0.25 * np.eye(2) @ r + [5.0, -2.0]), np.eye(2), atol=1e-4)


def test_procrustes_residual_says_how_badly_unrelated_maps_fit():
    rng = np.random.default_rng(1)
    fit = procrustes_fit(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)))
    assert fit.residual > 0.8  # noise onto noise: nearly the target's whole spread is left


def test_procrustes_refuses_maps_of_different_cases():
    with pytest.raises(EvaluationError, match="same cases"):
        procrustes_fit(np.zeros((5, 2)), np.zeros((6, 2)))


def _unit(points) -> np.ndarray:
    p = np.asarray(points, np.float32)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def test_nearest_neighbours_of_a_toy_circle():
    angles = np.deg2rad([0, 10, 30, 100, 115, 200])
    emb = _unit(np.stack([np.cos(angles), np.sin(angles)], axis=1))
    nn = nearest_neighbours(emb, 2)
    assert nn[0].tolist() == [1, 2]  # self excluded, nearest first
    assert nn[3].tolist() == [4, 2]
    assert nn[5].tolist() == [4, 3]
    assert neighbours_of(emb, 3, 3).tolist() == [4, 2, 1]  # one case, as on the Embeddings page


def test_neighbourhood_change_on_a_toy_example():
    # Model A: two tight clusters {0,1,2} and {3,4,5}. Model B keeps them but moves case 2
    # into the second cluster: case 2's neighbours change completely, 0 and 1 lose one of two.
    a = _unit([[1, 0, 0.0], [1, 0.1, 0], [1, 0, 0.1], [0, 1, 0], [0.1, 1, 0], [0, 1, 0.1]])
    b = a.copy()
    b[2] = _unit([[0.05, 1, 0.05]])[0]
    change = neighbourhood_change(a, b, k=2)
    assert change[2] == 1.0
    assert change[0] == change[1] == 0.5
    assert most_changed(change, 1).tolist() == [2]
    assert np.all(neighbourhood_change(a, a, k=2) == 0)


def test_neighbourhood_change_samples_large_sets_and_most_changed_skips_them():
    rng = np.random.default_rng(0)
    a = _unit(rng.normal(size=(50, 8)))
    change = neighbourhood_change(a, _unit(rng.normal(size=(50, 8))), k=3, max_cases=20)
    assert np.isnan(change).sum() == 30
    top = most_changed(change, 50)
    assert len(top) == 20 and not np.isnan(change[top]).any()
    assert np.all(np.diff(change[top]) <= 0)


def test_neighbourhood_change_refuses_indexes_of_other_cases():
    with pytest.raises(EvaluationError, match="same cases"):
        neighbourhood_change(np.eye(4), np.eye(3), k=1)
