"""A tiny ViT trained so that its similarity to one prompt depends on one region: every
attribution method must point there, in the stored image's own coordinates (the stored
image is taller than wide, so the model's resize + centre crop has to be undone)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eclip import explain

from .conftest import make_lm

H, W = 128, 96  # stored image; the 64 px model input is a resized, centre-cropped view
BOX = (slice(30, 54), slice(8, 32))  # the only region that carries the finding
PROMPT = "opacity in the upper left"


def stored_image(rng: np.random.Generator, positive: bool) -> np.ndarray:
    x = 0.3 + 0.05 * rng.standard_normal((H, W))
    if positive:
        x[BOX] += 0.6
    return np.clip(x, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def region_lm(tmp_path_factory):
    lm = make_lm(tmp_path_factory.mktemp("region"), "eclip-vit-micro", seed=0)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        text = lm.model.encode_text(lm.tokenizer([PROMPT]))[0]
    opt = torch.optim.Adam(lm.model.clip.visual.parameters(), lr=2e-3)
    for _ in range(12):  # raise cos(image, prompt) with the box, lower it without
        y = torch.as_tensor(rng.integers(0, 2, 8), dtype=torch.float32)
        x = torch.stack([lm.preprocess(stored_image(rng, bool(v))) for v in y])
        loss = ((1 - 2 * y) * (lm.model.encode_image(x) @ text)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in lm.model.parameters():
        p.grad = None
    lm.model.eval()
    return lm


@pytest.mark.slow
@pytest.mark.parametrize("method", explain.METHODS)
def test_attribution_lands_on_the_trained_region(region_lm, method):
    img = stored_image(np.random.default_rng(99), True)
    m = explain.attribution_map(region_lm, img, PROMPT, method, use_cache=False, n_steps=16)
    inside = m[BOX].mean()
    outside = (m.sum() - m[BOX].sum()) / (m.size - m[BOX].size)
    assert inside > 3 * outside, (inside, outside)
    assert np.unravel_index(m.argmax(), m.shape)[0] < H // 2  # peak in the upper half
