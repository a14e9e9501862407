"""The one way the tests compare float results.

float32 arithmetic is not reproducible across CPUs: the SIMD width, the BLAS kernel and
how work is split into chunks change the order of additions, which moves results by a few
ulps. A relative tolerance alone then fails for values near 0 (``1 - cos`` of close
vectors, a difference of two scores), so every comparison here has an absolute tolerance
too; the defaults fit float32 results of order 1. ``tests/test_float_comparisons.py``
keeps the other tests from comparing floats without one.
"""

from __future__ import annotations

import numpy as np

ATOL = 1e-5
RTOL = 1e-5


def as_array(x) -> np.ndarray:
    """numpy view of a torch tensor (any device, grad or not), an array, a list or a scalar."""
    if hasattr(x, "detach"):  # torch without importing it: not every test needs torch
        x = x.detach().cpu()
        x = x.float() if x.dtype.is_floating_point and x.dtype.itemsize < 4 else x  # bf16/fp16
        x = x.numpy()
    return np.asarray(x)


def assert_close(actual, expected, atol: float = ATOL, rtol: float = RTOL, err_msg: str = "") -> None:
    """|actual - expected| <= atol + rtol * |expected| everywhere; the shapes must match,
    but a scalar ``expected`` checks every element; NaNs must sit in the same places."""
    if atol <= 0:
        raise ValueError("assert_close needs atol > 0: a relative tolerance alone fails near 0")
    np.testing.assert_allclose(as_array(actual), as_array(expected), atol=atol, rtol=rtol,
                               err_msg=err_msg)
