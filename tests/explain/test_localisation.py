"""Localisation against ground-truth finding masks: references, the cluster bootstrap, the
loop over a split's abnormal cases and the ``localise`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eclip import explain
from eclip.data.manifest import read_manifest
from eclip.explain import localisation as L
from eclip.explain.methods import _gradcam_layer, gradcam

from .conftest import make_lm


def test_grid_limited_keeps_a_cell_sized_finding_and_blurs_a_small_one():
    mask = np.zeros((64, 64), bool)
    mask[16:32, 16:32] = True  # exactly one cell of a 4 x 4 grid
    best = L.grid_limited(mask, (4, 4))
    assert L.scores(best, mask)["pointing"] == 1.0
    dot = np.zeros((64, 64), bool)
    dot[20:22, 20:22] = True  # far smaller than a cell: the grid cannot point at it exactly
    assert L.grid_limited(dot, (4, 4)).max() < 0.05


def test_cluster_bootstrap_counts_reports_not_cases():
    values = np.array([1.0, 1.0, 1.0, 0.0, np.nan])
    clusters = np.array(["a", "a", "a", "b", "c"])
    ci = L.cluster_bootstrap(values, clusters, n_boot=400)
    assert ci["n"] == 4 and ci["clusters"] == 2  # the NaN case (no truth) is dropped
    assert ci["value"] == pytest.approx(0.75, abs=1e-12)
    # resampling 2 clusters: the interval reaches both extremes (all "b" = 0, all "a" = 1)
    assert ci["ci_low"] == pytest.approx(0.0, abs=1e-12) and ci["ci_high"] == pytest.approx(1.0, abs=1e-12)


def test_summary_rows_and_markdown():
    per_target = pd.DataFrame([
        {"case_id": "x", "finding": f, "cluster": c, "who": w, "pointing": p, "miou": 0.5}
        for f, c in (("Cardiomegaly", "r1"), ("Pleural Effusion", "r2"), (L.REPORT_ROW, "r1"))
        for w, p in (("model", 1.0), ("centre", 0.0), ("grid ceiling", 1.0))])
    summary = L.summarise(per_target, n_boot=50)
    by = {(r["finding"], r["who"]): r for r in summary}
    assert by[("all findings", "model")]["pointing"]["n"] == 2  # the report row is not pooled
    assert by[(L.REPORT_ROW, "centre")]["pointing"]["value"] == 0.0
    table = L.markdown_table(summary, "m")
    assert "| all findings | 2 (2) | 1.000 [1.000, 1.000] | 0.000 [0.000, 0.000] |" in table
    assert table.splitlines()[2].endswith("| n/a (no gaze) |")  # no case here has gaze


def test_localisation_scores_every_abnormal_case(vit_lm, masked_dataset):
    per_target = L.localisation(vit_lm, masked_dataset, "test")
    df = read_manifest(masked_dataset)
    abnormal = df[(df["split"] == "test") & (df["mask_path"] != "")]
    # one finding target + one report target per abnormal case, each scored three ways, and
    # a fourth (the gaze at the grid) on the cases that have gaze
    gazed = int((abnormal["gaze_path"].astype(str).str.len() > 0).sum())
    assert 0 < gazed < len(abnormal)
    assert len(per_target) == 2 * len(abnormal) * 3 + 2 * gazed
    assert set(per_target["who"]) == set(L.WHO)
    ceiling = per_target[per_target["who"] == "grid ceiling"]
    assert (ceiling["pointing"] == 1.0).all()  # large blobs survive a 4 x 4 grid
    gaze = per_target[per_target["who"] == "gaze at grid"]
    assert set(gaze["case_id"]) == set(abnormal.loc[abnormal["gaze_path"].astype(str).str.len() > 0, "id"])


def test_localise_cli_writes_json(vit_lm, masked_dataset, tmp_path, capsys):
    out = tmp_path / "loc.json"
    rc = explain.main(["localise", "--checkpoint", str(vit_lm.path), "--data", str(masked_dataset),
                       "--n-boot", "50", "--json", str(out)])
    assert rc == 0 and "| all findings |" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["split"] == "test" and list(saved["models"]) == [vit_lm.path.name]


def test_localise_without_masks_says_what_is_needed(vit_lm, tiny_dataset, capsys):
    rc = explain.main(["localise", "--checkpoint", str(vit_lm.path), "--data", str(tiny_dataset)])
    assert rc == 2 and "needs ground-truth masks" in capsys.readouterr().err


def test_average_pooled_vit_explains_its_pooled_tokens(tmp_path, masked_dataset):
    """With average pooling the similarity is a mean over patch tokens, so Grad-CAM reads the
    tokens the pool sees (ln_post), not an early block."""
    from eclip.model.factory import resolve_arch

    spec = resolve_arch("eclip-vit-micro")
    spec["vision_cfg"]["pool_type"] = "avg"
    arch = tmp_path / "vit-micro-gap.json"
    arch.write_text(json.dumps(spec))
    lm = make_lm(tmp_path / "ckpt", str(arch))
    assert _gradcam_layer(lm) is lm.model.clip.visual.ln_post
    import torch

    from eclip.explain.maps import text_embedding

    x = torch.rand(1, 3, 64, 64)
    cam = gradcam(lm, x, text_embedding(lm, "Pleural effusion."))
    assert cam.shape == (4, 4) and np.isfinite(cam).all()


def test_cnn_is_explained_and_localised_on_its_feature_grid(cnn_lm, masked_dataset, tmp_path, capsys):
    """Grad-CAM's raw map is the CNN's final feature grid (the cells its pool averages), and
    `localise` scores the tower against that grid's ceiling."""
    import torch

    from eclip.explain.maps import text_embedding

    assert L.model_grid(cnn_lm) == (4, 4)
    cam = gradcam(cnn_lm, torch.rand(1, 3, 64, 64), text_embedding(cnn_lm, "Pleural effusion."))
    assert cam.shape == (4, 4) and np.isfinite(cam).all()
    out = tmp_path / "loc.json"
    rc = explain.main(["localise", "--checkpoint", str(cnn_lm.path), "--data", str(masked_dataset),
                       "--n-boot", "50", "--json", str(out)])
    assert rc == 0 and "| all findings |" in capsys.readouterr().out
