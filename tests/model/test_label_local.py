"""The label-grounded local loss (method.label_local_weight): targets from the manifest's labels,
the soft maximum over the grid, the ranking, and that training with it moves a finding prompt's
patch map onto the patch that tells the films apart."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from eclip.config import MethodConfig
from eclip.errors import ManifestError, ModelError
from eclip.model import build_model, get_tokenizer
from eclip.model.gaze_prior import encode_with_tokens
from eclip.model.label_local import (LOCAL_LABELS, label_embeddings, label_prompt_texts, label_targets,
                                     local_scores, prompt_groups, ranking_loss)
from floats import assert_close
from tiny_towers import cnn_arch

from .test_gaze_prior import gap_arch


def test_targets_positive_negative_and_left_out():
    df = pd.DataFrame({"No Finding": [np.nan, 1.0, np.nan], "Cardiomegaly": [1.0, 0.0, np.nan],
                       "Edema": [-1.0, np.nan, np.nan]})
    t = label_targets(df)
    k_card, k_edema, k_fracture = (LOCAL_LABELS.index(x) for x in ("Cardiomegaly", "Edema", "Fracture"))
    assert t.shape == (3, len(LOCAL_LABELS))
    assert t[0, k_card] == 1.0 and math.isnan(t[0, k_edema])  # uncertain: left out
    assert t[1, k_card] == 0.0 and t[1, k_edema] == 0.0 and t[0, k_fracture] == 0.0  # blank on a labelled row
    assert np.isnan(t[2]).all()  # a row without any label is never a negative


def test_targets_need_label_columns():
    with pytest.raises(ManifestError, match="label_local_weight"):
        label_targets(pd.DataFrame({"id": ["a"]}))


def test_every_label_has_prompts_and_groups_index_them():
    prompts = label_prompt_texts()
    assert list(prompts) == list(LOCAL_LABELS) and "No Finding" not in prompts
    assert prompts["Fracture"] == ["Fracture."]  # no pair in the set: what localise scores
    texts, groups = prompt_groups()
    assert len(texts) == len(groups) and sorted(set(groups)) == list(range(len(LOCAL_LABELS)))
    emb = torch.nn.functional.normalize(torch.randn(len(texts), 4), dim=-1)
    out = label_embeddings(emb, torch.tensor(groups), len(LOCAL_LABELS))
    assert_close(out.norm(dim=-1), torch.ones(len(LOCAL_LABELS)))


def test_score_is_a_soft_maximum_over_the_grid():
    text = torch.tensor([[1.0, 0.0]])
    one_hit = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    none = torch.tensor([[[0.0, 1.0]] * 4])
    scale = torch.tensor(20.0)
    hit, miss = float(local_scores(one_hit, text, scale)), float(local_scores(none, text, scale))
    # log-mean-exp: one matching patch of four raises the score by about its share minus log 4
    assert hit > miss + 10.0
    assert float(local_scores(none, text, scale)) == pytest.approx(0.0, abs=1e-5)


def test_ranking_counts_only_labels_with_both_sides():
    scores = torch.tensor([[2.0, 0.0], [0.0, 5.0], [1.0, 1.0]])
    targets = torch.tensor([[1.0, float("nan")], [0.0, float("nan")], [0.0, 1.0]])
    # label 0: one positive (2.0) over negatives 0.0 and 1.0; label 1 has no negative
    want = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert float(ranking_loss(scores, targets)) == pytest.approx(want, abs=1e-6)
    empty = ranking_loss(scores.requires_grad_(), torch.full_like(targets, float("nan")))
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_local_loss_needs_average_pooled_tokens_and_attached_prompts(tmp_path):
    with pytest.raises(ModelError, match="label_local_weight"):
        build_model({"arch": "eclip-vit-micro"}, MethodConfig(label_local_weight=1.0))
    model = build_model({"arch": gap_arch(tmp_path)}, MethodConfig(label_local_weight=1.0))
    labels = torch.zeros(2, len(LOCAL_LABELS))
    with pytest.raises(ModelError, match="attach_label_prompts"):
        model(torch.rand(2, 3, 64, 64), torch.randint(1, 400, (2, 32)), labels=labels)


@pytest.mark.parametrize("arch", [gap_arch, cnn_arch])
def test_training_ranks_the_films_that_carry_the_finding_first(tmp_path, arch):
    """Films with the finding carry a bright square, films without do not: a few steps of the
    local loss alone rank every positive film's soft maximum above every negative's. (Where on
    the grid the evidence lands is what `eclip explain localise` measures on real corpora: on
    this toy a ViT may park it in one register-like token.)"""
    torch.manual_seed(0)
    model = build_model({"arch": arch(tmp_path)}, MethodConfig(label_local_weight=1.0, expert=False))
    texts, groups = prompt_groups()
    model.attach_label_prompts(get_tokenizer(model.arch_cfg)(texts), groups)
    k = LOCAL_LABELS.index("Pleural Effusion")
    images = torch.rand(8, 3, 64, 64) * 0.2
    images[:4, :, :16, :16] = 1.0
    labels = torch.zeros(8, len(LOCAL_LABELS))
    labels[:4, k] = 1.0
    tokens = torch.randint(1, 400, (8, 32))

    def effusion_scores() -> torch.Tensor:
        with torch.no_grad():
            _, patch = encode_with_tokens(model.clip.visual, images)
            prompts = model.encode_text(model.label_tokens)
            text = label_embeddings(prompts, model.label_groups, len(LOCAL_LABELS))
            return local_scores(patch, text, model.logit_scale())[:, k]

    before = effusion_scores()
    assert float(before[:4].min()) < float(before[4:].max())  # not ranked at init
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(20):
        out = model(images, tokens, labels=labels)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = effusion_scores()
    assert float(after[:4].min()) > float(after[4:].max()) + 1.0
