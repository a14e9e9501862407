"""`python -m eclip.data info`: counts and every kind of problem, text and JSON."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd

from eclip.data.__main__ import main
from eclip.data.info import inspect_dataset
from eclip.data.manifest import LABELS, save_array_npz


def _info(capsys, *args):
    capsys.readouterr()
    rc = main(["info", *map(str, args)])
    return rc, capsys.readouterr()


def test_info_counts_on_a_sound_dataset(tiny_dataset, capsys):
    rc, cap = _info(capsys, tiny_dataset, "--json")
    assert rc == 0
    r = json.loads(cap.out)
    df = pd.read_csv(tiny_dataset / "manifest.csv", dtype=str, keep_default_na=False)
    assert r["rows"] == len(df) and r["problems"] == []
    assert r["splits"] == df["split"].value_counts().to_dict()
    assert r["gaze"] == {"with": int((df["gaze_path"] != "").sum()), "without": int((df["gaze_path"] == "").sum())}
    assert r["views"] == {"PA": len(df)}
    for lab in LABELS:
        c = r["labels"][lab]
        assert c["1"] == (df[lab] == "1").sum() and c["blank"] == (df[lab] == "").sum()
        assert sum(c.values()) == len(df)
    rc, cap = _info(capsys, tiny_dataset)
    assert rc == 0 and "no problems found" in cap.out and "Cardiomegaly" in cap.out


def test_info_finds_every_kind_of_problem(tiny_dataset, tmp_path, capsys):
    root = tmp_path / "broken"
    shutil.copytree(tiny_dataset, root)
    df = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    gaze_rows = df.index[df["gaze_path"] != ""]
    (root / df.loc[1, "image_path"]).unlink()  # missing image
    df.loc[3, "gaze_path"] = "gaze/nowhere.npz"  # missing heatmap
    save_array_npz(root / df.loc[gaze_rows[0], "gaze_path"],  # wrong shape
                   heatmap=np.ones((10, 12), np.float16))
    df.loc[5, "split"] = "val"  # unknown split
    df.loc[6, "Cardiomegaly"] = "2"  # bad label value
    df = pd.concat([df, df.iloc[[7]]], ignore_index=True)  # duplicate id
    df.to_csv(root / "manifest.csv", index=False)

    rc, cap = _info(capsys, root, "--json")
    assert rc == 1
    r = json.loads(cap.out)
    kinds = {p["kind"]: p for p in r["problems"]}
    assert set(kinds) == {"missing_image_files", "missing_gaze_files", "heatmap_or_mask_shape_mismatch",
                          "unknown_splits", "bad_label_values", "duplicate_ids"}
    assert kinds["duplicate_ids"]["examples"] == [df.loc[7, "id"]]
    assert kinds["unknown_splits"]["examples"] == [f"{df.loc[5, 'id']}: 'val'"]
    assert kinds["bad_label_values"]["examples"] == [f"{df.loc[6, 'id']}: Cardiomegaly='2'"]
    assert kinds["missing_image_files"]["count"] == 1
    assert "(10, 12)" in kinds["heatmap_or_mask_shape_mismatch"]["examples"][0]
    rc, cap = _info(capsys, root)
    assert rc == 1 and "PROBLEMS:" in cap.out and "no problems found" not in cap.out
    # the fast mode skips opening heatmaps
    r = inspect_dataset(root, check_shapes=False)
    assert "heatmap_or_mask_shape_mismatch" not in {p["kind"] for p in r["problems"]}


def test_info_missing_columns_and_missing_manifest(tmp_path, capsys):
    (tmp_path / "ds").mkdir()
    pd.DataFrame({"id": ["a"], "image_path": ["images/a.png"]}).to_csv(tmp_path / "ds" / "manifest.csv", index=False)
    rc, cap = _info(capsys, tmp_path / "ds", "--json")
    assert rc == 1
    kinds = {p["kind"]: p for p in json.loads(cap.out)["problems"]}
    assert "findings" in kinds["missing_columns"]["examples"]
    assert "missing_image_files" in kinds
    rc, cap = _info(capsys, tmp_path / "nothing")
    assert rc == 2 and "manifest.csv not found" in cap.err and "Traceback" not in cap.err
