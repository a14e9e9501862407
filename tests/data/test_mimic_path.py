"""A MIMIC-like dataset end to end says what it lacks: the importer names the optional files
that were absent and what is off without them, build-eval's too-few error points at
--source-splits, retrieval numbers on a small gallery carry a note, and `explain agreement`
says why a ceiling has no interval and why a score is n/a."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd

from data.formats import (MIMIC_CHEXPERT_COLUMNS, MimicImage, MimicStudy, ReflacxReading, dicom_id,
                          write_egd, write_egd_boxes, write_mimic, write_reflacx, write_reflacx_ellipses)
from eclip.data.__main__ import main as data_main
from eclip.data.evalsets.sampling import COMPETITION
from eclip.data.manifest import save_array_npz


# --------------------------------------------------------------------------- import-mimic
def _mimic(tmp_path):
    root = tmp_path / "mimic"
    images, _ = write_mimic(root)
    write_egd(tmp_path / "egd", [images[0], images[3]])
    write_reflacx(tmp_path / "reflacx", [ReflacxReading("P1R1", images[0]), ReflacxReading("P1R2", images[6])])
    return root, images


def _import(tmp_path, root, capsys, *extra) -> str:
    capsys.readouterr()
    assert data_main(["import-mimic", "--root", str(root), "--out", str(tmp_path / "ds"), "--workers", "1",
                      "--no-progress", *map(str, extra)]) == 0
    return capsys.readouterr().out


def test_import_mimic_names_the_absent_optional_files_and_what_is_off(tmp_path, capsys):
    root, images = _mimic(tmp_path)
    out = _import(tmp_path, root, capsys, "--egd", tmp_path / "egd", "--reflacx", tmp_path / "reflacx")
    assert "optional files absent" in out
    assert "anomaly_location_ellipses.csv absent from 2 of 2 REFLACX reading(s)" in out
    assert "no finding masks (mask_path)" in out and "pointing game and mIoU" in out
    assert "bounding_boxes.csv absent from" in out and "no lung fields" in out
    # with both files, nothing to say
    write_reflacx_ellipses(tmp_path / "reflacx", "P1R1", [dict(xmin=10, ymin=10, xmax=500, ymax=500, certainty=4,
                                                               labels=["Atelectasis"])])
    write_reflacx_ellipses(tmp_path / "reflacx", "P1R2", [dict(xmin=10, ymin=10, xmax=500, ymax=500, certainty=4,
                                                               labels=["Atelectasis"])])
    write_egd_boxes(tmp_path / "egd", {images[0].dicom_id: [("right lung", 100, 900, 100, 1800)]})
    shutil.rmtree(tmp_path / "ds")
    out = _import(tmp_path, root, capsys, "--egd", tmp_path / "egd", "--reflacx", tmp_path / "reflacx")
    assert "optional files absent" not in out
    # neither gaze source: said too
    shutil.rmtree(tmp_path / "ds")
    assert "no --egd or --reflacx" in _import(tmp_path, root, capsys)


def test_build_eval_too_few_suggests_source_splits(tmp_path, capsys):
    images, studies = [], []
    for k, cls in enumerate(COMPETITION * 2):
        sid, stid = f"1{k:07d}", f"5{k:07d}"
        labels = {c: "" for c in MIMIC_CHEXPERT_COLUMNS[2:]} | {cls: "1.0"}
        studies.append(MimicStudy(sid, stid, f"Findings of {cls}.", f"{cls}.", labels))
        images.append(MimicImage(dicom_id(k), sid, stid, "PA", "test" if k < 5 else "validate", seed=k))
    write_mimic(tmp_path / "mimic", images, studies)
    capsys.readouterr()
    assert data_main(["build-eval", "mimic-5x200", "--root", str(tmp_path / "mimic"), "--out", str(tmp_path / "e"),
                      "--per-class", "2"]) == 2
    err = capsys.readouterr().err
    assert "too few candidates" in err and "--source-splits test,validate" in err and "--per-class" in err


# --------------------------------------------------------------------------- retrieval
def test_retrieval_on_a_small_gallery_carries_a_note():
    from eclip.evaluate import suite, tables

    n = 5
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"i{k}" for k in range(n)], "split": "test"})
    emb = suite.ModelEmbeddings(image_emb=rng.normal(size=(n, 8)), text_emb=rng.normal(size=(n, 8)),
                                text_index=np.arange(n), prompt_emb={})
    items = suite.EvalItems(df, np.arange(n), np.array([], int), [])
    details: dict = {}
    stats = suite._retrieval(emb, items, details)
    assert "retrieval/i2t/R@5" in stats
    note = details["retrieval"]["note"]
    assert "5 report texts" in note and "near 1 by construction" in note and "R@1 0.200" in note
    metrics = {name: {"value": s.fn(np.arange(s.n)), "ci_low": 0.0, "ci_high": 1.0} for name, s in stats.items()}
    result = {"checkpoint": {"name": "m"}, "subsets": {"all": {"n_images": n, "metrics": metrics,
                                                               "details": details}}}
    table = tables.single_table(result)
    assert "| retrieval/i2t/R@10 | 1.000" in table
    assert "\n\nNote (all): small gallery: image-to-text retrieval ranks 5 report texts" in table
    assert suite.small_gallery_note(100, 120) == ""  # a real gallery: no note


# --------------------------------------------------------------------------- explain agreement
def _agreement(lm, data, capsys) -> str:
    from eclip import explain

    capsys.readouterr()
    assert explain.main(["agreement", "--checkpoint", str(lm.path), "--data", str(data), "--split", "test",
                         "--method", "gradcam", "--markdown", "--n-boot", "50"]) == 0
    return capsys.readouterr().out


def test_explain_agreement_says_why_a_ceiling_has_no_interval_and_why_a_score_is_na(
        tiny_dataset, tmp_path, capsys):
    from explain.conftest import make_lm

    lm = make_lm(tmp_path / "vit", "eclip-vit-micro")
    out = _agreement(lm, tiny_dataset, capsys)  # one reading per image, no finding masks
    ceiling = [line for line in out.splitlines() if line.startswith("| ceiling: another reader |")]
    why = "n/a: only one reading per image"
    assert ceiling == ["| ceiling: another reader |  | 0 | " + " | ".join([why] * 7) + " |"]
    assert "n/a: no case has a finding mask (mask_path)" in out
    assert " · ceiling (another reader) n/a: only one reading per image" in out
    assert "| n/a |" not in out and not any(line.endswith(" n/a") for line in out.splitlines())
    # one image with two readings: a ceiling over one image has no interval, and says so
    data = shutil.copytree(tiny_dataset, tmp_path / "ds")
    df = pd.read_csv(data / "manifest.csv", dtype=str, keep_default_na=False)
    row = df[(df["split"] == "test") & (df["gaze_path"] != "")].iloc[0]
    shape = np.load(data / row["gaze_path"])["heatmap"].shape
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    for name, (cy, cx) in {"r1": (0.3, 0.3), "r2": (0.4, 0.35)}.items():
        blob = np.exp(-((yy / shape[0] - cy) ** 2 + (xx / shape[1] - cx) ** 2) / 0.02).astype(np.float16)
        save_array_npz(data / "gaze" / row["id"] / "readings" / f"{name}.npz", heatmap=blob)
    out = _agreement(lm, data, capsys)
    ceiling = next(line for line in out.splitlines() if line.startswith("| ceiling: another reader |"))
    assert "|  | 1 | " in ceiling and "(one image: no interval)" in ceiling
    assert re.search(r"\[(-?[\d.]+), \1\]", ceiling) is None  # never "[0.147, 0.147]"
