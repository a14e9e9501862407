"""eclip.model.card: the typed card.json reads every key the code uses and writes back what it read."""

from __future__ import annotations

import json

import pytest

from eclip.model.card import ModelCard, read_card, write_card


def test_evaluation_keys_are_typed_and_round_trip(tmp_path):
    raw = {"arch": "ViT-B-16", "expert": False, "seed": 0, "created_at": "2024-01-01T00:00:00+00:00",
           "selected_on": "validate split", "metrics": {"eval/test": {"auc": 0.7}},
           "headline": {"metrics": "eval/test", "why": "fresh"}, "something_else": [1, 2]}
    card = ModelCard.from_dict(raw)
    assert (card.expert, card.seed, card.selected_on) == (False, 0, "validate split")
    assert card.metrics == {"eval/test": {"auc": 0.7}} and card.headline["metrics"] == "eval/test"
    assert card.extra == {"something_else": [1, 2]}
    write_card(tmp_path, card)
    assert json.loads((tmp_path / "card.json").read_text()) == raw  # False and 0 are values, kept


def test_an_old_card_gains_no_empty_fields():
    assert ModelCard.from_dict({"arch": "RN50"}).as_dict() == {"arch": "RN50"}


def test_a_missing_card_is_unknown_or_an_error_when_strict(tmp_path):
    assert read_card(tmp_path) == ModelCard()
    with pytest.raises(OSError):
        read_card(tmp_path, strict=True)


def test_how_gaze_entered_training_is_said_from_the_method_config():
    from eclip.model.card import gaze_use, training_mode

    shipped_eclip = {"expert": True, "gaze_prior_weight": 5.0}
    prior_only = {"expert": False, "gaze_prior_weight": 5.0}
    assert training_mode(shipped_eclip) == "eclip" and training_mode({}) == "eclip"  # expert is the default
    assert training_mode(prior_only) == "gaze-prior"
    assert training_mode({"expert": False, "gaze_prior_weight": 0.0}) == "clip"
    assert gaze_use(shipped_eclip) == "expert images and a prior on where it looks"
    assert gaze_use(prior_only) == "a prior on where it looks"
    assert gaze_use({"expert": False}) == "none (the CLIP baseline)"
    control = gaze_use(dict(shipped_eclip, random_heatmaps=True))
    assert control.endswith("(random heatmaps in place of gaze: the control)")
