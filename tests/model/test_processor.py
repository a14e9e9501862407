import pytest
import torch

from eclip.errors import ModelError
from eclip.model.processor import HeatmapProcessor, normalise_heatmap
from floats import assert_close


def _capture_attention_inputs(proc):
    seen = {}

    def hook(module, args, kwargs):
        seen["query"], seen["key"], seen["value"] = args[:3]

    proc.attn.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_reference_shapes_224():
    proc = HeatmapProcessor()  # reference: patch 16, width 256, 8 heads
    assert proc.patch_embed.kernel_size == (16, 16) and proc.patch_embed.stride == (16, 16)
    assert proc.patch_embed.out_channels == 256 and proc.attn.num_heads == 8
    seen = _capture_attention_inputs(proc)
    out = proc(torch.randn(2, 3, 224, 224), torch.rand(2, 1, 224, 224))
    assert out.shape == (2, 3, 224, 224)
    assert seen["query"].shape == (2, 196, 256)  # 14 x 14 patches, no positional embedding


def test_small_configurable_patch_and_width():
    proc = HeatmapProcessor(patch_size=8, width=32, heads=4)
    assert proc(torch.randn(3, 3, 64, 64), torch.rand(3, 64, 64)).shape == (3, 3, 64, 64)


def test_queries_from_heatmap_weighted_patches_keys_from_plain_image():
    torch.manual_seed(0)
    proc = HeatmapProcessor(patch_size=8, width=16, heads=2)
    seen = _capture_attention_inputs(proc)
    img = torch.randn(2, 3, 32, 32)
    hm = torch.rand(2, 1, 32, 32) * 5
    proc(img, hm)
    scaled = hm / hm.flatten(1).amax(1).view(-1, 1, 1, 1)
    assert_close(seen["query"], proc.tokens(scaled * img))
    assert_close(seen["key"], proc.tokens(img))
    assert torch.equal(seen["key"], seen["value"])
    assert not torch.allclose(seen["query"], seen["key"])


def test_heatmap_scaled_per_image_and_broadcast():
    hm = torch.zeros(2, 1, 4, 4)
    hm[0, 0, 1, 1], hm[1, 0, 2, 2] = 0.001, 50.0
    out = normalise_heatmap(hm)
    assert out.shape == (2, 3, 4, 4)
    assert out[0].max() == 1 and out[1].max() == 1
    proc = HeatmapProcessor(patch_size=4, width=8, heads=2).eval()
    img = torch.randn(2, 3, 16, 16)
    h = torch.rand(2, 1, 16, 16)
    assert_close(proc(img, h), proc(img, h * 123.0), atol=1e-5)


def test_mask_mode_is_mask_times_image():
    proc = HeatmapProcessor(patch_size=4, width=8, heads=2, mode="mask")
    img, hm = torch.randn(1, 3, 8, 8), torch.rand(1, 1, 8, 8)
    assert_close(proc(img, hm), img * hm / hm.max())


def test_bad_sizes_raise_model_error():
    with pytest.raises(ModelError, match="patch size"):
        HeatmapProcessor(patch_size=16, width=16, heads=2)(torch.randn(1, 3, 40, 40), torch.rand(1, 1, 40, 40))
    with pytest.raises(ModelError, match="divisible"):
        HeatmapProcessor(width=10, heads=3)
    with pytest.raises(ModelError, match="mode"):
        HeatmapProcessor(mode="nope")
