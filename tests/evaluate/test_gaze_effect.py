"""Does gaze help? The seeds experiment's report (benchmarks/gaze_seeds.py) read, checked and
said in words by the plan's claim rule (eclip.evaluate.gaze_effect), and carried on the model
card (``eclip evaluate card --gaze-seeds``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from gaze_report import prior_section, report

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


# --------------------------------------------------------------------------- gaze as a prior only
# (prior - clip, prior - random, eclip - prior): the prior ahead of both controls, eCLIP level with it
BETTER = ((0.050, 0.020, 0.080), (0.040, 0.010, 0.070), (0.001, -0.020, 0.022))


def test_the_prior_sections_answer_names_its_model_and_only_describes_what_eclip_adds():
    rep = report(prior=prior_section())
    assert G.sentence(rep, section=G.PRIOR) == (
        "Across 6 paired training seeds on the simulated corpus, the model trained with gaze only as a prior "
        "on where it looks (no expert images) was compared with CLIP and with eCLIP's training on random "
        "heatmaps in place of gaze (expert images and prior alike): no detectable difference at this number "
        "of seeds on either primary measure (linear-probe AUROC at 10 % labels: +0.003 [−0.012, +0.018] vs "
        "CLIP, +0.001 [−0.014, +0.016] vs random heatmaps; pointing game: +0.020 [−0.010, +0.050] vs CLIP, "
        "+0.008 [−0.022, +0.038] vs random heatmaps). Each difference is the prior-only model minus the other "
        "model, with its 95 % t-interval over seeds. What the expert images add beyond the prior (eCLIP minus "
        "the prior-only model, described only, no claim): linear-probe AUROC at 10 % labels +0.001 [−0.009, "
        "+0.011]; pointing game −0.010 [−0.040, +0.020].")
    assert G.answer(rep, section=G.PRIOR) == (
        "no detectable difference at this number of seeds on either primary measure")
    # the eCLIP answer of the same report: the three-arm one, word for word, then what its expert
    # images add beyond the prior, described; the verdicts and card entries are the three-arm ones
    assert G.sentence(rep) == G.sentence(report()) + (
        " What the expert images add beyond the prior (eCLIP minus the prior-only model, described only, "
        "no claim): linear-probe AUROC at 10 % labels +0.001 [−0.009, +0.011]; pointing game −0.010 [−0.040, "
        "+0.020].")
    assert G.answer(rep) == G.answer(report()) and G.effect(rep).metrics == G.effect(report()).metrics
    # a prior arm on other (fewer) seeds than the three arms says nothing on the eCLIP card
    assert G.sentence(report(prior=prior_section(seeds=3))) == G.sentence(report())


def test_a_benefit_of_the_prior_needs_both_its_contrasts_and_eclip_minus_prior_claims_nothing():
    rep = report(prior=prior_section(pointing=BETTER))
    assert G.answer(rep, section=G.PRIOR) == (
        "better than both on the pointing game; no detectable difference at this number of seeds on "
        "linear-probe AUROC at 10 % labels")
    assert ("better than both on the pointing game (pointing game: +0.050 [+0.020, +0.080] vs CLIP, "
            "+0.040 [+0.010, +0.070] vs random heatmaps)") in G.sentence(rep, section=G.PRIOR)
    assert G.answer(rep) == "no detectable difference at this number of seeds on either primary measure"
    only_clip = (BETTER[0], ((0.001, -0.020, 0.022)), BETTER[2])
    assert G.verdict(report(prior=prior_section(pointing=only_clip)), "pointing", G.PRIOR) == "no detectable difference"
    # eCLIP well above the prior: said with its numbers, but not as "better" (the plan claims nothing)
    eclip_ahead = ((0.0, -0.01, 0.01), (0.0, -0.01, 0.01), (0.060, 0.030, 0.090))
    text = G.sentence(report(prior=prior_section(pointing=eclip_ahead)), section=G.PRIOR)
    assert text.endswith("pointing game +0.060 [+0.030, +0.090].") and "better" not in text
    worse = ((-0.050, -0.080, -0.020), (-0.040, -0.070, -0.010), (0.0, -0.01, 0.01))
    assert G.answer(report(prior=prior_section(probe=worse, pointing=worse)), G.PRIOR) == (
        "worse than both on both primary measures")


def test_the_prior_sections_seeds_are_its_own():
    effect = G.effect(report(prior=prior_section(seeds=3)), section=G.PRIOR)
    assert effect.n_seeds == 3 and effect.provisional
    assert effect.sentence.startswith("Across 3 paired training seeds (provisional: 3 of the 6 planned seeds) on ")


def test_the_prior_card_entry_carries_what_eclip_adds():
    effect = G.effect(report(prior=prior_section(pointing=BETTER)), source="x/gaze-seeds.json", section=G.PRIOR)
    assert effect.metrics["pointing"] == {"name": "pointing game", "primary": True, "verdict": "better",
                                          "vs_clip": [0.05, 0.02, 0.08], "vs_random": [0.04, 0.01, 0.07],
                                          "eclip_vs_prior": [0.001, -0.02, 0.022]}
    assert effect.source == "gaze-seeds.json" and effect.answer.startswith("better than both on the pointing game")
    assert "eclip_vs_prior" not in G.effect(report(prior=prior_section())).metrics["pointing"]


def test_a_prior_answer_from_a_report_without_the_prior_arm_says_why_and_what_to_run(tmp_path):
    path = write(tmp_path, report())
    with pytest.raises(EvaluationError) as err:
        G.load_effect(path, section=G.PRIOR)
    said = str(err.value)
    assert said.startswith("gaze-seeds.json has no 'prior' section: fewer than 2 seeds of the prior arm were "
                           "scored beside the other three arms")
    assert "python benchmarks/gaze_seeds.py report --pair rn-local" in said
    assert G.load_effect(path).answer == G.answer(report())  # the eCLIP answer needs no prior arm
    assert G.section_for("gaze-prior") is G.PRIOR
    assert G.section_for("eclip") is G.ECLIP and G.section_for("clip") is G.ECLIP


@pytest.mark.parametrize("breaks, says", [
    (lambda p: p["contrasts"].pop("eclip - prior"), "its 'prior' section: no 'eclip - prior' contrast for probe_auroc"),
    (lambda p: p["contrasts"]["prior - random"]["pointing"].update(per_seed=[0.1]), "one difference per seed"),
    (lambda p: p["gaze_helps"].update(probe_auroc=True), "its 'prior' section: 'gaze_helps' for probe_auroc disagrees"),
    (lambda p: p["contrasts"]["eclip - prior"]["miou"].update(verdict="maybe"), "'eclip - prior' miou: 'verdict'"),
    (lambda p: p.pop("seeds"), "its 'prior' section: no seeds"),
])
def test_a_broken_prior_section_is_refused(tmp_path, breaks, says):
    prior = prior_section()
    breaks(prior)
    with pytest.raises(EvaluationError, match=says):
        G.read_report(write(tmp_path, report(prior=prior)))


def test_a_prior_section_with_the_eclip_contrasts_is_refused(tmp_path):
    """Checked by its own contrast names: a copy of the three-arm report is not a prior answer."""
    with pytest.raises(EvaluationError, match="its 'prior' section: no 'prior - clip' contrast"):
        G.read_report(write(tmp_path, report(prior=report())))
    with pytest.raises(EvaluationError, match="its 'prior' section: it holds no JSON object"):
        G.read_report(write(tmp_path, {**report(), "prior": [1]}))


def prior_checkpoint(out: Path, seed: int) -> Path:
    """A micro checkpoint trained, by its config, with gaze only as a prior (no expert images):
    training_mode "gaze-prior". The prior needs average-pooled patch tokens (check_tower); the
    ViT's pooling holds no weight, so the saved weights fit either way."""
    ckpt = save_micro_checkpoint(out, seed=seed)
    config = json.loads((ckpt / "config.json").read_text())
    config["method"].update(expert=False, gaze_prior_weight=5.0)
    config["arch_cfg"]["vision_cfg"]["pool_type"] = "avg"
    (ckpt / "config.json").write_text(json.dumps(config))
    return ckpt


def test_card_command_gives_a_prior_model_the_prior_answer(tmp_path, tiny_dataset, capsys):
    from eclip.evaluate.card import main

    eclip, prior = save_micro_checkpoint(tmp_path / "eclip", seed=3), prior_checkpoint(tmp_path / "prior", seed=4)
    rep = report(prior=prior_section(pointing=BETTER))
    path = write(tmp_path, rep)
    args = ["--train-data", str(tiny_dataset), "--gaze-seeds", str(path)]
    assert main(["--checkpoint", str(eclip), str(prior), *args]) == 0
    assert "does gaze help? better than both on the pointing game" in capsys.readouterr().out
    assert read_card(eclip).gaze_effect == G.effect(rep, source="gaze-seeds.json")
    assert read_card(prior).gaze_effect == G.effect(rep, source="gaze-seeds.json", section=G.PRIOR)
    assert read_card(prior).gaze_effect.sentence.startswith(
        "Across 6 paired training seeds on the simulated corpus, the model trained with gaze only as a prior")
    assert read_card(prior).extra["mode"] == "gaze-prior"
    # a report without the prior arm: refused before either card is touched, the eCLIP one listed first
    before = [(c / "card.json").read_text() for c in (eclip, prior)]
    three_arms = write(tmp_path, report(), "3arm.json")
    assert main(["--checkpoint", str(eclip), str(prior), "--gaze-seeds", str(three_arms)]) == 2
    err = capsys.readouterr().err
    assert f"(for {prior}, a gaze-prior model) has no 'prior' section: fewer than 2 seeds" in err
    assert [(c / "card.json").read_text() for c in (eclip, prior)] == before
