import numpy as np
import pytest

from eclip.train.clahe import clahe


def _low_contrast(shape=(128, 128), seed=0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / shape[0]
    rng = np.random.default_rng(seed)
    return (0.4 + 0.1 * np.sin(6 * xx) + 0.05 * yy + 0.03 * rng.standard_normal(shape)).clip(0, 1).astype(np.float32)


def test_range_shape_and_contrast_gain():
    img = _low_contrast()
    out = clahe(img)
    assert out.shape == img.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    assert out.std() > 2 * img.std()


def test_close_to_scikit_image():
    from skimage.exposure import equalize_adapthist

    img = _low_contrast(seed=1)
    ours, ref = clahe(img), equalize_adapthist(img, clip_limit=0.01)
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.8
    assert ours.std() == pytest.approx(ref.std(), rel=0.25, abs=1e-3)


def test_odd_sizes_and_flat_images():
    assert clahe(np.random.default_rng(0).random((100, 75))).shape == (100, 75)
    flat = clahe(np.full((32, 32), 0.3, np.float32))
    assert np.isfinite(flat).all()


def test_monotone_within_a_tile():
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    out = clahe(ramp)
    assert (np.diff(out[32]) >= -1e-6).all()  # preserves grey-level order along a row
