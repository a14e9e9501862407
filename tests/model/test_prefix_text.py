"""Shared-prefix prompt encoding equals the text tower's own forward pass."""

import pytest
import torch

from eclip.config import MethodConfig, ModelConfig
from eclip.model import build_model, get_tokenizer
from eclip.model import prefix_text as P
from floats import assert_close

PROMPTS = ["There is a small left pleural effusion.", "There is a small right pleural effusion.",
           "There is cardiomegaly.", "Cardiomegaly is seen.", "There is cardiomegaly.",  # a duplicate
           "", "Findings consistent with " + "bilateral patchy airspace opacities " * 6]  # truncated


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="eclip-vit-micro"), MethodConfig(expert=False)).eval()


def _reference(model, tokens):
    with torch.no_grad():
        return model.encode_text(tokens, normalize=True)


@pytest.mark.parametrize("chunk_nodes", [512, 3])  # one chunk; one per start-token subtree
def test_equals_the_plain_forward_pass(model, monkeypatch, chunk_nodes):
    monkeypatch.setattr(P, "MAX_CHUNK_NODES", chunk_nodes)
    tokens = get_tokenizer(model.arch_cfg)(PROMPTS)
    assert P.supports_prefix_sharing(model.clip)
    with torch.no_grad():
        got = P.encode_shared_prefixes(model.clip, tokens)
    assert got.shape == (len(PROMPTS), model.arch_cfg["embed_dim"])
    assert_close(got, _reference(model, tokens), atol=1e-5, rtol=1e-5)


def test_shared_prefixes_are_computed_once(model):
    tokens = get_tokenizer(model.arch_cfg)(PROMPTS[:5])
    trie = P._Trie()
    for row in tokens:
        trie.add(row[:int((row != 0).sum())].tolist())
    real_tokens = int((tokens != 0).sum())
    # "There is" + start token shared by 4 prompts, one prompt repeated outright
    assert len(trie.token) < 0.7 * real_tokens


def test_other_text_towers_are_not_claimed():
    from open_clip.model import CustomTextCLIP

    assert not P.supports_prefix_sharing(object.__new__(CustomTextCLIP))
