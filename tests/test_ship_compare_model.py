"""scripts/ship_compare_model.py refuses, before any work, what would ship a wrong third demo
checkpoint: a run that has not finished, a model not like for like with the baseline, one of
the pair's names, an existing folder without --replace; --print-only writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ship():
    from benchmark_script import load

    return load("ship_compare_model", "scripts")


CONFIG = {"model": {"arch": "eclip-rn-minilm-gap", "lock_text": True}, "data": {"root": "data/demo20k"},
          "method": {"expert": False, "gaze_prior_weight": 5.0, "gaze_prior_on": "all", "label_local_weight": 1.0},
          "train": {"steps": 2000, "seed": 0, "threads": 2}}
BASELINE_METHOD = {"expert": False, "gaze_prior_weight": 0.0, "gaze_prior_on": "expert", "label_local_weight": 1.0}
CARD = {"arch": "eclip-rn-minilm-gap", "steps": 2000, "data_fingerprint": "f", "image_size": 128}


def _folder(folder: Path, config: dict, card: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(b"w")
    return folder


def _run(path: Path, *, config: dict | None = None, card: dict | None = None,
         status: str | None = "finished") -> Path:
    final = _folder(path / "final", config or CONFIG, {**CARD, **(card or {}), "expert": False})
    if status:
        (path / "exit.json").write_text(json.dumps({"status": status, "message": "killed at step 900"}))
    return final


def _baseline(path: Path) -> Path:
    config = {**CONFIG, "method": BASELINE_METHOD, "train": {**CONFIG["train"], "threads": 1}}
    folder = _folder(path, config, {**CARD, "expert": False, "headline": {"metrics": "eval/fresh-test"}})
    (folder / "train_reference.safetensors").write_bytes(b"r")
    return folder


def _args(ship, tmp_path: Path, run: Path, *extra: str):
    return ship.parse_args([str(run), "--name", "demo-prior", "--out", str(tmp_path / "out"),
                            "--baseline", str(tmp_path / "out" / "demo-clip"), "--selected-on", "validate", *extra])


def test_a_run_without_final_or_unfinished_is_refused(ship, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    _baseline(tmp_path / "out" / "demo-clip")
    (tmp_path / "started").mkdir()
    with pytest.raises(ship.Refused, match="has no final/ folder: its training has not finished"):
        ship.ship(_args(ship, tmp_path, tmp_path / "started"))
    _run(tmp_path / "stopped", status="interrupted")
    with pytest.raises(ship.Refused, match="did not finish: killed at step 900"):
        ship.ship(_args(ship, tmp_path, tmp_path / "stopped"))


def test_a_like_for_like_model_differs_only_in_the_expert_path_and_threads(ship, tmp_path):
    final = _run(tmp_path / "prior")
    assert ship.baseline_problems(final, _baseline(tmp_path / "demo-clip")) == []


def test_a_recipe_that_differs_beyond_the_expert_path_is_refused(ship, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    _baseline(tmp_path / "out" / "demo-clip")
    other = {**CONFIG, "method": {**CONFIG["method"], "label_local_weight": 0.0},
             "train": {**CONFIG["train"], "steps": 4000, "seed": 1}}
    _run(tmp_path / "other", config=other, card={"steps": 4000, "image_size": 224})
    with pytest.raises(ship.Refused, match="not like for like with the baseline") as exc:
        ship.ship(_args(ship, tmp_path, tmp_path / "other"))
    text = str(exc.value)
    assert "steps differs: 4000 vs the baseline's 2000" in text
    assert "image_size differs: 224 vs the baseline's 128" in text
    assert "config [method] differs beyond the expert path: ['label_local_weight']" in text
    assert "config [train] differs beyond the expert path: ['seed', 'steps']" in text
    assert not (tmp_path / "out" / "demo-prior").exists()


def test_a_trained_text_trunk_cannot_ship_slim(ship, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    unlocked = {**CONFIG, "model": {"arch": "eclip-rn-minilm-gap"}}
    _run(tmp_path / "unlocked", config=unlocked)
    baseline = tmp_path / "out" / "demo-clip"
    _baseline(baseline)
    cfg = json.loads((baseline / "config.json").read_text())
    cfg["model"] = unlocked["model"]
    (baseline / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ship.Refused, match="no model.lock_text = true"):
        ship.ship(_args(ship, tmp_path, tmp_path / "unlocked"))


def test_the_pairs_names_and_an_existing_folder_are_refused(ship, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    baseline = _baseline(tmp_path / "out" / "demo-clip")
    _run(tmp_path / "prior")
    for name in ("demo-eclip", "demo-clip"):
        args = _args(ship, tmp_path, tmp_path / "prior")
        args.name = name
        with pytest.raises(ship.Refused, match=f"--name {name} is one of the shipped pair's folders"):
            ship.ship(args)
    existing = tmp_path / "out" / "demo-prior"
    existing.mkdir()
    (existing / "model.safetensors").write_bytes(b"old")
    with pytest.raises(ship.Refused, match="exists and is not empty; pass --replace"):
        ship.ship(_args(ship, tmp_path, tmp_path / "prior"))
    assert (existing / "model.safetensors").read_bytes() == b"old"
    assert ship.check_target("demo-prior", tmp_path / "out", baseline, replace=True) == existing
    (existing / "model.safetensors").unlink()  # an empty folder is no checkpoint: no --replace needed
    assert ship.check_target("demo-prior", tmp_path / "out", baseline, replace=False) == existing
    with pytest.raises(ship.Refused, match="give a folder name"):
        ship.check_target("a/b", tmp_path / "out", baseline, replace=False)


def test_print_only_prints_the_slim_step_and_both_commands_and_writes_nothing(ship, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    baseline = _baseline(tmp_path / "out" / "demo-clip")
    final = _run(tmp_path / "prior")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    card_before = (baseline / "card.json").read_text()
    assert ship.main([str(tmp_path / "prior"), "--name", "demo-prior", "--out", str(tmp_path / "out"),
                      "--baseline", str(baseline), "--selected-on", "validate", "--n-boot", "10",
                      "--gaze-seeds", "results/gaze-seeds.json", "--print-only"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("+ ")]
    assert len(lines) == 3
    assert "-m eclip.model.slim " + str(final) in lines[0] and lines[0].endswith("/demo-prior")
    assert "-m eclip.evaluate.experiment" in lines[1]
    assert "--group clip " in lines[1] and "/baseline/demo-clip" in lines[1]
    assert "--group prior " in lines[1] and "--update-card" in lines[1] and "--n-boot 10" in lines[1]
    assert "-m eclip.evaluate.card --checkpoint " in lines[2] and "--gaze-seeds results/gaze-seeds.json" in lines[2]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (baseline / "card.json").read_text() == card_before
    stage = Path(out.split("staging in ", 1)[1].split(" ", 1)[0])
    assert not stage.exists()  # the (empty) staging folder is removed too


def test_only_a_model_that_clears_the_gate_is_installed_and_the_baseline_is_untouched(ship, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    baseline = _baseline(tmp_path / "out" / "demo-clip")
    _run(tmp_path / "prior")
    card_before = (baseline / "card.json").read_text()
    monkeypatch.setattr(ship, "stage_slim", lambda src, dst: ship.stage_copy(src, dst))
    stages = []

    def mkdtemp(prefix):
        stages.append(tmp_path / f"stage{len(stages)}")
        stages[-1].mkdir()
        return str(stages[-1])

    monkeypatch.setattr(ship.tempfile, "mkdtemp", mkdtemp)
    aurocs = {"pass": [0.6, 0.55, 0.65], "fail": [0.55, 0.49, 0.6]}

    def fake_run(cmd, print_only):  # experiment --update-card writes every group's card: the staged ones
        assert not print_only
        if "eclip.evaluate.experiment" in cmd:
            head = {"values": {"zs/findings/balanced_accuracy": [0.46, 0.35, 0.56], "zs/binary/macro_auroc": auroc},
                    "baselines": {"zs/findings/balanced_accuracy": [0.125, 0.124], "zs/binary/macro_auroc": [0.5, 0.5]}}
            for folder in (Path(cmd[cmd.index("--group") + 2]), Path(cmd[cmd.index("prior") + 1])):
                card = json.loads((folder / "card.json").read_text())
                card.update(headline={"metrics": "eval/fresh-test"}, metrics={"eval/fresh-test": head})
                (folder / "card.json").write_text(json.dumps(card))

    monkeypatch.setattr(ship, "run", fake_run)
    target = tmp_path / "out" / "demo-prior"
    auroc = aurocs["fail"]
    with pytest.raises(ship.Refused, match="does not clear metric 3; nothing was shipped"):
        ship.ship(_args(ship, tmp_path, tmp_path / "prior"))
    assert not target.exists() and (stages[0] / "demo-prior" / "card.json").is_file()  # kept staged
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"old")
    auroc = aurocs["pass"]
    assert ship.ship(_args(ship, tmp_path, tmp_path / "prior", "--replace")) == 0
    assert (target / "model.safetensors").read_bytes() == b"w"
    assert json.loads((target / "card.json").read_text())["headline"] == {"metrics": "eval/fresh-test"}
    assert (baseline / "card.json").read_text() == card_before
    assert (stages[1] / "replaced-demo-prior" / "model.safetensors").read_bytes() == b"old"


def test_results_name_the_shipped_folders_not_the_staging_ones(ship, tmp_path):
    results = tmp_path / "r.json"
    results.write_text('{"group": "/tmp/ship-x/demo-prior", "data": "' + str(ship.REPO) + '/data/demo"}')
    results.with_suffix(".md").write_text("| /tmp/ship-x/baseline/demo-clip |")
    ship.name_shipped_paths(results, {"/tmp/ship-x/demo-prior": "checkpoints/demo-prior",
                                      "/tmp/ship-x/baseline/demo-clip": "checkpoints/demo-clip",
                                      f"{ship.REPO}/": ""})
    assert json.loads(results.read_text()) == {"group": "checkpoints/demo-prior", "data": "data/demo"}
    assert results.with_suffix(".md").read_text() == "| checkpoints/demo-clip |"
