"""A model carries its training world: the typed card (eclip.model.card), the training-image
reference beside the weights (``eclip evaluate card``), and every text output of a model
trained on simulated films saying so (evaluate, explain, report, the draft)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from eclip.io import sha256_file
from eclip.model.card import ModelCard, RealFilmCheck, read_card

REPO = Path(__file__).resolve().parents[2]
CHECK = {"metric": "No Finding AUROC", "value": 0.515, "ci95": [0.39, 0.63], "n_films": 523,
         "films": "COVID-era films"}
MEASURED = ("on real films (523 COVID-era films) this model type was measured at chance: "
            "No Finding AUROC 0.515 [0.39, 0.63]")


def _micro(out: Path, seed: int) -> Path:
    """A random-init micro checkpoint saved through save_model (the real format)."""
    import torch

    from eclip.config import Config, to_dict
    from eclip.model import build_model, save_model

    cfg = Config()
    cfg.model.arch = "eclip-vit-micro"
    torch.manual_seed(seed)
    return save_model(out, build_model(cfg.model, cfg.method), to_dict(cfg), {"steps": 0}, dtype="float32")


@pytest.fixture(scope="module")
def simulated_checkpoint(tmp_path_factory, tiny_dataset):
    """A micro checkpoint whose card and reference were written by `eclip evaluate card`
    from the (simulated) tiny dataset, with the real-film check."""
    from eclip.evaluate.card import main

    base = tmp_path_factory.mktemp("world")
    ckpt = _micro(base / "sim", seed=5)
    (base / "check.json").write_text(json.dumps(CHECK))
    assert main(["--checkpoint", str(ckpt), "--train-data", str(tiny_dataset),
                 "--real-film-check", str(base / "check.json")]) == 0
    return ckpt


# --------------------------------------------------------------------------- 1. the typed card
def test_an_old_card_loads_and_is_written_back_unchanged():
    # a card from before the training world (the first shipped demo-clip's), kept here so the
    # test does not depend on which pair is shipped
    old = json.loads(Path(__file__).with_name("old_card.json").read_text())
    card = ModelCard.from_dict({**old, "someone_elses_key": [1, 2]})
    assert card.arch == "eclip-vit-tiny-minilm" and card.steps == 2100
    assert card.training_data.simulated is None and not card.simulated_training and card.caveat == ""
    assert card.as_dict() == {**old, "someone_elses_key": [1, 2]}
    assert ModelCard.from_dict({"steps": "x", "limitations": "not a list", "real_film_check": {"value": 1}}) \
        == ModelCard(extra={})


def test_the_caveat_states_the_measured_fact_or_that_there_is_none():
    sim = ModelCard.from_dict({"training_data": {"simulated": True}})
    assert sim.caveat == "Trained on simulated films; it has not been measured on real films."
    measured = ModelCard.from_dict({"training_data": {"simulated": True}, "real_film_check": CHECK})
    assert measured.caveat == f"Trained on simulated films; {MEASURED}."
    above = RealFilmCheck.from_dict({**CHECK, "value": 0.8, "ci95": [0.7, 0.9]})
    assert above.verdict == "above chance"


def test_the_writer_fills_the_card_and_never_touches_the_weights(simulated_checkpoint, tiny_dataset):
    from eclip.evaluate.card import write_training_world
    from eclip.model.checkpoint import load_model

    weights = simulated_checkpoint / "model.safetensors"
    sha, reference = sha256_file(weights), _reference(simulated_checkpoint)
    card = read_card(simulated_checkpoint)
    assert card.training_data.simulated is True and card.training_data.n_train == 15
    assert card.training_data.source == "fixture" and card.weights_sha256 == sha
    assert "not a medical device" in card.intended_use
    assert card.limitations[0].startswith("Trained on simulated films only (15 training images")
    assert card.limitations[1] == MEASURED[0].upper() + MEASURED[1:] + "."
    assert card.real_film_check == RealFilmCheck.from_dict(CHECK)
    assert card.extra["gaze"] and card.extra["mode"] in ("eclip", "gaze-prior", "clip")  # from config.json
    # rerunnable: the same command gives the same files, the check kept, the weights untouched
    write_training_world(simulated_checkpoint, tiny_dataset)
    assert sha256_file(weights) == sha and read_card(simulated_checkpoint) == card
    assert _reference(simulated_checkpoint) == reference
    assert load_model(simulated_checkpoint).model_card.caveat.endswith(MEASURED + ".")


def _reference(folder: Path) -> tuple:
    """The reference file's tensors and metadata (its header's key order is not fixed)."""
    from safetensors import safe_open

    with safe_open(str(folder / "train_reference.safetensors"), "numpy") as f:
        return f.metadata(), {k: f.get_tensor(k).tobytes() for k in f.keys()}


def test_the_writer_refuses_another_corpus_than_the_one_trained_on(tmp_path, tiny_dataset):
    from eclip.errors import EvaluationError
    from eclip.evaluate.card import write_training_world

    ckpt = _micro(tmp_path / "ck", seed=6)
    card = json.loads((ckpt / "card.json").read_text())
    (ckpt / "card.json").write_text(json.dumps({**card, "data_fingerprint": "0123456789abcdef"}))
    with pytest.raises(EvaluationError, match="not the corpus this model was trained on"):
        write_training_world(ckpt, tiny_dataset)
    out = write_training_world(ckpt, tiny_dataset, allow_other_corpus=True)
    assert out["training_data"]["fingerprint"] == "0123456789abcdef"  # what it was trained on
    assert out["training_data"]["n_train"] == 0  # a rebuild does not tell how many it saw


def test_the_shipped_pair_carries_its_training_world():
    for name in ("demo-eclip", "demo-clip"):
        folder = REPO / "checkpoints" / name
        card = read_card(folder)
        assert card.simulated_training
        if card.real_film_check is None:
            assert card.caveat == "Trained on simulated films; it has not been measured on real films."
        else:  # a measurement of this model type, not of another shipped before it
            assert card.arch in card.real_film_check.model, (card.arch, card.real_film_check.model)
            assert card.caveat == f"Trained on simulated films; {card.real_film_check.sentence()}."
        assert "CC BY-NC-ND 4.0" in card.training_data.text_licence and card.intended_use
        # the card writer never changed the weights: they still hash to what training wrote
        assert sha256_file(folder / "model.safetensors") == card.weights_sha256
        reference = folder / "train_reference.safetensors"
        assert reference.stat().st_size < 600 * 1024
        from safetensors import safe_open

        with safe_open(str(reference), "numpy") as f:
            assert f.metadata()["weights_sha256"] == card.weights_sha256
            assert f.get_tensor("embeddings").dtype == np.float16


# --------------------------------------------------------------------------- 2. typicality
def test_typicality_is_measured_against_the_models_own_training_images(simulated_checkpoint, tiny_dataset,
                                                                      tmp_path):
    from eclip.data.images import load_working
    from eclip.index.typicality import describe, of_model
    from eclip.model.checkpoint import load_model
    from eclip.model.encode import encode_pixels

    lm = load_model(simulated_checkpoint)
    emb = encode_pixels(lm, load_working(tiny_dataset / "images" / "case000.png"))
    typ = of_model(lm, emb)
    assert typ.n_reference == 15 and 0 <= typ.percentile <= 100
    assert describe(lm, emb) == typ.line()
    bare = Path(shutil.copytree(simulated_checkpoint, tmp_path / "bare-copy"))
    (bare / "train_reference.safetensors").unlink()
    assert describe(load_model(bare), emb).startswith("unavailable: the checkpoint bare-copy holds no sample")


# --------------------------------------------------------------------------- 4. every output says it
def test_the_draft_footer_and_json_carry_the_caveat_and_typicality(simulated_checkpoint, tiny_dataset,
                                                                   tmp_path, capsys):
    from eclip.report.__main__ import main

    out = tmp_path / "draft.json"
    rc = main(["--checkpoint", str(simulated_checkpoint), "--image", str(tiny_dataset / "images/case003.png"),
               "--data", str(tiny_dataset), "--backend", "retrieval", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.startswith(f"MODEL CAVEAT: Trained on simulated films; {MEASURED}.\ntypicality of this image: ")
    footer = text[text.index("--- draft"):]
    assert f"MODEL CAVEAT: Trained on simulated films; {MEASURED}." in footer
    assert "typicality of this image: " in footer and "training images" in footer
    saved = json.loads(out.read_text())
    assert saved["model_caveat"] == saved["provenance"]["model_caveat"] == f"Trained on simulated films; {MEASURED}."
    assert "of the model's training images" in saved["typicality"] == saved["provenance"]["typicality"]


def test_evaluate_tables_and_json_carry_the_caveat(simulated_checkpoint, tiny_dataset, tmp_path):
    from eclip.evaluate.__main__ import main

    out = tmp_path / "res.json"
    assert main(["--checkpoint", str(simulated_checkpoint), "--data", str(tiny_dataset), "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--n-boot", "20", "--split", "train", "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["model_caveat"] == result["checkpoint"]["model_caveat"] == f"Trained on simulated films; {MEASURED}."
    assert result["checkpoint"]["training_data"]["simulated"] is True
    table = out.with_suffix(".md").read_text()
    assert table.startswith(f"> **Model caveat (sim):** Trained on simulated films; {MEASURED}.")


def test_explain_map_says_it_with_the_images_typicality(simulated_checkpoint, tiny_dataset, tmp_path, capsys):
    from eclip.explain.cli import main

    assert main(["map", "--checkpoint", str(simulated_checkpoint), "--image",
                 str(tiny_dataset / "images/case003.png"), "--prompt", "cardiomegaly",
                 "--out", str(tmp_path / "map.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"MODEL CAVEAT: Trained on simulated films; {MEASURED}."
    assert lines[1].startswith("typicality of this image: ") and "training images" in lines[1]
