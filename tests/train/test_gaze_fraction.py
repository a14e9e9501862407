"""The gaze-fraction knob (data.gaze_fraction): which training cases keep their gaze."""

from __future__ import annotations

import pytest

from eclip.config import DataConfig, load_config
from eclip.errors import ConfigError
from eclip.train.dataset import TrainDataset, gaze_subset


def test_subset_sizes_nested_and_in_row_order():
    rows = list(range(0, 400, 2))  # 200 gaze rows
    subsets = {f: gaze_subset(rows, f, seed=0) for f in (0.1, 0.25, 0.5, 1.0)}
    assert {f: len(s) for f, s in subsets.items()} == {0.1: 20, 0.25: 50, 0.5: 100, 1.0: 200}
    assert set(subsets[0.1]) < set(subsets[0.25]) < set(subsets[0.5]) < set(subsets[1.0])
    assert all(s == sorted(s) and set(s) <= set(rows) for s in subsets.values())


def test_subset_is_seeded_not_the_first_rows():
    rows = list(range(100))
    assert gaze_subset(rows, 0.25, seed=0) == gaze_subset(rows, 0.25, seed=0)
    assert gaze_subset(rows, 0.25, seed=0) != gaze_subset(rows, 0.25, seed=1)
    assert gaze_subset(rows, 0.25, seed=0) != rows[:25]
    assert gaze_subset(rows, 0.0, seed=0) == []


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_fraction_out_of_range_is_refused(bad):
    with pytest.raises(ConfigError, match="gaze_fraction"):
        gaze_subset([1, 2, 3], bad, seed=0)


def test_config_knob_reaches_the_expert_stream(tiny_dataset):
    cfg = load_config(None, ["data.gaze_fraction=0.5", "data.gaze_seed=3"]).data
    assert (cfg.gaze_fraction, cfg.gaze_seed) == (0.5, 3)
    full = TrainDataset(tiny_dataset, DataConfig(), image_size=32)
    half = TrainDataset(tiny_dataset, cfg, image_size=32)
    assert len(full.expert_rows) >= 4
    assert half.expert_rows == gaze_subset(full.expert_rows, 0.5, seed=3)
    assert len(half.expert_rows) == round(len(full.expert_rows) / 2)
    assert len(half) == len(full)  # the main (CLIP) stream keeps every training case


def _script():
    from benchmark_script import load

    return load("gaze_fraction")


def test_training_commands_start_then_resume(tmp_path):
    gf = _script()
    arms = gf.arms(seed=0)
    assert list(arms) == ["clip", "eclip-10", "eclip-25", "eclip-50", "eclip-100"]
    assert "configs/scratch-clip.toml" in arms["clip"] and "data.gaze_fraction=0.1" in arms["eclip-10"]
    folder = tmp_path / "gf-s0-eclip-10"
    start = gf.train_command(folder, arms["eclip-10"], "data/demo-gaze100", 0)
    assert start[-2:] == ["--out", str(folder)] and "train.seed=0" in start
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert gf.train_command(folder, arms["eclip-10"], "data/demo-gaze100", 0)[-2:] == ["--resume", str(folder)]


def test_minilm_tower_trains_the_same_arms_with_the_shipped_configs_at_600_steps(tmp_path):
    gf = _script()
    arms = gf.arms(seed=0, tower="minilm")
    assert list(arms) == list(gf.arms(seed=0))
    assert "configs/demo-clip.toml" in arms["clip"] and "configs/demo-eclip.toml" in arms["eclip-25"]
    assert all("train.steps=600" in a for a in arms.values())
    assert arms["eclip-25"][-1] == "data.gaze_fraction=0.25"
    assert gf.run_dir(tmp_path, 1, "clip", "minilm").name == "gf-minilm-s1-clip"
    assert gf.run_dir(tmp_path, 1, "clip").name == "gf-s1-clip"


def test_each_arm_is_paired_with_clip_on_the_seeds_both_finished():
    gf = _script()
    done = {"clip": {0: "c0", 1: "c1", 2: "c2"}, "eclip-25": {0: "a", 1: "b", 2: "c"},
            "eclip-100": {0: "d", 2: "e"}, "eclip-10": {0: "f"}, "eclip-50": {3: "g"}}
    assert gf.seed_sets(done) == {(0, 1, 2): ["eclip-25"], (0, 2): ["eclip-100"], (0,): ["eclip-10"]}
    assert gf.seed_sets({"eclip-25": {0: "a"}}) == {}


@pytest.mark.slow  # two evaluations and Grad-CAM of three models: ~1 min alone, 5 under load
def test_evaluate_and_plot_the_finished_arms(tiny_dataset, tmp_path):
    """Real checkpoints (untrained micro models) stand in for the runs: every finished arm is
    scored against CLIP on the same test images, unfinished arms are listed, the PNG is drawn."""
    import json
    import shutil

    import numpy as np
    from evaluate.conftest import save_micro_checkpoint

    gf = _script()
    runs = tmp_path / "runs"
    for arm, seed, init in (("clip", 0, 0), ("clip", 1, 3), ("eclip-25", 0, 1), ("eclip-25", 1, 4),
                            ("eclip-100", 0, 2)):
        save_micro_checkpoint(runs / f"gf-s{seed}-{arm}" / "final", seed=init)
    shutil.copytree(runs / "gf-s0-clip", runs / "gf-s0-eclip-50")  # started, not finished
    shutil.rmtree(runs / "gf-s0-eclip-50" / "final")
    out = tmp_path / "res" / "gf.json"
    args = ["--runs", str(runs), "--eval-data", str(tiny_dataset), "--out", str(out), "--n-boot", "50"]
    gf.main(["evaluate", "--seeds", "0", "1", *args])
    gf.main(["plot", *args])
    result = json.loads(out.read_text())
    assert result["not_finished"] == ["eclip-10", "eclip-50"]
    points = gf.curve_points(result)
    assert [(p["fraction"], p["seeds"]) for p in points] == [(0.25, [0, 1]), (1.0, [0])]
    two, one = result["experiments"]
    assert [len(g["checkpoints"]) for g in two["groups"].values()] == [2, 2]
    assert [len(g["checkpoints"]) for g in one["groups"].values()] == [1, 1]
    for exp, arm in ((two, "eclip-25"), (one, "eclip-100")):
        cc = exp["gradcam"]
        assert cc["diff"][arm]["value"] == pytest.approx(
            cc["groups"][arm]["value"] - cc["groups"]["clip"]["value"], abs=1e-9)
    # CLIP over seeds 0 and 1 is not CLIP at seed 0: each arm meets its own seeds' baseline
    assert two["gradcam"]["groups"]["clip"]["value"] != pytest.approx(one["gradcam"]["groups"]["clip"]["value"])
    per_seed = points[0]["per_seed"]["gradcam/cc"]  # each seed against the same seed's CLIP
    assert len(per_seed) == 2 and np.mean(per_seed) == pytest.approx(two["gradcam"]["diff"]["eclip-25"]["value"])
    table = out.with_suffix(".md").read_text()
    assert "| 25% | 2 |" in table and "| 100% | 1 |" in table and "(by seed " in table
    assert "Not finished (left out): eclip-10, eclip-50" in table
    assert out.with_suffix(".png").stat().st_size > 10_000
