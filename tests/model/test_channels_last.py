"""train.channels_last: the image tower reads its batch channels-last (faster convolutions on
CPU, benchmarks/channels_last.py) and computes the same losses and gradients, up to float
summation order; the weights keep their layout, so checkpoints are unchanged."""

from __future__ import annotations

import torch

from eclip.config import MethodConfig
from eclip.model import build_model
from floats import assert_close
from tiny_towers import cnn_arch


def step(model, images, tokens, hm, channels_last: bool) -> tuple[dict, dict]:
    model.zero_grad(set_to_none=True)
    out = model(images, tokens, expert_images=images[:2], expert_heatmaps=hm[:2], expert_tokens=tokens[:2],
                lam=0.7, heatmaps=hm, channels_last=channels_last)
    out["loss"].backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in out.items()}, grads


def test_channels_last_gives_the_default_layouts_losses_and_gradients(tmp_path):
    torch.manual_seed(0)
    model = build_model({"arch": cnn_arch(tmp_path)}, MethodConfig(gaze_prior_weight=1.0))
    images, tokens = torch.rand(4, 3, 64, 64), torch.randint(1, 400, (4, 32))
    hm = torch.zeros(4, 1, 64, 64)
    hm[:, :, :16, :16] = 1.0
    default, g_default = step(model, images, tokens, hm, channels_last=False)
    last, g_last = step(model, images, tokens, hm, channels_last=True)
    assert float(default["prior"]) > 0 and float(default["loss"]) > 0  # the terms under test are on
    for k in default:
        assert_close(last[k], default[k], atol=1e-5, rtol=0, err_msg=k)
    assert g_last.keys() == g_default.keys() and any("trunk" in n for n in g_last)
    for n in g_default:
        assert_close(g_last[n], g_default[n], atol=1e-4, rtol=1e-4, err_msg=n)  # gradients up to ~5
    assert all(p.is_contiguous() for p in model.parameters())  # what a checkpoint saves is untouched


def test_the_tower_really_reads_channels_last(tmp_path):
    torch.manual_seed(0)
    model = build_model({"arch": cnn_arch(tmp_path)}, MethodConfig(gaze_prior_weight=1.0))
    seen = []
    first_conv = next(m for m in model.clip.visual.trunk.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    images, tokens = torch.rand(4, 3, 64, 64), torch.randint(1, 400, (4, 32))
    hm = torch.ones(4, 1, 64, 64)
    for flag in (False, True):
        model(images, tokens, expert_images=images[:2], expert_heatmaps=hm[:2], expert_tokens=tokens[:2],
              heatmaps=hm, channels_last=flag)
    assert seen == [False, True]
