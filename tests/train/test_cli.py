import json
import os

import pytest

from eclip.model import load_model
from eclip.train import runfolder as RF
from eclip.train.__main__ import main
from .helpers import cli_args


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--set" in out and "--resume" in out and "--out" in out


def test_twenty_steps_write_a_resumable_run(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(cli_args(tiny_dataset, run, "train.steps=20", "train.log_every=1")) == 0
    assert "finished: 20 steps" in capsys.readouterr().out
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    need = {"step", "epoch", "loss", "loss_clip", "loss_mse", "lr", "p_expert", "images_per_s", "eta_s"}
    assert need <= set(rows[0])
    assert rows[0]["priming"] and rows[0]["loss_mse"] > 0  # cold start primes the processor
    assert any(r["expert"] for r in rows) and not rows[-1]["priming"]
    assert rows[-1]["eta_s"] == 0 and rows[1]["lr"] > rows[-1]["lr"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["steps"] == 20 and cfg["data"]["root"] == str(tiny_dataset)
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert latest == {"step": 20, "dir": "step_000020"}
    assert {p.name for p in (run / "checkpoints" / "step_000020").iterdir()} == {
        "model.safetensors", "config.json", "card.json", "train_state.safetensors", "train_state.json"}
    assert RF.read_trainer_record(run).pid == os.getpid()  # main() trained in this process
    assert RF.folder_status(run) == RF.RunStatus.FINISHED
    assert [r.to_json() for r in RF.read_progress(run)] == rows  # the schema reads what was written
    lm = load_model(run / "final")
    assert lm.card["steps"] == 20 and lm.card["weights_dtype"] == "float16" and lm.card["mode"] == "eclip"
    assert len(lm.card["data_fingerprint"]) == 16 and lm.card["wall_time_s"] > 0


def test_clip_baseline_never_uses_the_processor(tiny_dataset, tmp_path):
    run = tmp_path / "clip"
    assert main(cli_args(tiny_dataset, run, "method.expert=false", "train.steps=6", "train.log_every=1")) == 0
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert not any(r["expert"] or r["priming"] for r in rows) and all(r["loss_mse"] == 0 for r in rows)
    card = load_model(run / "final").card
    assert card["mode"] == "clip" and card["gaze"] == "none (the CLIP baseline)"


def test_config_errors_exit_2_with_message(tiny_dataset, tmp_path, capsys):
    assert main(cli_args(tiny_dataset, tmp_path / "x", "train.stepz=3")) == 2
    assert "unknown key 'stepz'" in capsys.readouterr().err
    assert main(["--set", "train.steps=3"]) == 2
    assert "data.root is empty" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_ablation_switches_run(tiny_dataset, tmp_path):
    """naive (lam = 0, expert batch every step, no cold start) + mask processor + random
    heatmaps + no curriculum all run through the same loop."""
    run = tmp_path / "abl"
    assert main(cli_args(tiny_dataset, run, "train.steps=4", "train.log_every=1", "method.naive=true",
                         "model.processor.mode=mask", "method.random_heatmaps=true")) == 0
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert all(r["expert"] and r["lam"] == 0.0 and not r["priming"] for r in rows)
    run2 = tmp_path / "nocur"
    assert main(cli_args(tiny_dataset, run2, "train.steps=4", "train.log_every=1", "method.mixup=false",
                         "method.curriculum.enabled=false", "method.curriculum.constant_p=1.0")) == 0
    rows = [json.loads(line) for line in (run2 / "progress.jsonl").read_text().splitlines()]
    assert all(r["expert"] and r["p_expert"] == 1.0 and not r["priming"] for r in rows)


def test_the_gaze_prior_and_local_loss_parts_are_logged_unweighted(tiny_dataset, tmp_path):
    from eclip.model.factory import resolve_arch

    spec = resolve_arch("eclip-vit-micro")
    spec["vision_cfg"]["pool_type"] = "avg"  # both terms read average-pooled patch tokens
    arch = tmp_path / "vit-micro-gap.json"
    arch.write_text(json.dumps(spec))
    run = tmp_path / "parts"
    assert main(cli_args(tiny_dataset, run, f"model.arch={arch}", "method.gaze_prior_weight=1",
                         "method.gaze_prior_on=all", "method.label_local_weight=2", "train.steps=6",
                         "train.log_every=1")) == 0
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert all({"loss_prior", "loss_local"} <= set(r) for r in rows)
    late = [r for r in rows if not r["priming"]]  # priming replaces the loss during the cold start
    assert late and any(r["loss_local"] > 0 for r in late) and any(r["loss_prior"] > 0 for r in late)
    # an earlier run's rows keep their three parts: nothing new when both terms are off
    plain = tmp_path / "plain"
    assert main(cli_args(tiny_dataset, plain, "train.steps=2", "train.log_every=1")) == 0
    first = json.loads((plain / "progress.jsonl").read_text().splitlines()[0])
    assert "loss_prior" not in first and "loss_local" not in first
