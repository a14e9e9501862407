import math

import torch
import torch.nn.functional as F

from eclip.config import MethodConfig, ModelConfig
from eclip.model import build_model
from eclip.model.loss import ClipLoss, clamp_logit_scale
from floats import assert_close


def test_symmetric_infonce_matches_hand_computation():
    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(5, 8), dim=1), F.normalize(torch.randn(5, 8), dim=1)
    scale = torch.tensor(10.0)
    logits = scale * img @ txt.T
    expected = 0.5 * (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5)))
    assert_close(ClipLoss()(img, txt, scale), expected)


def test_perfect_alignment_gives_low_loss():
    feats = torch.eye(4)
    assert ClipLoss()(feats, feats, torch.tensor(100.0)) < 1e-3


def test_temperature_init_and_clamp():
    model = build_model(ModelConfig(arch="eclip-vit-micro"))
    assert_close(model.temperature, 0.07, atol=1e-7)  # a float32 log/exp round trip
    with torch.no_grad():
        model.clip.logit_scale.fill_(50.0)
    assert_close(model.logit_scale(), 100.0)  # T >= 0.01
    clamp_logit_scale(model.clip.logit_scale, 0.01, 2.0)
    assert_close(model.clip.logit_scale, math.log(100))
    with torch.no_grad():
        model.clip.logit_scale.fill_(-5.0)
    assert_close(model.logit_scale(), 0.5)  # T <= 2


def test_expert_pairs_add_positives_and_negatives():
    """Logits are (B + B/2)^2 with labels arange: each expert pair is one more positive
    (on the diagonal) and every cross pair with the main batch one more negative."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="eclip-vit-micro"), MethodConfig())
    seen = {}
    orig = model.loss_fn.get_logits

    def spy(image, text, scale):
        seen["logits"] = orig(image, text, scale)
        return seen["logits"]

    model.loss_fn.get_logits = spy
    b = 4
    images, tokens = torch.randn(b, 3, 64, 64), torch.randint(1, 1000, (b, 32))
    e_img, e_tok = torch.randn(b // 2, 3, 64, 64), torch.randint(1, 1000, (b // 2, 32))
    hm = torch.rand(b // 2, 1, 64, 64)
    out = model(images, tokens, e_img, hm, e_tok, lam=0.5)
    per_image, per_text = seen["logits"]
    assert per_image.shape == (b + b // 2, b + b // 2) and per_text.shape == per_image.shape
    labels = torch.arange(b + b // 2)
    expected = 0.5 * (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels))
    assert_close(out["clip"], expected)
    # the main-batch block alone is exactly the plain CLIP logits of the main batch
    plain = model(images, tokens)
    assert per_image.shape != seen["logits"][0].shape
    assert_close(per_image[:b, :b], seen["logits"][0], atol=1e-5)
    assert not torch.allclose(out["clip"], plain["clip"])
