"""``python -m eclip.data build-eval``: the paper's evaluation sets from fixtures in each
dataset's exact public format (CheXpert train.csv, MIMIC-CXR-JPG tables, RSNA
stage_2_train_labels.csv + DICOMs, NIH Data_Entry_2017.csv + test_list.txt, Open-I Kaggle
CSVs), then scored by ``python -m eclip.evaluate`` with the paper's prompt sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.formats import (MIMIC_CHEXPERT_COLUMNS, MimicImage, MimicStudy, OpenIFixture,
                          default_openi, dicom_id, write_image, write_mimic, write_openi_images,
                          write_openi_kaggle)
from data.test_images import write_dicom
from eclip.data.__main__ import main
from eclip.data.evalsets.sampling import COMPETITION, OBSERVATIONS
from eclip.data.manifest import LABELS, read_manifest
from eclip.model.prompts import load_prompt_set

CHEXPERT_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding",
                    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
                    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
                    "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices")
NIH_COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
               "Patient Gender", "View Position", "OriginalImage[Width", "Height]",
               "OriginalImagePixelSpacing[x", "y]")


def build(name: str, root: Path, out: Path, *extra) -> int:
    return main([str(a) for a in ("-q", "build-eval", name, "--root", root, "--out", out,
                                  "--workers", 1, "--no-progress", *extra)])


# ----------------------------------------------------------------------------- CheXpert

def write_chexpert(parent: Path, rows: list[dict]) -> Path:
    """CheXpert-v1.0-small/train.csv whose Path column starts with the folder's own name."""
    root = parent / "CheXpert-v1.0-small"
    table = []
    for n, spec in enumerate(rows):
        rel = f"CheXpert-v1.0-small/train/patient{n:05d}/study1/view1_{spec.get('view', 'frontal')}.jpg"
        write_image(parent / rel, 72, 64, seed=n, fmt="JPEG")
        labels = {lab: "" for lab in LABELS} | {k: v for k, v in spec.items() if k in LABELS}
        table.append({"Path": rel, "Sex": "Female", "Age": 60, "AP/PA": "AP",
                      "Frontal/Lateral": "Lateral" if spec.get("view") == "lateral" else "Frontal",
                      **labels})
    pd.DataFrame(table, columns=CHEXPERT_COLUMNS).to_csv(root / "train.csv", index=False)
    return root


def chexpert_rows() -> tuple[list[dict], set[int]]:
    """Three single-positive candidates per class, and distractors the rule must reject."""
    rows = []
    for cls in COMPETITION:
        rows += [{cls: "1.0", "Support Devices": "0.0"}, {cls: "1.0"}, {cls: "1.0", "No Finding": ""}]
    bad = [{"Atelectasis": "1.0", "Edema": "-1.0"},          # uncertain elsewhere
           {"Cardiomegaly": "1.0", "view": "lateral"},        # not frontal
           {"Cardiomegaly": "1.0", "Edema": "1.0"},           # two positives
           {"Edema": "-1.0"},                                 # uncertain itself
           {"Consolidation": "1.0", "Support Devices": "1.0"},  # a non-competition positive
           {"No Finding": "1.0"}]
    return rows + bad, set(range(len(rows), len(rows) + len(bad)))


def test_chexpert_5x200_rule(tmp_path):
    rows, bad = chexpert_rows()
    root = write_chexpert(tmp_path, rows)
    out = tmp_path / "cx"
    assert build("chexpert-5x200", root, out, "--per-class", 2) == 0
    df = read_manifest(out, check_files=True)
    assert len(df) == 10 and set(df["split"]) == {"test"} and set(df["source"]) == {"chexpert-5x200"}
    assert df["eval_class"].value_counts().to_dict() == {c: 2 for c in COMPETITION}
    assert not {f"patient{n:05d}_study1_view1_frontal" for n in bad} & set(df["id"])
    for rec in df.to_dict("records"):  # the class is the one positive; nothing uncertain
        assert [o for o in OBSERVATIONS if rec[o] == 1.0] == [rec["eval_class"]]
        assert not any(rec[o] == -1.0 for o in OBSERVATIONS)
    assert not df["patient_key"].str.contains("patient").any()


def test_chexpert_draw_is_seeded_and_independent_of_row_order(tmp_path):
    rows, _ = chexpert_rows()
    a = write_chexpert(tmp_path / "a", rows)
    b = write_chexpert(tmp_path / "b", rows)
    table = pd.read_csv(b / "train.csv", dtype=str, keep_default_na=False)
    table.iloc[::-1].to_csv(b / "train.csv", index=False)
    ids = {}
    for key, root, seed in (("a", a, 0), ("b", b, 0), ("seed1", a, 1)):
        assert build("chexpert-5x200", root, tmp_path / f"out-{key}", "--per-class", 2, "--seed", seed) == 0
        ids[key] = sorted(read_manifest(tmp_path / f"out-{key}")["id"])
    assert ids["a"] == ids["b"] and ids["a"] != ids["seed1"]


def test_too_few_candidates_stops_before_writing(tmp_path, capsys):
    rows, _ = chexpert_rows()
    root = write_chexpert(tmp_path, rows)
    assert build("chexpert-5x200", root, tmp_path / "cx", "--per-class", 4) == 2
    err = capsys.readouterr().err
    assert "too few candidates for 4 per class" in err and "--per-class" in err
    assert not (tmp_path / "cx").exists()


# ----------------------------------------------------------------------------- MIMIC

def test_mimic_5x200_from_the_test_split_frontal_only(tmp_path):
    images, studies = [], []
    for k, cls in enumerate(COMPETITION * 2):
        split = "test" if k < 5 else "train"
        sid, stid = f"1{k:07d}", f"5{k:07d}"
        labels = {c: "" for c in MIMIC_CHEXPERT_COLUMNS[2:]} | {cls: "1.0"}
        studies.append(MimicStudy(sid, stid, f"Findings of {cls}.", f"{cls}.", labels))
        images.append(MimicImage(dicom_id(k), sid, stid, "PA", split, seed=k))
        images.append(MimicImage(dicom_id(100 + k), sid, stid, "LATERAL", split, seed=k))
    write_mimic(tmp_path / "mimic", images, studies)
    out = tmp_path / "mm"
    assert build("mimic-5x200", tmp_path / "mimic", out, "--per-class", 1) == 0
    df = read_manifest(out, check_files=True)
    assert sorted(df["id"]) == sorted(dicom_id(k) for k in range(5))
    assert set(df["view"]) == {"PA"} and df["findings"].str.startswith("Findings of").all()
    assert build("mimic-5x200", tmp_path / "mimic", tmp_path / "m2", "--per-class", 2) == 2
    assert build("mimic-5x200", tmp_path / "mimic", tmp_path / "m3", "--per-class", 2,
                 "--source-splits", "test,train") == 0


# ----------------------------------------------------------------------------- RSNA

def write_rsna(root: Path, n: int = 20) -> pd.DataFrame:
    rows = []
    (root / "stage_2_train_images").mkdir(parents=True)
    for k in range(n):
        pid = f"{k:04x}cfab-14fd-4e49-80ba-63a80b6bddd{k % 10}"
        write_dicom(root / "stage_2_train_images" / f"{pid}.dcm",
                    (np.arange(64 * 64).reshape(64, 64) * (k + 1) % 4096).astype(np.uint16),
                    bits_stored=12)
        if k % 3 == 0:  # pneumonia: one row per box
            rows += [{"patientId": pid, "x": 264.0, "y": 152.0, "width": 213.0, "height": 379.0, "Target": 1},
                     {"patientId": pid, "x": 562.0, "y": 152.0, "width": 256.0, "height": 453.0, "Target": 1}]
        else:
            rows.append({"patientId": pid, "x": None, "y": None, "width": None, "height": None, "Target": 0})
    table = pd.DataFrame(rows)
    table.to_csv(root / "stage_2_train_labels.csv", index=False)
    return table


def test_rsna_reproduces_gloria_test_split(tmp_path):
    from sklearn.model_selection import train_test_split

    table = write_rsna(tmp_path / "rsna")
    # GLoRIA's preprocess_pneumonia_data, step by step
    df = table.assign(bbox=table["Target"])[["patientId", "bbox"]].groupby("patientId").agg(list).reset_index()
    df["Target"] = df["bbox"].apply(lambda b: int(1 in b))
    _, test_val = train_test_split(df, test_size=0.3, random_state=0)
    expected, _ = train_test_split(test_val, test_size=0.5, random_state=0)
    out = tmp_path / "rs"
    assert build("rsna-pneumonia", tmp_path / "rsna", out) == 0
    got = read_manifest(out, check_files=True).set_index("id")
    assert sorted(got.index) == sorted(expected["patientId"])
    want = expected.set_index("patientId")["Target"]
    assert (got["Pneumonia"] == want.loc[got.index].astype(float)).all()
    assert set(got["eval_class"]) <= {"Pneumonia", "No Pneumonia"}


# ----------------------------------------------------------------------------- CXR14

def write_cxr14(root: Path) -> list[str]:
    """Two single-label images per class (in images_001/images/), plus a multi-label image,
    a Hernia image, and one per class outside test_list.txt; returns the test names."""
    from eclip.data.evalsets.cxr14 import CLASSES

    rows, test = [], []
    for k, label in enumerate([*CLASSES, *CLASSES, *CLASSES, "Atelectasis|Effusion", "Hernia"]):
        name = f"{k:08d}_000.png"
        write_image(root / "images_001" / "images" / name, 64, 64, seed=k)
        rows.append({"Image Index": name, "Finding Labels": label, "Follow-up #": 0,
                     "Patient ID": k, "Patient Age": 58, "Patient Gender": "M", "View Position": "PA",
                     "OriginalImage[Width": 2682, "Height]": 2749, "OriginalImagePixelSpacing[x": 0.143,
                     "y]": 0.143})
        if k < 2 * len(CLASSES) or k >= 3 * len(CLASSES):
            test.append(name)
    pd.DataFrame(rows, columns=NIH_COLUMNS).to_csv(root / "Data_Entry_2017.csv", index=False)
    (root / "test_list.txt").write_text("\n".join(test) + "\n")
    return test


def test_cxr14_14x100_single_label_from_the_test_list(tmp_path):
    test = write_cxr14(tmp_path / "nih")
    out = tmp_path / "nih-eval"
    assert build("cxr14-14x100", tmp_path / "nih", out, "--per-class", 2) == 0
    df = read_manifest(out, check_files=True)
    assert len(df) == 28 and set(df["id"]) <= {Path(t).stem for t in test}
    assert "Hernia" not in set(df["eval_class"]) and df["eval_class"].value_counts().eq(2).all()
    mass = df[df["eval_class"] == "Mass"].iloc[0]
    assert (mass["Mass"], mass["Nodule"], mass["Lung Lesion"]) == ("1", "0", 1.0)
    assert build("cxr14-14x100", tmp_path / "nih", tmp_path / "x", "--per-class", 3) == 2


# ----------------------------------------------------------------------------- Open-I

def test_openi_retrieval_frontal_with_findings_only(tmp_path):
    reports = default_openi() + [OpenIFixture(5, "", "No acute disease.", ["normal"],
                                              [("CXR5_IM-0005-1001", "Frontal")])]
    root = tmp_path / "openi"
    write_openi_kaggle(root, reports)
    write_openi_images(root / "images" / "images_normalized", reports, kaggle=True)
    out = tmp_path / "oi"
    assert build("openi-retrieval", root, out) == 0
    df = read_manifest(out, check_files=True)
    assert sorted(df["id"]) == ["CXR1_1_IM-0001-3001", "CXR2_IM-0652-1001", "CXR3_IM-1384-1001",
                                "CXR4_IM-2050-1001"]
    assert set(df["split"]) == {"test"} and df["findings"].str.len().gt(0).all()
    assert "no findings text" in (out / "import_problems.csv").read_text()


# ----------------------------------------------------------------------------- scored

def test_paper_prompt_sets_load_with_the_reference_prompts():
    cx = load_prompt_set("paper-chexpert5x200")
    assert [c.name for c in cx.classes] == list(COMPETITION)
    assert "mild subsegmental atelectasis at the mid lung zone" in cx.classes[0].prompts
    rsna = load_prompt_set("paper-rsna")
    assert [c.negated for c in rsna.classes] == [True, False] and len(rsna.classes[1].prompts) == 384
    nih = load_prompt_set("paper-cxr14x100")
    assert len(nih.classes) == 14 and nih.classes[-1].prompts == ("an x-ray of a lung with pleural_thickening",)


@pytest.mark.slow
@pytest.mark.parametrize("name, prompts, support", [
    ("cxr14-14x100", "paper-cxr14x100", [1] * 14),   # 1 per class
    ("rsna-pneumonia", "paper-rsna", None),           # GLoRIA's 15 %: 3 of 20 patients
])
def test_evaluate_runs_on_a_built_set(tmp_path, name, prompts, support):
    from eclip.evaluate.__main__ import main as evaluate_main
    from evaluate.conftest import save_micro_checkpoint

    if name == "cxr14-14x100":
        write_cxr14(tmp_path / "src")
    else:
        write_rsna(tmp_path / "src")
    extra = ["--per-class", 1] if name == "cxr14-14x100" else []
    assert build(name, tmp_path / "src", tmp_path / "ds", *extra) == 0
    ckpt = save_micro_checkpoint(tmp_path / "ckpt", seed=0)
    rc = evaluate_main(["--checkpoint", str(ckpt), "--data", str(tmp_path / "ds"), "--prompts", prompts,
                        "--out", str(tmp_path / "r.json"), "--n-boot", "20", "--cache",
                        str(tmp_path / "cache"), "--quiet"])
    assert rc == 0
    result = json.loads((tmp_path / "r.json").read_text())["subsets"]["all"]
    got = result["details"][f"zs/{prompts}"]["support"]
    assert got == support if support else sum(got) == 3  # every built row is scored
    assert 0.0 <= result["metrics"][f"zs/{prompts}/accuracy"]["value"] <= 1.0
    # these sets have no report text: no retrieval numbers (they would read R@1 = 1.0)
    assert not any(k.startswith("retrieval/") for k in result["metrics"])
    assert "retrieval: fewer than 2 distinct report texts" in result["details"]["skipped"]


@pytest.mark.parametrize("cmd", ["build-eval", "label"])
def test_new_subcommands_have_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert f"usage: python -m eclip.data {cmd}" in capsys.readouterr().out
