"""`python -m eclip.index` and `python -m eclip.evaluate` end to end on small datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eclip.index as ix
from eclip.evaluate.__main__ import main as evaluate_main
from eclip.index import main as index_main
from floats import assert_close

REPO = Path(__file__).resolve().parents[2]


def _run_module(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


@pytest.mark.parametrize(("module", "mentions"), [("eclip.index", "{build,info}"), ("eclip.evaluate", "--data")])
def test_help(module, mentions):
    res = _run_module(module, "--help")
    assert res.returncode == 0, res.stderr  # on its own: a failing command fails here
    assert res.stdout.startswith("usage:") and mentions in res.stdout


def test_index_build_and_info_cli(micro_checkpoint, tiny_dataset, tmp_path, capsys):
    args = ["--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset), "--cache", str(tmp_path)]
    assert index_main(["build", *args, "--no-umap", "--batch-size", "5"]) == 0
    assert "24 images, 3 unique reports" in capsys.readouterr().out
    assert index_main(["info", *args]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_images"] == 24 and info["dim"] == 64 and info["umap"] is False
    assert index_main(["info", "--cache", str(tmp_path)]) == 0
    assert "images=24" in capsys.readouterr().out


def test_index_cli_reports_bad_checkpoint(tiny_dataset, tmp_path, capsys):
    rc = index_main(["build", "--checkpoint", str(tmp_path), "--data", str(tiny_dataset),
                     "--cache", str(tmp_path / "c")])
    assert rc == 2 and "model.safetensors is missing" in capsys.readouterr().err


def _check_result(result: dict, subset: str) -> dict:
    metrics = result["subsets"][subset]["metrics"]
    for name, m in metrics.items():
        if m["value"] is not None and m["ci_low"] is not None:
            assert m["ci_low"] - 1e-9 <= m["value"] <= m["ci_high"] + 1e-9, name
    return metrics


def test_evaluate_cli_writes_json_and_markdown(micro_checkpoint, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "res.json"
    rc = evaluate_main(["--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset),
                        "--out", str(out), "--cache", str(tmp_path / "cache"), "--n-boot", "50",
                        "--split", "train", "--min-positives", "5", "--quiet"])
    assert rc == 0
    result = json.loads(out.read_text())
    metrics = _check_result(result, "all")
    assert result["subsets"]["all"]["n_images"] == 15  # rows i % 5 in {0, 1, 2}
    for name in ("zs/findings/balanced_accuracy", "zs/findings/accuracy", "zs/findings/macro_f1",
                 "zs/chexpert5/balanced_accuracy", "zs/chexpert5/accuracy",
                 "zs/binary/macro_auroc", "zs/binary/Cardiomegaly/auroc",
                 "retrieval/i2t/R@1", "retrieval/t2i/R@10", "geometry/alignment",
                 "geometry/uniformity_image", "geometry/modality_gap"):
        assert name in metrics, name
    # recall@10 over 3 unique texts is always 1; the split trains the probe, so no probe
    assert metrics["retrieval/i2t/R@10"]["value"] == 1.0
    assert not any(n.startswith("probe/") for n in metrics)
    assert "gaze" in result["subsets"] and result["subsets"]["gaze"]["n_images"] == 8
    conf = np.array(result["subsets"]["all"]["details"]["zs/findings"]["confusion"])
    assert conf.sum() == 15 and conf.shape == (9, 9)
    table = out.with_suffix(".md").read_text()
    # zero-shot blocks first, each with the data-only baselines beside the model
    assert table.startswith("**zs/chexpert5** (all: ")  # multiclass sets first, then the pairs
    assert "**zs/findings** (all: 15 images with exactly one of its 9 classes, 3 present" in table
    assert "| metric | model | majority: " in table and "| train label prior |" in table
    assert "| label | n_pos | n_neg | prevalence | model | constant score | majority answer (accuracy) |" in table
    assert "| Cardiomegaly | 5 | 10 | 0.333 |" in table
    assert "| Cardiomegaly | 3 | 5 | 0.375 | n/a (3 positives) |" in table  # gaze: below --min-positives 5
    assert "| metric | all (n=15) | gaze (n=8) |" in table and "retrieval/i2t/R@1" in table
    assert "Not computed (gaze): geometry/uniformity: 8 items, fewer than 10" in table
    ref = result["subsets"]["all"]["zero_shot"]
    assert ref["findings"]["baselines"]["zs/findings/balanced_accuracy"]["majority"] == pytest.approx(1 / 3, abs=1e-5)


def test_evaluate_test_split_has_probe_and_builds_the_index(micro_checkpoint, tiny_dataset, tmp_path):
    out = tmp_path / "res.json"
    cache = tmp_path / "cache"
    rc = evaluate_main(["--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset),
                        "--out", str(out), "--cache", str(cache), "--n-boot", "30",
                        "--prompts", "findings", "--probe-seeds", "0", "1", "--quiet",
                        "--min-positives", "1"])  # the test split holds 4 images
    assert rc == 0
    result = json.loads(out.read_text())
    metrics = _check_result(result, "all")
    assert {"probe/1%/macro_auroc", "probe/10%/macro_auroc", "probe/100%/macro_auroc"} <= set(metrics)
    assert len(result["subsets"]["all"]["details"]["probe"]["probe/100%/macro_auroc"]["per_seed"]) == 2
    table = out.with_suffix(".md").read_text()  # the probe's labels with their counts
    assert "at least 1 positives and 1 negatives among the evaluated rows: " in table
    assert "| label | n_pos | n_neg | in the macro AUROC |" in table
    assert "zs/chexpert5/accuracy" not in metrics  # only the asked prompt set
    ix.load_index(micro_checkpoint, tiny_dataset, cache)  # evaluation left a usable index


def test_compare_identical_checkpoints_gives_zero_differences(micro_checkpoint, tiny_dataset, tmp_path):
    out = tmp_path / "cmp.json"
    rc = evaluate_main(["--compare", str(micro_checkpoint), str(micro_checkpoint),
                        "--data", str(tiny_dataset), "--split", "train", "--out", str(out),
                        "--cache", str(tmp_path / "cache"), "--n-boot", "40", "--quiet",
                        "--prompts", "findings", "binary"])
    assert rc == 0
    result = json.loads(out.read_text())
    for subset, diffs in result["diff"].items():
        assert diffs, subset
        for name, d in diffs.items():
            assert d["diff"] == 0.0 and d["ci_low"] == 0.0 and d["ci_high"] == 0.0, name
    assert "B - A [95% CI]" in out.with_suffix(".md").read_text()


def test_compare_two_models_pairs_identical_items(micro_checkpoint, micro_checkpoint_b, tiny_dataset, tmp_path):
    out = tmp_path / "cmp.json"
    rc = evaluate_main(["--compare", str(micro_checkpoint), str(micro_checkpoint_b),
                        "--data", str(tiny_dataset), "--split", "train", "--out", str(out),
                        "--cache", str(tmp_path / "cache"), "--n-boot", "40", "--quiet",
                        "--prompts", "findings"])
    assert rc == 0
    result = json.loads(out.read_text())
    diffs = result["diff"]["all"]
    a = result["a"]["subsets"]["all"]["metrics"]
    b = result["b"]["subsets"]["all"]["metrics"]
    for name, d in diffs.items():
        assert a[name]["n"] == b[name]["n"] == d["n"]
        assert d["diff"] == pytest.approx(b[name]["value"] - a[name]["value"])
    assert diffs["geometry/alignment"]["diff"] != 0.0  # different random weights
    assert result["a"]["checkpoint"]["weights_sha256"] != result["b"]["checkpoint"]["weights_sha256"]


def test_evaluate_unknown_split_is_an_actionable_error(micro_checkpoint, tiny_dataset, tmp_path, capsys):
    rc = evaluate_main(["--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset),
                        "--split", "holdout", "--out", str(tmp_path / "r.json"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "split 'holdout' has no rows" in err and "'test'" in err


def test_mimic_format_fixture_end_to_end(micro_checkpoint, mimic_dataset, tmp_path):
    """MIMIC-CXR-JPG files -> import-mimic -> index -> evaluation on its test split."""
    cache = tmp_path / "cache"
    assert index_main(["build", "--checkpoint", str(micro_checkpoint), "--data", str(mimic_dataset),
                       "--cache", str(cache), "--no-umap"]) == 0
    idx = ix.load_index(micro_checkpoint, mimic_dataset, cache)
    assert len(idx) == 6  # frontal images only (PA/AP)
    out = tmp_path / "mimic.json"
    rc = evaluate_main(["--checkpoint", str(micro_checkpoint), "--data", str(mimic_dataset),
                        "--out", str(out), "--cache", str(cache), "--n-boot", "20", "--quiet"])
    assert rc == 0
    result = json.loads(out.read_text())
    metrics = result["subsets"]["all"]["metrics"]
    assert result["subsets"]["all"]["n_images"] == 2
    # two test images of one study share one report: a gallery of one text ranks it first
    # whatever the model, so retrieval is skipped and says why rather than report R@1 = 1.0
    assert not any(k.startswith("retrieval/") for k in metrics)
    assert "fewer than 2 distinct report texts" in " ".join(
        result["subsets"]["all"]["details"]["skipped"])


@pytest.mark.slow
def test_torchrun_sharded_build_equals_single_process(micro_checkpoint, tiny_dataset, tmp_path):
    single = ix.build_index(micro_checkpoint, tiny_dataset, cache_root=tmp_path / "one",
                            with_umap=False, progress=False)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    res = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "eclip.index",
                          "build", "--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset),
                          "--cache", str(tmp_path / "two"), "--no-umap", "--device", "cpu",
                          "--chunk-rows", "4"], capture_output=True, text=True, timeout=240,
                         cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    sharded = ix.load_index(micro_checkpoint, tiny_dataset, tmp_path / "two")
    assert sharded.meta["world_size"] == 2
    assert_close(sharded.image_emb, single.image_emb, atol=1e-5)
    assert_close(sharded.text_emb, single.text_emb, atol=1e-5)


def test_experiment_groups_of_seeds(micro_checkpoint, micro_checkpoint_b, tiny_dataset, tmp_path):
    """Two groups of two 'seeds' each; the run-folder form (RUN/final) is accepted."""
    import shutil

    from eclip.evaluate.experiment import main as experiment_main

    run = tmp_path / "run-b"
    shutil.copytree(micro_checkpoint_b, run / "final")
    out = tmp_path / "exp.json"
    rc = experiment_main(["--data", str(tiny_dataset), "--out", str(out), "--cache", str(tmp_path / "c"),
                          "--n-boot", "30", "--prompts", "findings", "--probe-seeds", "0", "--quiet",
                          "--group", "clip", str(micro_checkpoint), str(micro_checkpoint),
                          "--group", "eclip", str(run), str(micro_checkpoint)])
    assert rc == 0
    result = json.loads(out.read_text())
    clip = result["groups"]["clip"]["subsets"]["all"]["metrics"]
    eclip_ = result["groups"]["eclip"]["subsets"]["all"]["metrics"]
    diff = result["diff"]["eclip"]["all"]
    name = "geometry/alignment"
    assert clip[name]["sd"] == 0.0 and len(eclip_[name]["per_seed"]) == 2
    assert eclip_[name]["value"] == pytest.approx(np.mean(eclip_[name]["per_seed"]))
    assert diff[name]["diff"] == pytest.approx(eclip_[name]["value"] - clip[name]["value"])
    md = out.with_suffix(".md").read_text()
    assert "eclip - clip" in md
    head = md.split("\n\n")[1].splitlines()  # the headline table: one row per group
    assert head[0].startswith("| group | seeds | zs/findings/balanced_accuracy | zs/findings/macro_f1")
    acc = result["groups"]["eclip"]["subsets"]["all"]["metrics"]["zs/findings/balanced_accuracy"]["value"]
    acc_diff = result["diff"]["eclip"]["all"]["zs/findings/balanced_accuracy"]["diff"]
    assert head[2].startswith("| clip (baseline) | 2 |")
    assert head[3].startswith(f"| eclip | 2 | {acc:.3f} ({'+' if acc_diff >= 0 else ''}{acc_diff:.3f} [")
    # then what the data alone scores: a constant answer has balanced accuracy 1/K (K = 3 present)
    assert head[4].startswith("| *majority class (train split)* | - | 0.333 |")
    assert head[5].startswith("| *train label prior* | - | 0.333 |")


def test_evaluate_with_report_generation(micro_checkpoint, tiny_dataset, tmp_path):
    """--reports adds the report-generation metrics (retrieval backend: offline, no LLM)."""
    out = tmp_path / "rep.json"
    cache = tmp_path / "cache"
    rc = evaluate_main(["--checkpoint", str(micro_checkpoint), "--data", str(tiny_dataset),
                        "--out", str(out), "--cache", str(cache), "--n-boot", "10", "--quiet",
                        "--prompts", "findings", "--probe-fractions", "1.0", "--probe-seeds", "0",
                        "--reports", "retrieval", "--reports-limit", "2"])
    assert rc == 0
    rep = json.loads(out.read_text())["report_generation"]
    assert rep["n"] == 2 and rep["backend"] == "retrieval" and 0.0 <= rep["bleu2"] <= 1.0
    assert "**report generation** (retrieval, n=2)" in out.with_suffix(".md").read_text()
    assert len(list(cache.iterdir())) == 1  # the drafts used the same index


def test_update_card_writes_metrics_and_keeps_weights_loadable(tiny_dataset, tmp_path):
    from eclip.model.checkpoint import load_model

    from .conftest import save_micro_checkpoint

    ckpt = save_micro_checkpoint(tmp_path / "ck", seed=3)
    weights = (ckpt / "model.safetensors").read_bytes()
    out = tmp_path / "res.json"
    rc = evaluate_main(["--checkpoint", str(ckpt), "--data", str(tiny_dataset), "--out", str(out),
                        "--cache", str(tmp_path / "cache"), "--n-boot", "20", "--split", "train",
                        "--quiet", "--update-card"])
    assert rc == 0
    card = json.loads((ckpt / "card.json").read_text())
    result = json.loads(out.read_text())
    entry = card["metrics"]["eval/train"]
    acc = result["subsets"]["all"]["metrics"]["zs/findings/accuracy"]
    assert entry["values"]["zs/findings/accuracy"][0] == round(acc["value"], 4)
    assert entry["data_fingerprint"] == result["data"]["fingerprint"]
    assert (ckpt / "model.safetensors").read_bytes() == weights
    assert load_model(ckpt).card["metrics"]["eval/train"]["n_images"] == 15
