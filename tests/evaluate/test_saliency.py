"""Gaze-agreement metrics (eclip.evaluate.saliency) on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.evaluate.saliency import (agreement_metrics, auc_judd, border_band, is_flat, kl_divergence, mass_fraction,
                                    nss, pearson_cc, spearman, ssim)


def blob(cy: float, cx: float, shape=(40, 50), s=0.01) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-(((yy / shape[0]) - cy) ** 2 + ((xx / shape[1]) - cx) ** 2) / s).astype(np.float32)


def test_identical_maps():
    g = blob(0.5, 0.5)
    assert pearson_cc(g, g) == pytest.approx(1.0)
    assert pearson_cc(3 * g + 1, g) == pytest.approx(1.0)  # scale/offset free
    assert kl_divergence(g, g) == pytest.approx(0.0, abs=1e-6)
    assert auc_judd(g, g) == pytest.approx(1.0)
    assert nss(g, g) > 2


def test_opposite_and_unrelated_maps():
    g = blob(0.2, 0.2)
    far = blob(0.8, 0.8)
    assert pearson_cc(-g, g) == pytest.approx(-1.0)
    assert pearson_cc(far, g) < 0.1
    assert kl_divergence(far, g) > kl_divergence(blob(0.25, 0.2), g) > 0
    assert auc_judd(far, g) < 0.5 < auc_judd(blob(0.25, 0.2), g)
    assert nss(far, g) < 0 < nss(blob(0.25, 0.2), g)


def test_nss_of_a_point_is_the_zscore_there():
    s = np.arange(20, dtype=np.float32).reshape(4, 5)
    g = np.zeros_like(s)
    g[3, 4] = 1.0
    assert nss(s, g) == pytest.approx((19 - s.mean()) / s.std())


def test_a_flat_map_scores_chance_and_flat_gaze_is_undefined():
    """Grad-CAM's ReLU can zero a whole map; it points nowhere, so it must score chance
    (not NaN, which a mean over images would silently drop)."""
    g = blob(0.5, 0.5)
    for flat in (np.ones_like(g), np.zeros_like(g)):
        assert is_flat(flat) and not is_flat(g)
        scores = agreement_metrics(flat, g)
        assert scores["auc_judd"] == pytest.approx(0.5)
        assert scores["cc"] == 0.0 and scores["nss"] == 0.0
        assert scores["kl"] == pytest.approx(kl_divergence(np.full_like(g, 0.3), g))  # = KL to uniform
    assert np.isnan(auc_judd(g, np.zeros_like(g)))
    assert np.isnan(pearson_cc(g, np.zeros_like(g)))


def test_metrics_resize_the_model_map_to_the_gaze_grid():
    g = blob(0.5, 0.5, (40, 50))
    small = blob(0.5, 0.5, (20, 25))
    assert pearson_cc(small, g) > 0.98


def test_border_band_and_mass_fraction():
    band = border_band((256, 256))  # one patch of an 8 x 8 grid on every side
    assert band.mean() == pytest.approx(1 - 0.75 ** 2)
    assert band[0, 100] and band[100, 255] and not band[32, 32] and not band[128, 128]
    assert mass_fraction(np.ones((256, 256)), band) == pytest.approx(band.mean())  # even spread = area
    assert mass_fraction(blob(0.5, 0.5, (256, 256)), band) < 0.01
    assert mass_fraction(blob(0.02, 0.5, (256, 256), 0.001), band) > 0.99
    assert np.isnan(mass_fraction(np.zeros((8, 8)), border_band((8, 8))))


def test_map_similarities_for_the_sanity_checks():
    g = blob(0.3, 0.4)
    assert spearman(g, g) == pytest.approx(1.0) and ssim(g, g) == pytest.approx(1.0)
    assert spearman(np.sqrt(g), g) == pytest.approx(1.0) and ssim(np.sqrt(g), g) < 0.99  # ranks, not values
    other = blob(0.8, 0.7)
    assert spearman(other, g) < 0.2 and ssim(other, g) < ssim(blob(0.32, 0.4), g)
    assert np.isnan(spearman(np.zeros_like(g), g))  # a flat map has no ranking
