"""Models with one frozen text trunk (the shipped eCLIP/CLIP pair) share its passes: a prompt
goes through MiniLM once for both, each model applies its own projection, and the result is
the model's own ``encode_text``. A model whose trunk differs never borrows another's."""

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

from eclip.model import encode as E
from eclip.model import load_model
from eclip.model.text_features import hf_text_tower, trunk_digest
from tests.floats import assert_close

ROOT = Path(__file__).resolve().parents[2] / "checkpoints"
PROMPTS = ["There is a small left pleural effusion.", "No pneumothorax.", "Cardiomegaly."]


@pytest.fixture(scope="module")
def pair():
    return load_model(ROOT / "demo-eclip"), load_model(ROOT / "demo-clip")


def reference(lm, prompts):
    """The tower's own forward pass, untouched by any cache or trim."""
    with torch.inference_mode():
        return lm.model.clip.encode_text(lm.tokenizer(prompts), normalize=True)


def trunk_passes(lm) -> list[int]:
    """A list that grows by one per call of the model's text trunk."""
    calls: list[int] = []
    hf_text_tower(lm.model.clip).transformer.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_the_pair_shares_one_trunk_pass_and_keeps_its_own_projection(pair):
    eclip, clip = pair
    E.clear_prompt_cache()
    first, second = trunk_passes(eclip), trunk_passes(clip)
    a = E.encode_prompts(eclip, PROMPTS)
    b = E.encode_prompts(clip, PROMPTS)
    assert len(first) >= 1 and second == []  # the second model ran no trunk pass
    assert_close(a, reference(eclip, PROMPTS))
    assert_close(b, reference(clip, PROMPTS))
    assert (abs(a - b).max()) > 0.05  # the projections differ: not one model's vectors twice


def test_a_model_with_another_trunk_computes_its_own(pair):
    eclip, _ = pair
    other = copy.deepcopy(eclip.model)
    with torch.no_grad():
        hf_text_tower(other.clip).transformer.embeddings.word_embeddings.weight.mul_(0.5)
    changed = dataclasses.replace(eclip, model=other, weights_sha256="changed-trunk")
    assert trunk_digest(hf_text_tower(other.clip)) != trunk_digest(hf_text_tower(eclip.model.clip))
    E.clear_prompt_cache()
    E.encode_prompts(eclip, PROMPTS)
    calls = trunk_passes(changed)
    got = E.encode_prompts(changed, PROMPTS)
    assert len(calls) >= 1
    assert_close(got, reference(changed, PROMPTS))
    assert abs(got - E.encode_prompts(eclip, PROMPTS)).max() > 1e-3
