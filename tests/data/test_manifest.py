import os
import stat

import numpy as np
import pandas as pd
import pytest

from eclip.data import manifest as m
from eclip.errors import ManifestError


def _row(i, **kw):
    row = {c: "" for c in m.REQUIRED_COLUMNS}
    row.update(id=f"r{i}", image_path=f"images/r{i}.png", split="train", view="PA",
               patient_key=f"p{i}", findings="Clear lungs.")
    row.update(kw)
    return row


def test_round_trip_keeps_labels_and_text(tmp_path):
    df = pd.DataFrame([_row(0, Cardiomegaly=1.0), _row(1, Cardiomegaly=-1.0), _row(2)])
    m.write_manifest(df, tmp_path)
    back = m.read_manifest(tmp_path)
    assert list(back.columns[: len(m.REQUIRED_COLUMNS)]) == list(m.REQUIRED_COLUMNS)
    assert back["Cardiomegaly"].tolist()[:2] == [1.0, -1.0]
    assert np.isnan(back["Cardiomegaly"].iloc[2])
    assert back["findings"].iloc[0] == "Clear lungs." and back["gaze_path"].iloc[0] == ""
    assert m.label_columns(back) == ["Cardiomegaly"]


def test_written_files_are_readable_by_others(tmp_path):
    m.write_manifest(pd.DataFrame([_row(0)]), tmp_path)
    mode = stat.S_IMODE(os.stat(m.manifest_path(tmp_path)).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(ManifestError, match="build-demo"):
        m.read_manifest(tmp_path)


def test_missing_columns_are_named(tmp_path):
    (tmp_path / "manifest.csv").write_text("id,image_path\nr0,a.png\n")
    with pytest.raises(ManifestError, match="findings"):
        m.read_manifest(tmp_path)


@pytest.mark.parametrize("value", ["2", "yes", "0.5"])
def test_bad_label_values_rejected(tmp_path, value):
    m.write_manifest(pd.DataFrame([_row(0)]), tmp_path)
    text = m.manifest_path(tmp_path).read_text().splitlines()
    text[0] += ",Edema"
    text[1] += f",{value}"
    m.manifest_path(tmp_path).write_text("\n".join(text) + "\n")
    with pytest.raises(ManifestError, match="Edema"):
        m.read_manifest(tmp_path)


def test_duplicate_ids_rejected(tmp_path):
    m.write_manifest(pd.DataFrame([_row(0), _row(0)]), tmp_path)
    with pytest.raises(ManifestError, match="more than once"):
        m.read_manifest(tmp_path)


def test_check_files_and_fingerprint(tmp_path):
    m.write_manifest(pd.DataFrame([_row(0)]), tmp_path)
    fp = m.fingerprint(tmp_path)
    with pytest.raises(ManifestError, match="missing"):
        m.read_manifest(tmp_path, check_files=True)
    m.write_manifest(pd.DataFrame([_row(0, findings="Effusion.")]), tmp_path)
    assert m.fingerprint(tmp_path) != fp
