"""The gaze-agreement loop over a split, and the explain command line."""

from __future__ import annotations

import numpy as np

from eclip import explain


def test_gaze_agreement_over_the_test_split(vit_lm, tiny_dataset):
    means, per_image = explain.gaze_agreement(vit_lm, tiny_dataset, "test", "gradcam")
    assert means["n"] == len(per_image) == 2  # tiny_dataset: test rows 4, 14 carry gaze
    assert set(per_image.columns) == {"id", "cc", "nss", "kl", "auc_judd", "sauc", "pointing", "miou", "flat",
                                      "border_mass", "outside_lungs", "flagged_outside"}
    assert means["n_flat"] == int(per_image["flat"].sum())
    assert means["n_outside"] == int(per_image["flagged_outside"].sum())
    assert -1 <= means["cc"] <= 1 and 0 <= means["auc_judd"] <= 1 and means["kl"] >= 0
    assert 0 <= means["border_mass"] <= 1 and 0 <= means["outside_lungs"] <= 1


def test_agreement_cli_markdown(vit_lm, tiny_dataset, tmp_path, capsys):
    out_csv = tmp_path / "per_image.csv"
    rc = explain.main(["agreement", "--checkpoint", str(vit_lm.path), "--data", str(tiny_dataset),
                       "--split", "test", "--markdown", "--csv", str(out_csv)])
    out = capsys.readouterr().out
    assert rc == 0 and "| model | method | n | flat maps (score chance) | CC" in out
    assert "| mass in border band ↓ | mass outside lungs ↓ | flagged outside |" in out
    assert "| gradcam | 2 |" in out and "| rollout | 2 |" in out and "| grad_rollout | 2 |" in out
    # header + 2 images x 3 methods + 2 images x 2 floors (the fixture has no second reader)
    assert out_csv.read_text().count("\n") == 11


def test_agreement_cli_errors_exit_2(vit_lm, tiny_dataset, capsys):
    rc = explain.main(["agreement", "--checkpoint", str(vit_lm.path), "--data", str(tiny_dataset),
                       "--split", "nosuchsplit"])
    assert rc == 2 and "no 'nosuchsplit' rows with gaze" in capsys.readouterr().err


def test_map_cli_writes_overlay_and_map(vit_lm, tiny_dataset, tmp_path):
    from PIL import Image

    out = tmp_path / "overlay.png"
    rc = explain.main(["map", "--checkpoint", str(vit_lm.path), "--image",
                       str(tiny_dataset / "images" / "case000.png"), "--prompt", "cardiomegaly",
                       "--out", str(out)])
    assert rc == 0
    # the file is brought to the stored working resolution (longer side 256) like any import
    assert Image.open(out).size == (256, 256) and Image.open(out).mode == "RGB"
    with np.load(tmp_path / "overlay.npz") as z:
        assert z["heatmap"].shape == (256, 256) and z["heatmap"].dtype == np.float16
