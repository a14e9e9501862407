"""Does gaze help? The seeds experiment's report (benchmarks/gaze_seeds.py) read, checked and
said in words by the plan's claim rule (eclip.evaluate.gaze_effect), and carried on the model
card (``eclip evaluate card --gaze-seeds``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from gaze_report import report

from eclip.errors import EvaluationError
from eclip.evaluate import gaze_effect as G
from eclip.model.card import GazeEffect, ModelCard, read_card

from .conftest import save_micro_checkpoint

TESTS = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, rep, name: str = "gaze-seeds.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rep) if not isinstance(rep, str) else rep)
    return path


# --------------------------------------------------------------------------- the sentence
def test_a_null_result_is_said_with_its_intervals():
    assert G.sentence(report()) == (
        "Across 6 paired training seeds on the simulated corpus, eCLIP (trained with the radiologist's "
        "gaze) was compared with CLIP and with the same training on random heatmaps: no detectable "
        "difference at this number of seeds on either primary measure (linear-probe AUROC at 10 % labels: "
        "+0.004 [−0.010, +0.018] vs CLIP, +0.002 [−0.011, +0.015] vs random heatmaps; pointing game: "
        "+0.010 [−0.020, +0.040] vs CLIP, −0.005 [−0.030, +0.020] vs random heatmaps). Each difference "
        "is eCLIP minus the other model, with its 95 % t-interval over seeds.")
    assert G.answer(report()) == "no detectable difference at this number of seeds on either primary measure"


def test_a_benefit_is_claimed_only_over_both_controls():
    better = ((0.050, 0.020, 0.080), (0.040, 0.010, 0.070))
    text = G.sentence(report(pointing=better))
    assert ("better than both on the pointing game (pointing game: +0.050 [+0.020, +0.080] vs CLIP, "
            "+0.040 [+0.010, +0.070] vs random heatmaps)") in text
    assert "no detectable difference at this number of seeds on linear-probe AUROC at 10 % labels (" in text
    assert G.sentence(report(probe=better, pointing=better)).count("better than both on both primary measures") == 1
    # ahead of CLIP but not of the random heatmaps: any extra positive would do as well, no claim
    only_clip = ((0.050, 0.020, 0.080), (0.001, -0.020, 0.022))
    assert "better" not in G.answer(report(pointing=only_clip))
    assert G.verdict(report(pointing=only_clip), "pointing") == "no detectable difference"


def test_worse_needs_both_contrasts():
    worse = ((-0.050, -0.080, -0.020), (-0.040, -0.070, -0.010))
    assert G.answer(report(probe=worse, pointing=worse)) == "worse than both on both primary measures"
    half = ((-0.050, -0.080, -0.020), (0.001, -0.020, 0.022))
    assert G.answer(report(probe=worse, pointing=half)) == (
        "worse than both on linear-probe AUROC at 10 % labels; no detectable difference at this number "
        "of seeds on the pointing game")


def test_fewer_seeds_than_planned_is_provisional():
    text = G.sentence(report(seeds=3))
    assert text.startswith("Across 3 paired training seeds (provisional: 3 of the 6 planned seeds) on ")
    assert "provisional" not in G.sentence(report())
    effect = G.effect(report(seeds=3))
    assert effect.provisional and effect.n_seeds == 3 and effect.planned_seeds == 6


def test_numbers_carry_signs_and_three_decimals():
    assert [G.signed(x) for x in (0.0042, -0.0104, -0.0004, 0.0)] == ["+0.004", "−0.010", "+0.000", "+0.000"]
    assert G.signed(float("nan")) == "n/a"


# --------------------------------------------------------------------------- reading the file
@pytest.mark.parametrize("content, says", [
    (None, "no such file"),
    ("{not json", "not a readable JSON file"),
    ([1, 2], "holds no JSON object"),
    ({"seeds": [0, 1]}, "no contrasts, gaze_helps, primary"),
])
def test_a_missing_or_malformed_file_says_what_is_wrong_and_what_to_run(tmp_path, content, says):
    path = tmp_path / "gaze-seeds.json" if content is None else write(tmp_path, content)
    with pytest.raises(EvaluationError, match=says) as err:
        G.read_report(path)
    assert "python benchmarks/gaze_seeds.py report" in str(err.value)


def test_a_report_that_contradicts_itself_is_refused(tmp_path):
    short = report()
    short["contrasts"]["eclip - clip"]["pointing"]["per_seed"] = [0.1, 0.2]
    with pytest.raises(EvaluationError, match="one difference per seed"):
        G.read_report(write(tmp_path, short))
    claimed = report()
    claimed["gaze_helps"]["probe_auroc"] = True  # a claim its own intervals do not make
    with pytest.raises(EvaluationError, match="disagrees with the two contrasts"):
        G.read_report(write(tmp_path, claimed))
    unknown = {**report(), "primary": ["accuracy"]}
    with pytest.raises(EvaluationError, match="known metrics"):
        G.read_report(write(tmp_path, unknown))


def test_the_experiments_own_report_reads(tmp_path):
    """Written by benchmarks/gaze_seeds.py's build_report on its tests' synthetic runs: a clear
    gain on both primary measures reads as one."""
    spec = importlib.util.spec_from_file_location("gaze_seeds_tests", TESTS / "benchmarks" / "test_gaze_seeds.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    from benchmark_script import load

    gs = load("gaze_seeds")
    scores = tests.scores_for(gs, {"clip": (0.2, 0.2), "eclip": (1.5, 0.6), "random": (0.2, 0.2)})
    path = write(tmp_path, gs.build_report(scores, list(range(6)), n_boot=30))
    assert G.answer(G.read_report(path)) == "better than both on both primary measures"


# --------------------------------------------------------------------------- the card
def test_the_card_entry_is_compact_and_names_only_the_file(tmp_path):
    effect = G.load_effect(write(tmp_path, report()))
    assert effect.source == "gaze-seeds.json" and str(tmp_path) not in json.dumps(effect.as_dict())
    assert effect.metrics["pointing"] == {"name": "pointing game", "primary": True,
                                          "verdict": "no detectable difference",
                                          "vs_clip": [0.01, -0.02, 0.04], "vs_random": [-0.005, -0.03, 0.02]}
    assert list(effect.metrics) == ["probe_auroc", "pointing", "zeroshot_auroc", "pointing_report", "miou"]
    card = ModelCard.from_dict(json.loads(json.dumps(ModelCard(gaze_effect=effect).as_dict())))
    assert card.gaze_effect == effect


def test_old_cards_load_without_a_gaze_effect():
    old = {"arch": "eclip-vit-micro", "steps": 10}
    assert ModelCard.from_dict(old).gaze_effect is None and ModelCard.from_dict(old).as_dict() == old
    for broken in ({"answer": "x"}, {"sentence": "", "n_seeds": 6}, "text", [1]):
        assert ModelCard.from_dict({**old, "gaze_effect": broken}).gaze_effect is None


def test_card_command_writes_the_answer_and_keeps_it(tmp_path, tiny_dataset, capsys):
    from eclip.evaluate.card import main

    ckpt = save_micro_checkpoint(tmp_path / "ck", seed=3)
    path = write(tmp_path, report(seeds=4))
    assert main(["--checkpoint", str(ckpt), "--train-data", str(tiny_dataset), "--gaze-seeds", str(path)]) == 0
    assert "does gaze help? no detectable difference" in capsys.readouterr().out
    saved = json.loads((ckpt / "card.json").read_text())["gaze_effect"]
    assert saved["source"] == "gaze-seeds.json" and saved["sentence"] == G.sentence(report(seeds=4))
    assert "(provisional: 4 of the 6 planned seeds)" in saved["sentence"]
    # rerun without the option: the answer stays; a broken report fails before the card is touched
    assert main(["--checkpoint", str(ckpt), "--train-data", str(tiny_dataset)]) == 0
    assert read_card(ckpt).gaze_effect == GazeEffect.from_dict(saved)
    before = (ckpt / "card.json").read_text()
    assert main(["--checkpoint", str(ckpt), "--gaze-seeds", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err and (ckpt / "card.json").read_text() == before
