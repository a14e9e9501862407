"""scripts/ship_demo_pair.py refuses, before any work, what would ship a wrong pair: a run that
has not finished, a pair that is not like for like, a real-film check of another model type;
and its gate reads the staged cards' fresh headline against both baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ship():
    from benchmark_script import load

    return load("ship_demo_pair", "scripts")


CONFIG = {"model": {"arch": "eclip-rn-minilm-gap"}, "data": {"root": "data/demo20k"},
          "method": {"expert": True, "gaze_prior_weight": 5.0, "gaze_prior_on": "all", "label_local_weight": 1.0},
          "train": {"steps": 2000, "seed": 0, "threads": 2}}
CARD = {"arch": "eclip-rn-minilm-gap", "steps": 2000, "data_fingerprint": "f", "image_size": 128}


def _run(path: Path, *, expert: bool = True, config: dict | None = None, card: dict | None = None,
         status: str | None = "finished") -> Path:
    final = path / "final"
    final.mkdir(parents=True)
    cfg = json.loads(json.dumps(config or CONFIG))
    if not expert:
        cfg["method"] = {k: v for k, v in cfg["method"].items() if k not in ("gaze_prior_weight", "gaze_prior_on")}
        cfg["method"]["expert"] = False
    (final / "config.json").write_text(json.dumps(cfg))
    (final / "card.json").write_text(json.dumps({**CARD, **(card or {}), "expert": expert}))
    (final / "model.safetensors").write_bytes(b"w")
    if status:
        (path / "exit.json").write_text(json.dumps({"status": status, "message": "killed at step 900"}))
    return final


def test_a_run_without_final_or_unfinished_is_refused(ship, tmp_path):
    (tmp_path / "started").mkdir()
    with pytest.raises(ship.Refused, match="has no final/ folder: its training has not finished"):
        ship.final_of(tmp_path / "started")
    _run(tmp_path / "stopped", status="interrupted")
    with pytest.raises(ship.Refused, match="did not finish: killed at step 900"):
        ship.final_of(tmp_path / "stopped")
    final = _run(tmp_path / "thin")
    (final / "card.json").unlink()
    with pytest.raises(ship.Refused, match="lacks card.json"):
        ship.final_of(tmp_path / "thin")
    final = _run(tmp_path / "done")
    assert ship.final_of(tmp_path / "done") == final


def test_a_like_for_like_pair_differs_only_in_the_expert_path_and_threads(ship, tmp_path):
    eclip = _run(tmp_path / "e")
    clip = _run(tmp_path / "c", expert=False, config={**CONFIG, "train": {**CONFIG["train"], "threads": 1}})
    assert ship.pair_problems(eclip, clip) == []


def test_an_unlike_pair_is_refused_with_every_reason(ship, tmp_path):
    eclip = _run(tmp_path / "e")
    other = {**CONFIG, "train": {**CONFIG["train"], "steps": 4000, "seed": 1}}
    clip = _run(tmp_path / "c", expert=False, config=other, card={"arch": "eclip-vit-tiny-minilm"})
    problems = ship.pair_problems(eclip, clip)
    assert any(p.startswith("arch differs") for p in problems)
    assert "config [train] differs beyond the expert path: ['seed', 'steps']" in problems
    swapped = ship.pair_problems(clip, eclip)
    assert any("the eCLIP arm must have expert=true" in p for p in swapped)


def test_a_clip_arm_with_a_gaze_prior_is_not_a_clip_arm(ship, tmp_path):
    eclip = _run(tmp_path / "e")
    clip = _run(tmp_path / "c", expert=False)
    cfg = json.loads((clip / "config.json").read_text())
    cfg["method"]["gaze_prior_weight"] = 2.0
    (clip / "config.json").write_text(json.dumps(cfg))
    assert "the CLIP arm trains with a gaze prior (method.gaze_prior_weight != 0)" in ship.pair_problems(eclip, clip)


def test_a_real_film_check_of_another_model_type_is_refused(ship, tmp_path):
    check = tmp_path / "check.json"
    check.write_text(json.dumps({"model": "the shipped demo model type: eclip-vit-tiny-minilm, 2,100 steps"}))
    with pytest.raises(ship.Refused, match="not on eclip-rn-minilm-gap: a card would claim a measurement"):
        ship.check_real_film(str(check), "eclip-rn-minilm-gap")
    ship.check_real_film(str(check), "eclip-vit-tiny-minilm")  # its own model type: accepted


def test_the_gate_passes_only_intervals_above_both_baselines(ship, tmp_path):
    folder = tmp_path / "demo-eclip"
    folder.mkdir()
    head = {"values": {"zs/findings/balanced_accuracy": [0.46, 0.35, 0.56], "zs/binary/macro_auroc": [0.55, 0.49, 0.6]},
            "baselines": {"zs/findings/balanced_accuracy": [0.125, 0.124], "zs/binary/macro_auroc": [0.5, 0.5]}}
    (folder / "card.json").write_text(json.dumps({"headline": {"metrics": "eval/fresh-test"},
                                                  "metrics": {"eval/fresh-test": head}}))
    lines = ship.gate(folder)
    assert lines[0].startswith("ok   demo-eclip zs/findings/balanced_accuracy 0.460 [0.350, 0.560]")
    assert lines[1].startswith("FAIL demo-eclip zs/binary/macro_auroc")  # its interval reaches 0.49 < 0.5
    (folder / "card.json").write_text(json.dumps({"headline": {}, "metrics": {}}))
    assert all(line.startswith("FAIL") and "not on the card's headline" in line for line in ship.gate(folder))
