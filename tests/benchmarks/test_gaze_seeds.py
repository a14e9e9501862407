"""The seeds experiment's statistics (benchmarks/gaze_seeds.py): paired contrasts, the t
interval over seeds, the two-level bootstrap and the claim rule, on synthetic runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def gs():
    from benchmark_script import load

    return load("gaze_seeds")


def fake_run(rng, signal: float, hit_rate: float, n: int = 160) -> dict:
    """One run's scores: labels for 3 findings (one too rare to count), probe and zero-shot
    scores that separate positives by ``signal``, pointing hits at ``hit_rate``."""
    y = (rng.random((n, 3)) < [0.3, 0.3, 0.02]).astype(float)
    clusters = np.array([f"r{i // 2}" for i in range(n)])  # two cases per report
    score = y * signal + rng.normal(size=y.shape)
    hits = (rng.random(n) < hit_rate).astype(float)
    return {"y": y, "clusters": clusters, "probe": score, "zeroshot": score,
            "loc_pointing": hits, "loc_miou": hits * 0.5, "loc_clusters": clusters,
            "report_pointing": hits, "report_clusters": clusters}


def scores_for(gs, effects: dict[str, tuple[float, float]], seeds: int = 6) -> dict:
    rng = np.random.default_rng(0)
    return {arm: [fake_run(rng, *effects[arm]) for _ in range(seeds)] for arm in gs.ARMS}


def test_rare_labels_stay_out_of_the_macro_auroc(gs):
    y = np.array([[1, 0]] * 25 + [[0, 1]] * 1 + [[0, 0]] * 30, float)
    assert gs.qualifying(y).tolist() == [True, False]


def test_a_clear_gain_over_both_controls_is_claimed(gs):
    report = gs.build_report(scores_for(gs, {"clip": (0.2, 0.2), "eclip": (1.5, 0.6), "random": (0.2, 0.2)}),
                             list(range(6)), n_boot=30)
    assert report["gaze_helps"]["probe_auroc"] and report["gaze_helps"]["pointing"]
    c = report["contrasts"]["eclip - clip"]["pointing"]
    assert c["t_ci"][0] > 0 and c["bootstrap_ci"][0] > 0 and len(c["per_seed"]) == 6
    assert "Gaze helps" in gs.markdown(report)


def test_beating_clip_but_not_random_heatmaps_is_no_claim(gs):
    report = gs.build_report(scores_for(gs, {"clip": (0.2, 0.2), "eclip": (1.5, 0.6), "random": (1.5, 0.6)}),
                             list(range(6)), n_boot=30)
    assert report["contrasts"]["eclip - clip"]["pointing"]["verdict"] == "better"
    assert report["contrasts"]["eclip - random"]["pointing"]["verdict"] == "no detectable difference"
    assert not any(report["gaze_helps"].values())
    assert "on no metric" in gs.markdown(report)


def test_t_interval_matches_the_formula(gs):
    lo, hi = gs.t_interval([0.1, 0.2, 0.3])
    # mean 0.2, sd 0.1, t(0.975, 2) = 4.303
    assert lo == pytest.approx(0.2 - 4.3027 * 0.1 / np.sqrt(3), abs=1e-3)
    assert hi == pytest.approx(0.2 + 4.3027 * 0.1 / np.sqrt(3), abs=1e-3)
    assert np.isnan(gs.t_interval([0.1])[0])


def test_verdict_needs_both_intervals(gs):
    assert gs.verdict((0.01, 0.2), (0.02, 0.3)) == "better"
    assert gs.verdict((-0.01, 0.2), (0.02, 0.3)) == "no detectable difference"
    assert gs.verdict((-0.3, -0.01), (-0.2, -0.02)) == "worse"


def save_fake_checkpoint(folder: Path, step: int = 250) -> None:
    """What eclip.train.checkpoints.latest_checkpoint looks for: a step folder with its state."""
    ck = folder / "checkpoints" / f"step_{step:08d}"
    ck.mkdir(parents=True)
    (ck / "train_state.json").write_text("{}")


def test_train_command_starts_then_resumes_from_a_checkpoint(gs, tmp_path):
    folder = tmp_path / "gs-s3-random"
    cmd = gs.train_command(folder, "random", 3, 500, 1)
    assert "method.random_heatmaps=true" in cmd and "train.seed=3" in cmd and "train.steps=500" in cmd
    folder.mkdir()
    (folder / "config.json").write_text("{}")  # started, stopped before its first checkpoint
    assert gs.train_command(folder, "random", 3, 500, 1)[-2:] == ["--out", str(folder)]
    save_fake_checkpoint(folder)
    assert gs.train_command(folder, "random", 3, 500, 1)[-2:] == ["--resume", str(folder)]


def stopped_before_its_first_checkpoint(folder: Path) -> None:
    """A run killed at step 140 (checkpoints every 250), then a queue's `--resume` that failed."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "progress.jsonl").write_text('{"step": 130}\n{"step": 140, "eta_s": 3000}\n')
    (folder / "exit.json").write_text(json.dumps(
        {"status": "failed", "message": "no checkpoint found", "step": None, "at": 0.0}))


def test_a_run_stopped_before_its_first_checkpoint_is_started_afresh(gs, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    folder = gs.run_dir(runs, 0, "eclip")
    stopped_before_its_first_checkpoint(folder)
    assert gs.run_state(runs, 0, "eclip", "paper", tmp_path) == "failed"
    assert gs.state_line(runs, 0, "eclip", "paper", "failed") == (
        "s0-eclip: failed: no checkpoint found (`train` runs it again)")
    ran = []
    monkeypatch.setattr(gs.subprocess, "run", lambda cmd, cwd, check: ran.append(cmd))
    a = argparse.Namespace(seed=None, seeds=[0], lane="1/3", steps=None, threads=1, pair="paper", runs=runs,
                           workers=1, scores=tmp_path)
    gs.train(a)
    assert ran[0][-2:] == ["--out", str(folder)]
    assert not any((folder / name).exists() for name in ("config.json", "progress.jsonl", "exit.json"))
    assert gs.run_state(runs, 0, "eclip", "paper", tmp_path) == "-"


def test_a_restarted_queue_waits_for_a_run_another_process_trains(gs, tmp_path, monkeypatch):
    from eclip.train import runfolder as RF

    runs = tmp_path / "runs"
    folder = gs.run_dir(runs, 0, "eclip")
    folder.mkdir(parents=True)
    polls = iter([4242, 4242, None, None])  # the other trainer ends on the third look

    def other_trainer_ends(run_dir):
        pid = next(polls)
        if pid is None:
            (folder / "final").mkdir(exist_ok=True)
            (folder / "final" / "model.safetensors").write_bytes(b"")
        return pid

    monkeypatch.setattr(RF, "live_trainer", other_trainer_ends)
    monkeypatch.setattr("time.sleep", lambda s: None)
    ran = []
    monkeypatch.setattr(gs.subprocess, "run", lambda cmd, cwd, check: ran.append(cmd))
    a = argparse.Namespace(seed=None, seeds=[0], lane="1/3", steps=None, threads=1, pair="paper", runs=runs,
                           workers=1, scores=tmp_path)
    gs.train(a)
    assert ran == []  # finished by the other process: not trained twice


def test_train_jobs_queue_every_unfinished_run_seed_by_seed(gs, tmp_path):
    done = gs.run_dir(tmp_path, 0, "clip") / "final"
    done.mkdir(parents=True)
    (done / "model.safetensors").write_bytes(b"")
    gs.run_dir(tmp_path, 0, "eclip").mkdir()  # started, not finished: resumed, so queued
    assert gs.train_jobs(tmp_path, [0, 1], "0/1", scores=tmp_path) == [(0, "eclip"), (0, "random"),
                                                       (1, "clip"), (1, "eclip"), (1, "random")]
    assert gs.train_jobs(tmp_path, [0, 1], "1/3", scores=tmp_path) == [(0, "eclip"), (1, "eclip")]


def test_train_runs_the_queue_on_workers_and_stops_on_a_failed_run(gs, tmp_path, monkeypatch):
    ran = []

    def fake_run(cmd, cwd, check):
        ran.append(cmd[cmd.index("--out") + 1])
        if "gs-s1-random" in ran[-1]:
            raise gs.subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(gs.subprocess, "run", fake_run)
    a = argparse.Namespace(
        seed=None, seeds=[0], lane="0/1", steps=None, threads=1, pair="paper", runs=tmp_path, workers=2,
        scores=tmp_path)
    gs.train(a)
    assert sorted(Path(r).name for r in ran) == ["gs-s0-clip", "gs-s0-eclip", "gs-s0-random"]
    a.seeds = [1]
    with pytest.raises(gs.subprocess.CalledProcessError):
        gs.train(a)


def test_a_second_pair_trains_its_own_configs_into_its_own_folders(gs, tmp_path):
    folder = gs.run_dir(tmp_path, 2, "random", "local-w3")
    assert folder.name == "gs-local-w3-s2-random" and gs.run_dir(tmp_path, 2, "random").name == "gs-s2-random"
    cmd = gs.train_command(folder, "random", 2, None, 1, "local-w3")
    assert "configs/demo20k-eclip-local-w3.toml" in cmd and "method.random_heatmaps=true" in cmd
    assert "configs/demo20k-clip-local-w3.toml" in gs.train_command(folder, "clip", 2, None, 1, "local-w3")
    for clip, eclip in gs.PAIRS.values():
        assert (gs.ROOT / clip).is_file() and (gs.ROOT / eclip).is_file()


def test_scores_are_kept_where_a_fresh_checkout_finds_them(gs, tmp_path):
    assert gs.scores_dir("rn-local") == gs.ROOT / "results" / "gaze-seeds-rn-local" / "scores"
    assert gs.scores_file(2, "random", root=tmp_path) == tmp_path / "s2-random.npz"
    rng = np.random.default_rng(1)
    for seed in (0, 1):
        for arm in gs.ARMS:
            np.savez_compressed(gs.scores_file(seed, arm, root=tmp_path), **fake_run(rng, 1.0, 0.5))
    gs.scores_file(1, "random", root=tmp_path).unlink()  # seed 1 not paired across all arms
    scores, seeds = gs.load_scores(tmp_path, [0, 1])
    assert seeds == [0] and all(len(v) == 1 for v in scores.values())


def test_seed_zero_of_the_shipped_pair_is_the_shipped_checkpoints(gs, tmp_path):
    assert gs.final_model(tmp_path, 0, "eclip", "rn-local") == gs.ROOT / "checkpoints" / "demo-eclip"
    assert gs.final_model(tmp_path, 0, "random", "rn-local") == tmp_path / "gs-rn-local-s0-random" / "final"
    assert gs.final_model(tmp_path, 0, "eclip", "paper") == tmp_path / "gs-s0-eclip" / "final"
    jobs = gs.train_jobs(tmp_path, [0], "0/1", "rn-local", tmp_path)
    assert (0, "random") in jobs and (0, "eclip") not in jobs


def test_the_prior_arm_trains_after_the_planned_arms(gs, tmp_path):
    assert "prior" not in gs.arms("paper")
    assert gs.arms("rn-local")["prior"][-2:] == ["--set", "method.expert=false"]
    jobs = gs.train_jobs(tmp_path, [1, 2], "0/1", "rn-local", tmp_path)
    assert jobs[:6] == [(1, "clip"), (1, "eclip"), (1, "random"), (2, "clip"), (2, "eclip"), (2, "random")]
    assert jobs[6:] == [(1, "prior"), (2, "prior")]


def test_the_prior_arm_is_claimed_against_clip_and_random_heatmaps(gs):
    effects = {"clip": (0.2, 0.2), "eclip": (0.2, 0.2), "random": (0.2, 0.2), "prior": (1.5, 0.6)}
    rng = np.random.default_rng(0)
    scores = {arm: [fake_run(rng, *effects[arm]) for _ in range(6)] for arm in effects}
    report = gs.build_report(scores, list(range(6)), n_boot=30, contrasts_of=gs.PRIOR_CONTRASTS)
    assert report["gaze_helps"]["pointing"]
    assert report["contrasts"]["eclip - prior"]["pointing"]["verdict"] == "worse"  # described, not claimed
    assert "the gaze prior alone" in gs.markdown(report)


def test_report_writes_both_files_says_where_the_plan_is_and_whether_it_is_provisional(gs, tmp_path, capsys):
    scores = tmp_path / "scores"
    scores.mkdir()
    rng = np.random.default_rng(2)
    for seed in (0, 1):
        for arm in gs.ARMS:
            np.savez_compressed(gs.scores_file(seed, arm, root=scores), **fake_run(rng, 1.0, 0.5))
    out = tmp_path / "result"
    gs.main(["report", "--pair", "rn-local", "--scores", str(scores), "--out", str(out), "--n-boot", "20"])
    text = out.with_suffix(".md").read_text()
    assert text.startswith("# Does gaze help on this corpus? The seeds experiment on the `rn-local` config pair")
    assert "[gaze-seeds-plan.md](gaze-seeds-plan.md)" in text
    assert "**Provisional: 2 of the 6 planned seeds.**" in text
    assert "The prior-only arm: 0 seed(s) scored beside the other three; not reported." in text
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["seeds"] == [0, 1] and "prior" not in result
    assert capsys.readouterr().out == text + "\n"  # printed as written
    assert "Provisional" not in gs.heading("rn-local", list(range(6)))


def test_status_tells_scored_finished_training_and_not_started_apart(gs, tmp_path, monkeypatch):
    from eclip.train import runfolder as RF

    runs, scores = tmp_path / "runs", tmp_path / "scores"
    scores.mkdir()
    np.savez_compressed(gs.scores_file(1, "clip", root=scores), x=np.zeros(1))
    (gs.run_dir(runs, 1, "eclip", "rn-local") / "final").mkdir(parents=True)
    (gs.run_dir(runs, 1, "eclip", "rn-local") / "final" / "model.safetensors").write_bytes(b"")
    (gs.run_dir(runs, 1, "random", "rn-local")).mkdir(parents=True)
    (gs.run_dir(runs, 1, "random", "rn-local") / "progress.jsonl").write_text('{"step": 10}\n{"step": 20}\n')
    states = [gs.run_state(runs, 1, arm, "rn-local", scores) for arm in ("clip", "eclip", "random", "prior")]
    assert states == ["scored", "finished", "stopped 20", "-"]  # no live trainer: stopped
    monkeypatch.setattr(RF, "live_trainer", lambda run_dir: 4242)
    assert gs.run_state(runs, 1, "random", "rn-local", scores) == "step 20"
    assert gs.time_left(runs, 1, "random", "rn-local") == ""  # no estimate logged: none shown
    (gs.run_dir(runs, 1, "random", "rn-local") / "progress.jsonl").write_text('{"step": 20, "eta_s": 2391.7}\n')
    assert gs.time_left(runs, 1, "random", "rn-local") == "~40 min"
