"""The sanity checks of Adebayo et al. (2018) on a tiny real model: a map that explains the
model changes when the image tower's weights are randomised, and a map that explains an
image-text similarity changes with the prompt (attention rollout, which reads no text,
must not)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eclip.explain import sanity


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.random((72, 64)).astype(np.float32) for _ in range(n)]


def test_cascading_randomisation_reaches_every_image_weight_and_leaves_the_model_alone(vit_lm):
    before = {k: v.clone() for k, v in vit_lm.model.state_dict().items()}
    stages = []
    for name, model in sanity.cascading_randomisation(vit_lm):
        stages.append(name)
        assert model.weights_sha256 != vit_lm.weights_sha256
    assert stages == ["head", "block 1", "block 0", "embedding"]  # top down (2-block micro ViT)
    after = model.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # the whole image tower, nothing else (constant tensors, e.g. a fresh LayerNorm's, keep
    # their one value: re-drawn with their own mean and spread they stay the same)
    visual = {k for k, v in before.items() if k.startswith("clip.visual.") and v.numel() > 1 and v.std() > 0}
    assert changed == visual
    assert all(torch.equal(v, vit_lm.model.state_dict()[k]) for k, v in before.items())


def test_a_cnn_is_randomised_stage_by_stage(cnn_lm):
    stages = [name for name, _ in sanity.cascading_randomisation(cnn_lm)]
    assert stages == ["head", "layer4", "layer3", "layer2", "layer1", "stem"]


def test_maps_change_with_the_weights_and_with_the_prompt(vit_lm):
    table = sanity.sanity_checks(vit_lm, images(2), ["small left pleural effusion"] * 2,
                                 ["the heart is enlarged"] * 2, ["gradcam", "rollout", "grad_rollout"])
    full = table[(table["check"] == "weights") & (table["stage"] == "embedding")].set_index("method")
    prompt = table[table["check"] == "prompt"].set_index("method")
    for method in ("gradcam", "rollout", "grad_rollout"):
        assert full.loc[method, "spearman"] < 0.6 and full.loc[method, "ssim"] < 0.8, method
    assert prompt.loc["rollout", "spearman"] == pytest.approx(1.0)  # blind to the prompt, as documented
    assert prompt.loc["grad_rollout", "spearman"] < 0.99 and prompt.loc["gradcam", "spearman"] < 0.99
    assert set(table["stage"]) == {"other prompt", "head", "block 1", "block 0", "embedding"}
