"""The committed demo checkpoints: small fp16 safetensors with complete cards, a like-for-like
pair (same architecture, steps and data; only the expert path differs), loadable offline.
Nothing here depends on the image tower: a ViT and a CNN pair are held to the same checks."""

import json
from pathlib import Path

import pytest
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[2] / "checkpoints"
PAIR = ("demo-eclip", "demo-clip")
# Every clone carries the shipped models: at most 50 MiB each. The resnet10t pair holds its
# frozen MiniLM trunk by reference (11 MiB; with the trunk, 54 MiB); a pair that holds it must
# have a small image tower (the ViT pair before: 47 MiB).
MAX_MIB = 50
# What gaze adds (the expert batches and the gaze prior on the tower's map): the only method
# keys an eCLIP arm may set apart from its CLIP arm. train.threads is the CPU thread count of
# the machine that trained it, not part of the recipe.
EXPERT_PATH = ("expert", "gaze_prior_on", "gaze_prior_weight")


@pytest.mark.parametrize("name", PAIR)
def test_small_fp16_safetensors_with_a_complete_card(name):
    folder = ROOT / name
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= MAX_MIB * 2 ** 20
    with safe_open(str(weights), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes <= {"F16", "I64"}, dtypes
    card = json.loads((folder / "card.json").read_text())
    for key in ("data_fingerprint", "arch", "steps", "wall_time_s", "weights_sha256"):
        assert card.get(key), key
    test = card["metrics"]["eval/test"]  # on the training corpus or the demo corpus the app shows
    assert test["data_fingerprint"] and test["data"] and test["split"] == "test"
    assert {"zs/findings/accuracy", "zs/binary/macro_auroc", "probe/100%/macro_auroc"} <= set(test["values"])


def test_the_pair_differs_only_in_the_expert_path():
    eclip, clip = (json.loads((ROOT / n / "config.json").read_text()) for n in PAIR)
    cards = [json.loads((ROOT / n / "card.json").read_text()) for n in PAIR]
    assert cards[0]["expert"] and not cards[1]["expert"]
    assert cards[0]["steps"] == cards[1]["steps"] and cards[0]["arch"] == cards[1]["arch"]
    assert cards[0]["data_fingerprint"] == cards[1]["data_fingerprint"]
    assert eclip["method"]["expert"] and not clip["method"]["expert"]
    assert not clip["method"].get("gaze_prior_weight")  # the CLIP arm sees no gaze at all
    for config in (eclip, clip):
        for key in EXPERT_PATH:
            config["method"].pop(key, None)
        config["train"].pop("threads", None)
    assert eclip == clip  # model, arch_cfg, data, train (seed, steps, lr, ...) and method


@pytest.mark.slow
def test_the_shipped_model_loads_and_embeds_offline():
    import torch

    from eclip.model import load_model

    lm = load_model(ROOT / "demo-eclip")
    with torch.no_grad():
        img = lm.model.encode_image(torch.zeros(1, 3, lm.image_size, lm.image_size))
        txt = lm.model.encode_text(lm.tokenizer(["small left pleural effusion"]))
    assert img.shape == txt.shape and torch.isfinite(img).all()


# Shipped models beyond the pair (checkpoints/demo-prior: the pair's recipe with gaze only as a
# prior): slim (the frozen text trunk by reference), the same recipe as the CLIP arm but for the
# expert path, and with a card that says how gaze entered its training.
EXTRA = sorted(p.name for p in ROOT.glob("demo-*") if p.name not in PAIR)
SLIM_MAX_MIB = 15


@pytest.mark.parametrize("name", EXTRA)
def test_a_third_model_is_slim_like_for_like_and_says_how_it_used_gaze(name):
    folder = ROOT / name
    assert (folder / "model.safetensors").stat().st_size <= SLIM_MAX_MIB * 2 ** 20
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert len(f.metadata()["text_trunk"]) == 32 and not any(k.startswith("text.transformer.") for k in f.keys())
    card = json.loads((folder / "card.json").read_text())
    clip_card = json.loads((ROOT / "demo-clip" / "card.json").read_text())
    assert card["gaze"] and card["mode"] in ("eclip", "gaze-prior", "clip")
    assert card["metrics"]["eval/fresh-test"]["values"] and card["headline"]["metrics"] == "eval/fresh-test"
    for key in ("arch", "steps", "data_fingerprint", "image_size"):
        assert card[key] == clip_card[key], key
    config, clip = (json.loads((ROOT / n / "config.json").read_text()) for n in (name, "demo-clip"))
    for c in (config, clip):
        for key in EXPERT_PATH:
            c["method"].pop(key, None)
        c["train"].pop("threads", None)
    assert config == clip


@pytest.mark.slow
@pytest.mark.parametrize("name", EXTRA)
def test_a_slim_model_loads_offline_with_the_installed_trunk(name):
    import torch

    from eclip.model import load_model

    lm = load_model(ROOT / name)
    with torch.no_grad():
        txt = lm.model.encode_text(lm.tokenizer(["small left pleural effusion"]))
    assert torch.isfinite(txt).all()
