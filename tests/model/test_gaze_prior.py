"""The gaze prior (method.gaze_prior_weight): the tower's patch map, its KL to the gaze, and
that training with it pulls the map toward the gaze."""

from __future__ import annotations

import pytest
import torch

from eclip.config import MethodConfig
from eclip.errors import ModelError
from eclip.model import build_model
from eclip.model.factory import create_clip, resolve_arch
from eclip.model.gaze_prior import check_tower, encode_with_tokens, gaze_grid, prior_loss, token_grid
from floats import assert_close
from tiny_towers import cnn_arch, cnn_spec


def gap_arch(tmp_path) -> str:
    import json

    spec = resolve_arch("eclip-vit-micro")
    spec["vision_cfg"]["pool_type"] = "avg"
    path = tmp_path / "vit-micro-gap.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_patch_tokens_average_to_the_image_embedding(tmp_path):
    torch.manual_seed(0)
    model = build_model({"arch": gap_arch(tmp_path)})
    x = torch.rand(2, 3, 64, 64)
    pooled, tokens = encode_with_tokens(model.clip.visual, x)
    assert tokens.shape == (2, 16, pooled.shape[-1])
    assert_close(tokens.mean(dim=1), pooled)
    assert_close(torch.nn.functional.normalize(pooled, dim=-1), model.encode_image(x))


def test_cnn_cells_average_to_the_image_embedding(tmp_path):
    """A timm CNN's projected feature-map cells play the patch tokens (train mode: one pass, so
    batch norm sees the batch once)."""
    torch.manual_seed(0)
    model = build_model({"arch": cnn_arch(tmp_path)})
    x = torch.rand(2, 3, 64, 64)
    pooled, tokens = encode_with_tokens(model.clip.visual, x)
    assert token_grid(model.clip.visual) == (4, 4) and tokens.shape == (2, 16, pooled.shape[-1])
    assert_close(tokens.mean(dim=1), pooled)
    assert_close(torch.nn.functional.normalize(pooled, dim=-1), model.encode_image(x))


def test_shipped_cnn_config_has_an_8x8_grid_and_downloads_nothing(monkeypatch):
    import timm.models._builder

    def no_download(*args, **kwargs):
        raise AssertionError("timm tried to load pretrained weights")

    monkeypatch.setattr(timm.models._builder, "load_pretrained", no_download)
    spec = resolve_arch("eclip-rn-minilm-gap")
    spec["text_cfg"] = resolve_arch("eclip-vit-micro")["text_cfg"]  # the tower under test, a fast text side
    visual = create_clip(spec).visual
    check_tower(visual)
    assert token_grid(visual) == (8, 8)
    assert encode_with_tokens(visual, torch.rand(1, 3, 128, 128))[1].shape == (1, 64, 256)


def test_output_stride_needs_a_timm_tower():
    spec = resolve_arch("eclip-vit-micro")
    spec["vision_cfg"]["timm_output_stride"] = 16
    with pytest.raises(ModelError, match="timm_model_name"):
        create_clip(spec)


@pytest.mark.parametrize("vision", [{"timm_proj": "mlp"}, {"timm_pool": "max"}, {"timm_drop": 0.1}])
def test_prior_needs_a_cnn_whose_cells_average_to_the_embedding(tmp_path, vision):
    with pytest.raises(ModelError, match="timm_proj"):
        check_tower(create_clip(cnn_spec(**vision)).visual)


def test_gaze_grid_is_a_distribution_and_kl_is_zero_at_the_gaze():
    hm = torch.zeros(1, 1, 8, 8)
    hm[0, 0, :4, :4] = 1.0  # the top-left quarter of a 2 x 2 grid
    target = gaze_grid(hm, (2, 2))
    assert_close(target, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    text = torch.tensor([[1.0, 0.0]])
    near = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])  # only patch 0 matches
    far = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    # a token's share counts its norm: a long token in the wrong place pulls the map away
    loud = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [3.0, 0.0]]])
    scale = torch.tensor(50.0)
    assert prior_loss(near, text, hm, (2, 2), scale) < 1e-3 < prior_loss(far, text, hm, (2, 2), scale)
    assert prior_loss(loud, text, hm, (2, 2), scale) > 1.0


def test_prior_needs_average_pooled_tokens():
    with pytest.raises(ModelError, match="pool_type"):
        build_model({"arch": "eclip-vit-micro"}, MethodConfig(gaze_prior_weight=1.0))


@pytest.mark.parametrize("arch", [gap_arch, cnn_arch])
def test_training_on_the_prior_moves_the_map_toward_the_gaze(tmp_path, arch):
    torch.manual_seed(0)
    method = MethodConfig(gaze_prior_weight=1.0)
    model = build_model({"arch": arch(tmp_path)}, method)
    images, tokens = torch.rand(4, 3, 64, 64), torch.randint(1, 400, (4, 32))
    hm = torch.zeros(4, 1, 64, 64)
    hm[:, :, :16, :16] = 1.0  # every reader looked at the top-left patch

    def kl() -> float:
        with torch.no_grad():
            _, patch = encode_with_tokens(model.clip.visual, images)
            txt = model.encode_text(tokens)
            return float(prior_loss(patch, txt, hm, token_grid(model.clip.visual), model.logit_scale()))

    before = kl()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(15):
        out = model(images, tokens, expert_images=images, expert_heatmaps=hm, expert_tokens=tokens, lam=1.0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert kl() < 0.5 * before


def test_rows_without_gaze_are_skipped_not_counted_as_zero():
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    far = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]] * 2)
    hm = torch.zeros(2, 1, 8, 8)
    hm[0, 0, :4, :4] = 1.0  # row 1 has no gaze
    scale = torch.tensor(50.0)
    both = prior_loss(far, text, hm, (2, 2), scale)
    assert_close(both, prior_loss(far[:1], text[:1], hm[:1], (2, 2), scale))
    assert float(prior_loss(far[1:], text[1:], hm[1:], (2, 2), scale)) == 0.0


def test_prior_on_all_reaches_main_images_on_steps_without_an_expert_batch(tmp_path):
    torch.manual_seed(0)
    images, tokens = torch.rand(2, 3, 64, 64), torch.randint(1, 400, (2, 32))
    hm = torch.zeros(2, 1, 64, 64)
    hm[:, :, :16, :16] = 1.0
    losses = {}
    for on in ("expert", "all"):
        torch.manual_seed(0)
        model = build_model({"arch": gap_arch(tmp_path)}, MethodConfig(gaze_prior_weight=1.0, gaze_prior_on=on))
        losses[on] = float(model(images, tokens, heatmaps=hm)["loss"].detach())
    assert losses["all"] > losses["expert"] + 1e-3  # the KL term is added only under "all"


def test_prior_on_must_be_known():
    with pytest.raises(ModelError, match="gaze_prior_on"):
        build_model({"arch": "eclip-vit-micro"}, MethodConfig(gaze_prior_on="main"))
