"""Importers end to end on format-exact fixtures (tests/data/formats.py), then `info`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eclip.data.__main__ import main
from eclip.data.gaze import load_heatmap
from eclip.data.images import load_working
from eclip.data.manifest import LABELS, WORKING_SIZE, read_manifest
from eclip.data.reports import mesh_to_labels

from .formats import (
    ReflacxReading,
    corrupt_file,
    default_openi,
    write_egd,
    write_folder_dataset,
    write_image,
    write_mimic,
    write_openi_images,
    write_openi_kaggle,
    write_openi_xml,
    write_reflacx,
)

REPO = Path(__file__).resolve().parents[2]


def cli(*args) -> int:
    return main([str(a) for a in args])


def info_json(out: Path, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    rc = cli("info", out, "--json")
    return rc, json.loads(capsys.readouterr().out)


@pytest.fixture()
def mimic(tmp_path):
    """MIMIC-CXR-JPG + EGD-CXR (images 0, 3) + REFLACX (image 0 once; image 6 twice plus
    one discarded reading)."""
    root = tmp_path / "mimic"
    images, studies = write_mimic(root)
    write_egd(tmp_path / "egd", [images[0], images[3]], target=(0.3, 0.3))
    write_reflacx(tmp_path / "reflacx", [
        ReflacxReading("P102R108387", images[0], target=(0.7, 0.6)),
        ReflacxReading("P102R108388", images[6], target=(0.7, 0.6)),
        ReflacxReading("P300R915000", images[6], target=(0.2, 0.2), phase=2),
        ReflacxReading("P300R915001", images[6], target=(0.5, 0.9), phase=2, discarded=True),
    ])
    return {"root": root, "images": images, "studies": studies, "egd": tmp_path / "egd",
            "reflacx": tmp_path / "reflacx", "tmp": tmp_path}


def _at(hm: np.ndarray, yx) -> float:
    return float(hm[int(yx[0] * hm.shape[0]), int(yx[1] * hm.shape[1])])


def test_mimic_end_to_end_with_gaze(mimic, capsys):
    out = mimic["tmp"] / "ds"
    rc = cli("import-mimic", "--root", mimic["root"], "--egd", mimic["egd"], "--reflacx",
             mimic["reflacx"], "--out", out, "--workers", 2)
    assert rc == 0
    df = read_manifest(out, check_files=True).set_index("id")
    ims = {im.dicom_id: im for im in mimic["images"]}
    frontal = [im.dicom_id for im in mimic["images"] if im.view in ("PA", "AP")]
    assert sorted(df.index) == sorted(frontal)  # laterals left out by default
    first = mimic["images"][0]
    row = df.loc[first.dicom_id]
    assert row["findings"] == "Heart size is mildly enlarged. Lungs are clear."
    assert row["impression"] == "Mild cardiomegaly."
    assert (row["Cardiomegaly"], row["Edema"], row["Pneumonia"]) == (1.0, -1.0, 0.0)
    assert np.isnan(row["Pleural Effusion"])
    assert df.loc[mimic["images"][3].dicom_id, "split"] == "validate"
    assert df.loc[mimic["images"][6].dicom_id, "split"] == "test"
    # patient_key: one per subject, never the raw subject id
    assert df.loc[first.dicom_id, "patient_key"] == df.loc[mimic["images"][2].dicom_id, "patient_key"]
    assert df.loc[first.dicom_id, "patient_key"] != df.loc[mimic["images"][3].dicom_id, "patient_key"]
    assert not any(im.subject_id in df["patient_key"].str.cat() for im in mimic["images"])
    # gaze: EGD+REFLACX on image 0, EGD on 3, two kept REFLACX readings on 6
    with_gaze = df[df["gaze_path"] != ""]
    assert set(with_gaze.index) == {first.dicom_id, mimic["images"][3].dicom_id, mimic["images"][6].dicom_id}
    assert with_gaze["n_readings"].astype(int).to_dict() == {
        first.dicom_id: 2, mimic["images"][3].dicom_id: 1, mimic["images"][6].dicom_id: 2}
    for did, r in df.iterrows():
        img = load_working(out / r["image_path"])
        assert max(img.shape) == WORKING_SIZE
        h, w = ims[did].size
        assert abs(img.shape[1] / img.shape[0] - w / h) < 0.02  # aspect kept
        assert (int(r["orig_width"]), int(r["orig_height"])) == (w, h)
        if r["gaze_path"]:
            hm = load_heatmap(out / r["gaze_path"])
            assert hm.shape == img.shape
            assert hm.min() >= 0 and hm.max() > 0 and np.isfinite(hm).all()
    # EGD fixations cluster at (0.3, 0.3) of the image: the stored heatmap peaks there
    hm = load_heatmap(out / df.loc[mimic["images"][3].dicom_id, "gaze_path"])
    peak = np.unravel_index(hm.argmax(), hm.shape)
    assert abs(peak[0] / hm.shape[0] - 0.3) < 0.08 and abs(peak[1] / hm.shape[1] - 0.3) < 0.08
    # two REFLACX readings averaged: mass at both targets, none at the discarded one
    hm = load_heatmap(out / df.loc[mimic["images"][6].dicom_id, "gaze_path"])
    mean = hm.mean()
    assert _at(hm, (0.7, 0.6)) > 5 * mean and _at(hm, (0.2, 0.2)) > 5 * mean
    assert _at(hm, (0.5, 0.9)) < mean
    rc, info = info_json(out, capsys)
    assert rc == 0 and info["problems"] == []
    assert info["rows"] == 6 and info["gaze"] == {"with": 3, "without": 3}
    assert info["splits"] == {"train": 2, "validate": 2, "test": 2}
    assert info["labels"]["Cardiomegaly"] == {"1": 1, "0": 2, "-1": 0, "blank": 3}


def test_mimic_gz_tables_reports_elsewhere_views_limit(tmp_path, capsys):
    root, reports = tmp_path / "jpg", tmp_path / "mimic-cxr-reports"
    images, _ = write_mimic(root, gz=True, reports_root=reports)
    out = tmp_path / "ds"
    assert cli("import-mimic", "--root", root, "--reports", reports, "--out", out,
               "--views", "all", "--workers", 1) == 0
    df = read_manifest(out)
    assert len(df) == 8 and {"LATERAL", "LL"} <= set(df["view"])
    assert (df["findings"] != "").all()
    out2 = tmp_path / "ds2"
    assert cli("import-mimic", "--root", root, "--reports", reports, "--out", out2,
               "--views", "PA", "--limit", 2, "--workers", 1) == 0
    df2 = read_manifest(out2)
    assert list(df2["view"]) == ["PA", "PA"]
    # report texts missing (not given): imported without text, listed as problems
    out3 = tmp_path / "ds3"
    assert cli("import-mimic", "--root", root, "--out", out3, "--limit", 1, "--workers", 1) == 0
    assert read_manifest(out3)["findings"].tolist() == [""]
    assert "not found" in (out3 / "import_problems.csv").read_text()


def test_rerun_skips_done_and_new_gaze_redoes_only_those(mimic, capsys):
    out = mimic["tmp"] / "ds"
    assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 0
    before = (out / "manifest.csv").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    capsys.readouterr()
    assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 0
    assert "imported 0, already done 6" in capsys.readouterr().out
    assert (out / "manifest.csv").read_bytes() == before
    assert {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()} == stamps
    # adding EGD later re-imports exactly the two EGD images
    assert cli("import-mimic", "--root", mimic["root"], "--egd", mimic["egd"], "--out", out,
               "--workers", 1) == 0
    assert "imported 2, already done 4" in capsys.readouterr().out
    df = read_manifest(out)
    assert len(df) == 6 and (df["gaze_path"] != "").sum() == 2
    assert not (out / ".import" / "staging").exists()


def test_gaze_only_and_a_running_import_locks_the_folder(mimic, capsys):
    out = mimic["tmp"] / "ds"
    assert cli("import-mimic", "--root", mimic["root"], "--egd", mimic["egd"], "--gaze-only",
               "--out", out, "--workers", 1) == 0
    assert set(read_manifest(out)["id"]) == {mimic["images"][0].dicom_id, mimic["images"][3].dicom_id}
    # a live process holds the lock: a second import is refused, nothing changes
    before = (out / "manifest.csv").read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".import" / "lock").write_text(str(holder.pid))
        capsys.readouterr()
        assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert (out / "manifest.csv").read_bytes() == before
    # the holder is gone: its stale lock is taken over
    assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 0
    assert len(read_manifest(out)) == 6 and not (out / ".import" / "lock").exists()


def test_corrupt_and_huge_images_are_skipped_and_reported(mimic, capsys, monkeypatch):
    bad = mimic["images"][2]
    corrupt_file(bad.jpg(mimic["root"]))
    huge = mimic["images"][7]
    write_image(huge.jpg(mimic["root"]), 2400, 2000, fmt="JPEG")  # 4.8 Mpx
    monkeypatch.setenv("ECLIP_MAX_PIXELS", "4000000")
    out = mimic["tmp"] / "ds"
    assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 0
    assert "failed 2" in capsys.readouterr().out
    df = read_manifest(out, check_files=True)
    assert len(df) == 4 and bad.dicom_id not in set(df["id"]) and huge.dicom_id not in set(df["id"])
    problems = pd.read_csv(out / "import_problems.csv", dtype=str)
    assert set(problems["id"]) == {bad.dicom_id, huge.dicom_id}
    assert problems["path"].str.endswith(".jpg").all()
    rc, info = info_json(out, capsys)
    assert rc == 0  # skipped sources are warnings, the dataset itself is sound
    assert [w["count"] for w in info["warnings"] if w["kind"] == "import_problems"] == [2]


@pytest.mark.parametrize("table,column", [
    ("mimic-cxr-2.0.0-split.csv", "split"),
    ("mimic-cxr-2.0.0-chexpert.csv", "Pleural Effusion"),
    ("mimic-cxr-2.0.0-metadata.csv", "ViewPosition"),
    ("egd/master_sheet.csv", "image_top_pad"),
    ("reflacx/main_data/metadata_phase_1.csv", "eye_tracking_data_discarded"),
])
def test_wrong_columns_fail_clearly_and_leave_output_intact(mimic, capsys, table, column):
    out = mimic["tmp"] / "ds"
    assert cli("import-mimic", "--root", mimic["root"], "--out", out, "--workers", 1) == 0
    before = (out / "manifest.csv").read_bytes()
    listing = sorted(p.relative_to(out) for p in out.rglob("*"))
    path = (mimic["tmp"] / table) if "/" in table else (mimic["root"] / table)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.rename(columns={column: column.upper() + "_X"}).to_csv(path, index=False)
    capsys.readouterr()
    rc = cli("import-mimic", "--root", mimic["root"], "--egd", mimic["egd"], "--reflacx",
             mimic["reflacx"], "--out", out, "--workers", 1)
    err = capsys.readouterr().err
    assert rc == 2
    assert str(path) in err and repr(column) in err and "Expected" in err
    assert "Traceback" not in err
    assert (out / "manifest.csv").read_bytes() == before
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == listing


CRASH_DRIVER = Path(__file__).with_name("crash_import.py")


def _run(argv):
    return subprocess.run([sys.executable, *map(str, argv)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_resume_after_kill_completes_without_duplicates(mimic, tmp_path):
    # an earlier import in the same folder must survive the crash untouched
    out = tmp_path / "ds"
    write_folder_dataset(tmp_path / "folder", n=3)
    assert cli("import-folder", "--images", tmp_path / "folder", "--csv", tmp_path / "folder" / "cases.csv",
               "--image-col", "file", "--findings-col", "report_findings", "--out", out,
               "--workers", 1) == 0
    earlier = (out / "manifest.csv").read_bytes()
    earlier_df = read_manifest(out)
    args = ["import-mimic", "--root", mimic["root"], "--egd", mimic["egd"], "--reflacx",
            mimic["reflacx"], "--out", out, "--workers", 2]
    # the real command, SIGKILLed by its after_job hook once 2 of the 6 images are journalled
    killed = _run([CRASH_DRIVER, 2, *args])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / "manifest.csv").read_bytes() == earlier  # no half-written manifest
    journal = (out / ".import" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 3 + 2  # 3 compacted folder rows + the 2 finished before the kill
    resumed = _run(["-m", "eclip.data", *args])
    assert resumed.returncode == 0, resumed.stderr
    assert "imported 4, already done 2" in resumed.stdout
    df = read_manifest(out, check_files=True)
    assert df["id"].is_unique and len(df) == 3 + 6
    pd.testing.assert_frame_equal(df.iloc[:3][earlier_df.columns], earlier_df)  # kept, first
    assert (out / "manifest.csv").read_bytes().startswith(earlier)
    for rel in df["image_path"]:
        assert max(load_working(out / rel).shape) == WORKING_SIZE
    assert (df["gaze_path"] != "").sum() == 3


# ------------------------------------------------------------------------------ Open-I

def test_openi_xml_folder_with_projections(tmp_path, capsys):
    reports = default_openi()
    xml_dir = write_openi_xml(tmp_path / "xml", reports)
    write_openi_images(tmp_path / "png", reports)
    _, projections = write_openi_kaggle(tmp_path / "kaggle", reports)
    out = tmp_path / "ds"
    assert cli("import-openi", "--images", tmp_path / "png", "--xml", xml_dir, "--projections",
               projections, "--out", out, "--workers", 1) == 0
    df = read_manifest(out, check_files=True).set_index("id")
    frontal = [iid for r in reports for iid, p in r.images if p == "Frontal"]
    assert sorted(df.index) == sorted(frontal)
    row = df.loc["CXR1_1_IM-0001-3001"]
    assert row["findings"] == "The cardiac silhouette is enlarged."
    assert row["impression"] == "Cardiomegaly." and row["patient_key"] == "CXR1"
    expected = mesh_to_labels(["Cardiomegaly/mild"])
    for lab in LABELS:
        assert (np.isnan(row[lab]) and np.isnan(expected[lab])) or row[lab] == expected[lab]
    assert df.loc["CXR2_IM-0652-1001", "No Finding"] == 1.0
    assert set(df["split"]) <= {"train", "validate", "test"}
    rc, info = info_json(out, capsys)
    assert rc == 0 and info["rows"] == 4


def test_openi_tgz_all_views_split_by_report(tmp_path):
    reports = default_openi()
    write_openi_xml(tmp_path / "xml", reports, tgz=tmp_path / "NLMCXR_reports.tgz")
    write_openi_images(tmp_path / "png", reports)
    out = tmp_path / "ds"
    assert cli("import-openi", "--images", tmp_path / "png", "--xml", tmp_path / "NLMCXR_reports.tgz",
               "--views", "all", "--out", out, "--workers", 1) == 0
    df = read_manifest(out)
    assert len(df) == 7
    assert (df.groupby("patient_key")["split"].nunique() == 1).all()  # one report, one split
    # deterministic: a second folder gets the same splits
    out2 = tmp_path / "ds2"
    assert cli("import-openi", "--images", tmp_path / "png", "--xml", tmp_path / "NLMCXR_reports.tgz",
               "--views", "all", "--out", out2, "--workers", 1) == 0
    assert read_manifest(out2)["split"].tolist() == df["split"].tolist()


def test_openi_kaggle_csv_pair(tmp_path, capsys):
    reports = default_openi()
    rep_csv, proj_csv = write_openi_kaggle(tmp_path / "kaggle", reports)
    write_openi_images(tmp_path / "images_normalized", reports, kaggle=True)
    out = tmp_path / "ds"
    assert cli("import-openi", "--images", tmp_path / "images_normalized", "--csv-reports", rep_csv,
               "--csv-projections", proj_csv, "--out", out, "--workers", 1) == 0
    df = read_manifest(out, check_files=True).set_index("id")
    assert sorted(df.index) == sorted(iid for r in reports for iid, p in r.images if p == "Frontal")
    assert set(df["view"]) == {"FRONTAL"}
    row = df.loc["CXR3_IM-1384-1001"]
    assert row["findings"] == "Small right pleural effusion." and row["Pleural Effusion"] == 1.0
    # wrong column in the projections table: clear error, nothing changed
    before = (out / "manifest.csv").read_bytes()
    pd.read_csv(proj_csv).rename(columns={"projection": "view"}).to_csv(proj_csv, index=False)
    capsys.readouterr()
    assert cli("import-openi", "--images", tmp_path / "images_normalized", "--csv-reports", rep_csv,
               "--csv-projections", proj_csv, "--out", out) == 2
    err = capsys.readouterr().err
    assert "indiana_projections.csv" in err and "'projection'" in err
    assert (out / "manifest.csv").read_bytes() == before


def test_openi_default_reports_from_installed_torchxrayvision(tmp_path):
    # real report ids: CXR10_IM-0002-1001 is PA, CXR1001_IM-0004-1002 lateral (LL)
    write_image(tmp_path / "png" / "CXR10_IM-0002-1001.png", 80, 80)
    write_image(tmp_path / "png" / "CXR1001_IM-0004-1002.png", 80, 80)
    out = tmp_path / "ds"
    assert cli("import-openi", "--images", tmp_path / "png", "--out", out, "--workers", 1) == 0
    df = read_manifest(out)
    assert df["id"].tolist() == ["CXR10_IM-0002-1001"]
    assert "cardiomediastinal silhouette" in df.loc[0, "findings"]
    assert df.loc[0, "patient_key"] == "CXR10" and df.loc[0, "view"] == "PA"


def test_openi_no_matching_images_is_a_clear_error(tmp_path, capsys):
    reports = default_openi()
    xml_dir = write_openi_xml(tmp_path / "xml", reports)
    write_image(tmp_path / "png" / "unrelated.png", 20, 20)
    rc = cli("import-openi", "--images", tmp_path / "png", "--xml", xml_dir, "--views", "all",
             "--out", tmp_path / "ds")
    assert rc == 2 and "none of the report image ids matched" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


# ------------------------------------------------------------------------------ folder

FOLDER_ARGS = ["--image-col", "file", "--findings-col", "report_findings", "--impression-col",
               "report_impression", "--split-col", "set", "--patient-col", "patient",
               "--view-col", "view", "--label-cols", "Cardiomegaly", "effusion=Pleural_Effusion"]


def test_folder_import(tmp_path, capsys):
    src = write_folder_dataset(tmp_path / "src", n=6)
    out = tmp_path / "ds"
    assert cli("import-folder", "--images", src, "--csv", src / "cases.csv", *FOLDER_ARGS,
               "--out", out, "--workers", 2) == 0
    df = read_manifest(out, check_files=True).set_index("id")
    assert list(df.index) == [f"case_{i}" for i in range(6)]
    assert df["split"].tolist() == ["train", "validate", "test"] * 2
    assert df["Cardiomegaly"].tolist()[:3] == [1.0, 0.0, -1.0] and np.isnan(df["Cardiomegaly"].iloc[3])
    assert df["Pleural Effusion"].tolist()[1:3] == [1.0, 0.0]
    assert df["impression"].iloc[0] == "Impression 0." and set(df["view"]) == {"PA"}
    keys = df["patient_key"].tolist()
    assert keys[0] == keys[1] != keys[2] and not any("MRN" in k for k in keys)
    rc, info = info_json(out, capsys)
    assert rc == 0 and info["sources"] == {"folder": 6}


@pytest.mark.parametrize("column,value,message", [
    ("Cardiomegaly", "yes", "label value 'yes'"),
    ("set", "holdout", "split 'holdout'"),
])
def test_folder_bad_values_fail_before_writing(tmp_path, capsys, column, value, message):
    src = write_folder_dataset(tmp_path / "src", n=4)
    df = pd.read_csv(src / "cases.csv", dtype=str, keep_default_na=False)
    df.loc[2, column] = value
    df.to_csv(src / "cases.csv", index=False)
    rc = cli("import-folder", "--images", src, "--csv", src / "cases.csv", *FOLDER_ARGS,
             "--out", tmp_path / "ds")
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "row 4" in err
    assert not (tmp_path / "ds").exists()


def test_imports_merge_and_id_clash_is_refused(tmp_path, capsys):
    src = write_folder_dataset(tmp_path / "src", n=4)
    reports = default_openi()
    xml_dir = write_openi_xml(tmp_path / "xml", reports)
    write_openi_images(tmp_path / "png", reports)
    out = tmp_path / "ds"
    assert cli("import-folder", "--images", src, "--csv", src / "cases.csv", *FOLDER_ARGS,
               "--out", out) == 0
    first = read_manifest(out)
    first_bytes = (out / "manifest.csv").read_bytes()
    assert cli("import-openi", "--images", tmp_path / "png", "--xml", xml_dir, "--views", "all",
               "--out", out) == 0
    merged = read_manifest(out)
    assert len(merged) == 4 + 7
    pd.testing.assert_frame_equal(merged.iloc[:4][first.columns].reset_index(drop=True), first)
    assert (out / "manifest.csv").read_bytes().startswith(first_bytes)  # earlier rows byte-identical
    before = (out / "manifest.csv").read_bytes()
    # a folder whose file names equal Open-I ids would overwrite them: refused up front
    clash = tmp_path / "clash"
    write_image(clash / "CXR1_1_IM-0001-3001.png", 64, 64)
    (clash / "c.csv").write_text("file,text\nCXR1_1_IM-0001-3001.png,hello\n")
    capsys.readouterr()
    assert cli("import-folder", "--images", clash, "--csv", clash / "c.csv", "--image-col", "file",
               "--findings-col", "text", "--out", out) == 2
    assert "--id-prefix" in capsys.readouterr().err
    assert (out / "manifest.csv").read_bytes() == before
    assert cli("import-folder", "--images", clash, "--csv", clash / "c.csv", "--image-col", "file",
               "--findings-col", "text", "--id-prefix", "ext-", "--out", out) == 0
    assert "ext-CXR1_1_IM-0001-3001" in set(read_manifest(out)["id"])
    # same id from another file of the same source: refused, earlier image kept
    other = tmp_path / "other"
    write_image(other / "case 0.png", 64, 64)
    (other / "c.csv").write_text("file,text\ncase 0.png,other\n")
    before = (out / "manifest.csv").read_bytes()
    capsys.readouterr()
    assert cli("import-folder", "--images", other, "--csv", other / "c.csv", "--image-col", "file",
               "--findings-col", "text", "--out", out) == 2
    assert "was imported earlier from" in capsys.readouterr().err
    assert (out / "manifest.csv").read_bytes() == before


def test_nothing_importable_exits_1_and_lists_why(tmp_path, capsys):
    src = tmp_path / "src"
    write_image(src / "a.png", 20, 20)
    corrupt_file(src / "a.png")
    (src / "c.csv").write_text("file,text\na.png,hello\n")
    out = tmp_path / "ds"
    assert cli("import-folder", "--images", src, "--csv", src / "c.csv", "--image-col", "file",
               "--findings-col", "text", "--out", out) == 1
    assert "failed 1" in capsys.readouterr().out
    assert "a.png" in (out / "import_problems.csv").read_text()
    assert len(read_manifest(out)) == 0


def test_mimic_image_missing_from_split_table_is_skipped_and_listed(tmp_path):
    root = tmp_path / "mimic"
    images, _ = write_mimic(root)
    split = pd.read_csv(root / "mimic-cxr-2.0.0-split.csv", dtype=str)
    split[split["dicom_id"] != images[0].dicom_id].to_csv(root / "mimic-cxr-2.0.0-split.csv", index=False)
    out = tmp_path / "ds"
    assert cli("import-mimic", "--root", root, "--out", out, "--workers", 1) == 0
    assert images[0].dicom_id not in set(read_manifest(out)["id"])
    problems = pd.read_csv(out / "import_problems.csv", dtype=str)
    assert problems.loc[problems["id"] == images[0].dicom_id, "problem"].str.contains("split table").all()
