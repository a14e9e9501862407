"""is_cached: whether attribution_map answers from its cache, so the app queues only maps
that will really be computed (app/jobs/slot.py)."""

from __future__ import annotations

import numpy as np

from eclip.explain.maps import attribution_map, clear_cache, is_cached


def test_is_cached_follows_the_map_cache(vit_lm):
    clear_cache()
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    args = (vit_lm, image, "Small left pleural effusion.", "integrated_gradients")
    assert not is_cached(*args, image_id="case1", n_steps=4)
    attribution_map(*args, image_id="case1", n_steps=4)
    assert is_cached(*args, image_id="case1", n_steps=4)
    assert not is_cached(*args, image_id="case1", n_steps=8)  # another map: more IG steps
    assert not is_cached(vit_lm, image, "Cardiomegaly.", args[3], image_id="case1", n_steps=4)
    assert not is_cached(*args, image_id="case2", n_steps=4)
    assert not is_cached(*args, n_steps=4)  # keyed by the image's content without an id
    clear_cache()
    assert not is_cached(*args, image_id="case1", n_steps=4)
