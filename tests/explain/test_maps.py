"""Attribution maps: shape/alignment, caching, and leaving a shared model untouched."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from eclip import explain
from eclip.errors import EvaluationError, ModelError
from floats import assert_close


def pixels(seed: int, shape=(96, 80)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_crop_geometry_matches_model_preprocess(vit_lm):
    import torch

    from eclip.model.preprocess import resize_centre_crop

    h, w, s = 256, 200, vit_lm.image_size
    nh, nw, top, left = explain.crop_geometry(h, w, s)
    # A ramp in rows: the crop's first row must be the resized image's row `top`.
    ramp = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)[None]
    resized = torch.nn.functional.interpolate(ramp[None], size=(nh, nw), mode="bilinear",
                                              antialias=True, align_corners=False)[0]
    assert_close(resize_centre_crop(ramp, s), resized[:, top:top + s, left:left + s])


def test_to_image_grid_undoes_resize_and_crop():
    # Tall 256x200 image, model input 64: the crop covers rows ~28..228 and every column.
    out = explain.to_image_grid(np.ones((4, 4), np.float32), 256, 200, 64)
    assert out.shape == (256, 200) and out.dtype == np.float32
    assert out[128, 100] == pytest.approx(1.0) and out[128, 0] > 0.9 and out[128, 199] > 0.9
    assert out[:20].max() < 0.05 and out[-20:].max() < 0.05


@pytest.mark.parametrize("method", explain.METHODS)
def test_vit_maps_are_unit_float32_aligned(vit_lm, method):
    img = pixels(0)
    m = explain.attribution_map(vit_lm, img, "small left pleural effusion", method,
                                use_cache=False, n_steps=4)
    assert m.shape == img.shape and m.dtype == np.float32
    assert m.min() >= 0 and m.max() == pytest.approx(1.0)


@pytest.mark.parametrize("tower", ["rn_lm", "cnn_lm"])
def test_cnn_gradcam_and_unsupported_rollout(request, tower):
    lm = request.getfixturevalue(tower)
    assert explain.supported_methods(lm) == ["gradcam", "integrated_gradients"]
    img = pixels(1, (64, 100))
    m = explain.attribution_map(lm, img, "cardiomegaly", "gradcam", use_cache=False)
    assert m.shape == img.shape and m.dtype == np.float32 and m.max() <= 1.0
    for method in ("rollout", "grad_rollout"):
        with pytest.raises(ModelError, match="ViT.*'gradcam' or 'integrated_gradients'"):
            explain.attribution_map(lm, img, "x", method, use_cache=False)


def test_timm_cnn_gradcam_reads_the_feature_map_its_pool_averages(cnn_lm):
    from eclip.explain.methods import _gradcam_layer

    assert explain.tower_kind(cnn_lm) == "cnn"
    assert _gradcam_layer(cnn_lm) is cnn_lm.model.clip.visual.trunk.global_pool


def test_vit_offers_the_prompt_conditioned_rollout(vit_lm):
    assert explain.supported_methods(vit_lm) == ["gradcam", "rollout", "grad_rollout", "integrated_gradients"]
    assert not explain.uses_prompt("rollout") and explain.uses_prompt("grad_rollout")


def test_grad_rollout_follows_the_prompt_and_rollout_does_not(vit_lm):
    img = pixels(3)
    prompts = ("small left pleural effusion", "enlarged heart", "no acute disease")
    for method, changes in (("grad_rollout", True), ("rollout", False)):
        maps = [explain.attribution_map(vit_lm, img, p, method, use_cache=False) for p in prompts]
        differ = [not np.allclose(maps[0], m, atol=1e-4) for m in maps[1:]]
        assert differ == [changes, changes], method


def test_attention_tap_recomputes_the_same_forward(vit_lm):
    """grad_rollout swaps open_clip's fused attention for an explicit softmax (to reach the
    probabilities' gradient): the similarity must not change, and the hooks must go."""
    import torch

    from eclip.explain.towers import AttentionTap, similarity

    x = vit_lm.preprocess(pixels(4))[None]
    text = explain.text_embedding(vit_lm, "effusion")
    blocks = vit_lm.model.clip.visual.transformer.resblocks
    with torch.no_grad():
        plain = similarity(vit_lm, x, text)
        with AttentionTap([b.attn for b in blocks]) as tap:
            tapped = similarity(vit_lm, x, text)
    assert len(tap.outputs) == len(blocks) and tap.outputs[0].shape[1] == blocks[0].attn.num_heads
    assert_close(tapped, plain, atol=1e-5, rtol=1e-5)
    assert_close(tap.outputs[0].sum(-1), torch.ones_like(tap.outputs[0][..., 0]))
    _untouched(vit_lm)


def test_an_empty_prompt_is_never_explained_silently(vit_lm):
    assert explain.resolve_prompt("  effusion ", "The heart is large.") == ("effusion", "typed")
    assert explain.resolve_prompt("", "The heart is large.") == ("The heart is large.", "report")
    assert explain.resolve_prompt("   ", "") == (explain.DEFAULT_PROMPT, "default")
    with pytest.raises(EvaluationError, match="prompt is empty"):
        explain.attribution_map(vit_lm, pixels(0), " ", "gradcam", use_cache=False)
    # rollout never reads the prompt, so an empty one is fine there
    assert explain.attribution_map(vit_lm, pixels(0), "", "rollout", use_cache=False).max() == 1.0


def test_unknown_method_and_bad_shape(vit_lm):
    with pytest.raises(EvaluationError, match="choose one of gradcam"):
        explain.attribution_map(vit_lm, pixels(0), "x", "saliency")
    with pytest.raises(EvaluationError, match="grey HxW"):
        explain.attribution_map(vit_lm, np.zeros((8, 8, 3), np.float32), "x")


def test_cache_per_image_prompt_method(vit_lm):
    explain.clear_cache()
    img = pixels(2)
    a = explain.attribution_map(vit_lm, img, "effusion", "gradcam", image_id="case1")
    assert explain.attribution_map(vit_lm, img, "effusion", "gradcam", image_id="case1") is a
    assert not a.flags.writeable
    b = explain.attribution_map(vit_lm, img, "cardiomegaly", "gradcam", image_id="case1")
    assert b is not a and not np.array_equal(a, b)
    # rollout ignores the prompt, so its cache does too
    r = explain.attribution_map(vit_lm, img, "p1", "rollout", image_id="case1")
    assert explain.attribution_map(vit_lm, img, "p2", "rollout", image_id="case1") is r


def _untouched(lm) -> None:
    assert all(p.grad is None for p in lm.model.parameters())
    assert all(not m._forward_hooks and not m._backward_hooks for m in lm.model.modules())
    assert not lm.model.training


def test_parallel_attributions_equal_serial_and_leave_model_untouched(vit_lm, rn_lm):
    import torch

    jobs = [(vit_lm, i, p, m) for i in range(2) for p in ("effusion", "normal heart")
            for m in explain.METHODS] + [(rn_lm, i, "effusion", "gradcam") for i in range(2)]

    def run(job):
        lm, seed, prompt, method = job
        return explain.attribution_map(lm, pixels(seed), prompt, method, use_cache=False, n_steps=4)

    serial = [run(j) for j in jobs]
    _untouched(vit_lm), _untouched(rn_lm)
    parallel: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(k: int):
        try:
            barrier.wait()
            with torch.inference_mode():  # callers' grad modes must not matter
                for j in range(k, len(jobs), 4):
                    parallel[j] = run(jobs[j])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for j, expected in enumerate(serial):
        assert_close(parallel[j], expected, atol=1e-5, err_msg=str(jobs[j][1:]))
    _untouched(vit_lm), _untouched(rn_lm)
