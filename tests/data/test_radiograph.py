"""Only chest radiographs get in: an import refuses a CT, an MR, a nuclear-medicine scan, a
tibia and a thumbnail (``eclip.data.radiograph``), takes them flagged with --allow-non-chest,
and reads the view from DICOM ViewPosition. Real files from pydicom-data (read in place, never
downloaded) and synthetic DICOMs written with pydicom."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eclip.data.__main__ import main
from eclip.data.manifest import read_manifest
from eclip.data.radiograph import MIN_SIDE, NotAChestRadiograph, load_upload

from .test_images import ramp, write_dicom


def sample(name: str) -> Path:
    """A pydicom test file, from the installed packages only (download=False)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom-data sample {name} is not installed")
    return Path(path)


# (file, the attribute that decides, the words the refusal uses)
NOT_CHEST = [
    ("CT_small.dcm", "Modality 'CT'", "this is a CT scan, not a chest X-ray"),
    ("MR_small.dcm", "Modality 'MR'", "this is an MRI scan, not a chest X-ray"),
    ("JPEG2000.dcm", "Modality 'NM'", "this is a nuclear-medicine scan, not a chest X-ray"),
    ("RG3_UNCR.dcm", "BodyPartExamined 'EXTREMITY'", "this X-ray shows the extremity, not the chest"),  # a tibia
]


def import_folder(tmp_path: Path, files: dict[str, Path], *extra) -> tuple[int, Path]:
    """import-folder of ``files`` (id -> path, absolute) into tmp_path/ds."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    pd.DataFrame([{"file": str(p), "text": "Lungs are clear.", "id": i} for i, p in files.items()]) \
        .to_csv(src / "c.csv", index=False)
    out = tmp_path / "ds"
    rc = main(["import-folder", "--images", str(src), "--csv", str(src / "c.csv"), "--image-col", "file",
               "--findings-col", "text", "--id-col", "id", "--out", str(out), "--workers", "1",
               "--no-progress", *extra])
    return rc, out


def problems(out: Path) -> dict[str, str]:
    df = pd.read_csv(out / "import_problems.csv", dtype=str, keep_default_na=False)
    return dict(zip(df["id"], df["problem"]))


def test_real_ct_mr_nm_and_tibia_are_refused_and_the_chest_film_gets_its_view(tmp_path):
    files = {name.split(".")[0]: sample(name) for name, *_ in NOT_CHEST}
    files["chest"] = sample("RG1_UNCR.dcm")  # CR, CHEST, PA
    rc, out = import_folder(tmp_path, files)
    assert rc == 0
    df = read_manifest(out)
    assert df["id"].tolist() == ["chest"]
    assert df.loc[0, "view"] == "PA"  # from ViewPosition: the table gave no view
    said = problems(out)
    for name, attribute, words in NOT_CHEST:
        why = said[name.split(".")[0]]
        assert words in why and attribute in why and "--allow-non-chest" in why, why


def test_allow_non_chest_imports_them_flagged_and_info_says_so(tmp_path, capsys):
    rc, out = import_folder(tmp_path, {"ct": sample("CT_small.dcm"), "tibia": sample("RG3_UNCR.dcm")},
                            "--allow-non-chest")
    assert rc == 0
    df = read_manifest(out).set_index("id")
    assert "Modality 'CT'" in df.loc["ct", "non_chest"]
    assert "BodyPartExamined 'EXTREMITY'" in df.loc["tibia", "non_chest"] and df.loc["tibia", "view"] == "AP"
    capsys.readouterr()
    main(["info", str(out), "--json"])
    warned = {w["kind"]: w for w in json.loads(capsys.readouterr().out)["warnings"]}
    assert warned["non_chest_images"]["count"] == 2


def test_synthetic_dicoms_modality_body_part_and_view(tmp_path):
    def arr(k: int) -> np.ndarray:  # a ramp with a dark dot at row 10 + k: three different films
        a = ramp((96, 80), 0, 4095, np.uint16)
        a[10 + k, 40] = 0
        return a

    d = tmp_path / "dicom"
    d.mkdir()
    files = {
        "dx_ap": write_dicom(d / "a.dcm", arr(0), bits_stored=12, Modality="DX", BodyPartExamined="CHEST",
                             ViewPosition="AP"),
        "cr_ll": write_dicom(d / "b.dcm", arr(1), bits_stored=12, BodyPartExamined="CHEST_PA_LAT",
                             ViewPosition="LL"),
        "silent": write_dicom(d / "c.dcm", arr(2), bits_stored=12, Modality="", ViewPosition=""),
        "ct": write_dicom(d / "d.dcm", arr(3), bits_stored=12, Modality="CT", BodyPartExamined="CHEST"),
        "knee": write_dicom(d / "e.dcm", arr(4), bits_stored=12, BodyPartExamined="KNEE"),
        "small": write_dicom(d / "f.dcm", ramp((MIN_SIDE - 1, 200), 0, 4095, np.uint16), bits_stored=12),
    }
    rc, out = import_folder(tmp_path, files)
    assert rc == 0
    views = read_manifest(out).set_index("id")["view"].to_dict()
    assert views == {"dx_ap": "AP", "cr_ll": "LL", "silent": ""}  # a blank attribute is not held against it
    said = problems(out)
    assert set(said) == {"ct", "knee", "small"}
    assert "CT scan" in said["ct"] and "knee" in said["knee"]
    assert "too small" in said["small"] and "--allow-non-chest" not in said["small"]


def test_tiny_images_are_refused_even_with_allow_non_chest(tmp_path):
    src = tmp_path / "png"
    src.mkdir()
    Image.new("L", (1, 1), 128).save(src / "dot.png")
    Image.new("L", (300, 40), 128).save(src / "strip.png")
    Image.new("L", (64, 64), 128).save(src / "ok.png")
    rc, out = import_folder(tmp_path, {p.stem: p for p in sorted(src.iterdir())}, "--allow-non-chest")
    assert rc == 0
    assert read_manifest(out)["id"].tolist() == ["ok"]
    said = problems(out)
    assert "only 1x1 pixels" in said["dot"] and "only 300x40 pixels" in said["strip"]


def test_an_upload_is_refused_in_plain_words():
    for name, _, words in NOT_CHEST:  # the NM file is JPEG 2000: its header decides, before decoding
        with pytest.raises(NotAChestRadiograph) as err:
            load_upload(sample(name).read_bytes())
        text = str(err.value)
        assert text.startswith(f"uploaded image: {words}"), text
        for code in (name, ".dcm", "--", "Modality", "BodyPart", "allow"):
            assert code not in text, code
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    with pytest.raises(NotAChestRadiograph, match="too small"):
        load_upload(buf.getvalue())
    assert load_upload(sample("RG1_UNCR.dcm").read_bytes()).meta.view_position == "PA"
