"""Splits are a seeded hash of the source patient id: the same table and seed give the same
split in any folder, for any importer's salt; the patient salt never lives in a dataset folder;
`info` warns when a patient's images sit in more than one split."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd

from eclip.data.__main__ import main
from eclip.data.importers.patients import PatientHasher, hashed_split
from eclip.data.manifest import read_manifest

from .formats import write_image

N = 40  # patients: two random 80/10/10 splits agree on all of them with chance ~1e-7


def write_table(src: Path) -> Path:
    """Two images per patient, small integer patient ids (the easiest to recover from a key)."""
    rows = []
    for i in range(2 * N):
        write_image(src / f"img{i}.png", 64, 64, seed=i)
        rows.append({"file": f"img{i}.png", "text": "Lungs are clear.", "patient": str(i // 2)})
    pd.DataFrame(rows).to_csv(src / "cases.csv", index=False)
    return src


def import_into(src: Path, out: Path, salt_file: Path, monkeypatch, seed: str = "7") -> pd.DataFrame:
    monkeypatch.setenv("ECLIP_PATIENT_SALT_FILE", str(salt_file))
    assert main(["import-folder", "--images", str(src), "--csv", str(src / "cases.csv"), "--image-col",
                 "file", "--findings-col", "text", "--patient-col", "patient", "--seed", seed,
                 "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    return read_manifest(out).set_index("id")


def test_same_csv_and_seed_give_the_same_split_in_two_folders(tmp_path, monkeypatch):
    src = write_table(tmp_path / "src")
    # two people importing the same table: each with their own salt, into their own folder
    a = import_into(src, tmp_path / "a", tmp_path / "alice" / "salt", monkeypatch)
    b = import_into(src, tmp_path / "b", tmp_path / "bob" / "salt", monkeypatch)
    assert a["split"].to_dict() == b["split"].to_dict()
    assert set(a["split"]) == {"train", "validate", "test"}
    assert a.groupby("patient_key")["split"].nunique().max() == 1  # a patient's images share a split
    assert (a["patient_key"] != b["patient_key"]).all()  # keys are each importer's own
    other = import_into(src, tmp_path / "c", tmp_path / "alice" / "salt", monkeypatch, seed="8")
    assert other["split"].to_dict() != a["split"].to_dict()  # the seed does choose the split
    assert a.loc["img0", "split"] == hashed_split("0", 7)


def test_the_salt_stays_outside_the_dataset_folder(tmp_path, monkeypatch):
    src = write_table(tmp_path / "src")
    salt_file = tmp_path / "home" / ".config" / "eclip" / "patient_salt"
    df = import_into(src, tmp_path / "ds", salt_file, monkeypatch)
    salt = salt_file.read_text().strip()
    assert len(salt) == 32 and stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    for path in (tmp_path / "ds").rglob("*"):
        if path.is_file():
            assert salt.encode() not in path.read_bytes(), path
    # the same user importing again keeps each patient's key
    again = import_into(src, tmp_path / "ds2", salt_file, monkeypatch)
    assert again["patient_key"].to_dict() == df["patient_key"].to_dict()
    assert df.loc["img0", "patient_key"] == PatientHasher(tmp_path / "x", salt_file=salt_file)("0")


def test_info_warns_when_a_patient_spans_splits_and_when_the_salt_is_in_the_folder(tmp_path, monkeypatch, capsys):
    src = write_table(tmp_path / "src")
    out = tmp_path / "ds"
    df = import_into(src, out, tmp_path / "salt", monkeypatch)
    manifest = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    key = df.loc["img0", "patient_key"]
    manifest.loc[manifest["id"] == "img1", "split"] = "test" if df.loc["img0", "split"] != "test" else "train"
    manifest.to_csv(out / "manifest.csv", index=False)
    (out / ".import" / "patient_salt").write_text("0" * 32 + "\n")  # an import from before the move
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0  # warnings, not problems
    warned = {w["kind"]: w for w in json.loads(capsys.readouterr().out)["warnings"]}
    assert warned["patients_in_several_splits"]["count"] == 1
    assert warned["patients_in_several_splits"]["examples"][0].startswith(f"{key}: ")
    assert "patient_salt_inside_folder" in warned
    main(["info", str(out)])
    text = capsys.readouterr().out
    assert "patients_in_several_splits: 1" in text and "no problems found; 2 kind(s) of warning above" in text
