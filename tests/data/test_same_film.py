"""One film in two files: the importer warns, naming both files, from a digest of the decoded
pixels (names, encodings and formats aside)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
from PIL import Image

from eclip.data.importers.worker import pixel_digest
from eclip.data.manifest import read_manifest

from .test_radiograph import import_folder, problems, sample


def _film(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (96, 96), dtype=np.uint8), mode="L").save(path)


def test_the_same_dicom_stored_twice_is_named_at_import(tmp_path, caplog):
    plain, j2k = sample("RG1_UNCR.dcm"), sample("RG1_J2KR.dcm")  # uncompressed and lossless JPEG 2000
    with caplog.at_level(logging.WARNING, logger="eclip.data.importers.engine"):
        rc, out = import_folder(tmp_path, {"plain": plain, "j2k": j2k})
    assert rc == 0
    assert read_manifest(out)["id"].tolist() == ["plain", "j2k"]  # both kept: a warning, not a refusal
    said = [r.getMessage() for r in caplog.records if "same film" in r.getMessage()]
    assert len(said) == 1 and str(plain) in said[0] and str(j2k) in said[0], said
    assert problems(out) == {"j2k": f"same film as plain ({plain}): identical decoded pixels; both imported"}


def test_copies_are_noticed_across_imports_and_different_films_are_not(tmp_path, caplog):
    src = tmp_path / "films"
    src.mkdir()
    _film(src / "a.png", 0)
    _film(src / "b.png", 1)  # another film of the same size
    shutil.copy(src / "a.png", src / "a-copy.png")
    rc, out = import_folder(tmp_path, {"a": src / "a.png", "b": src / "b.png"})
    assert rc == 0
    assert not (out / "import_problems.csv").exists() or not problems(out)
    with caplog.at_level(logging.WARNING, logger="eclip.data.importers.engine"):
        rc, out = import_folder(tmp_path, {"a": src / "a.png", "b": src / "b.png", "c": src / "a-copy.png"})
    assert rc == 0
    said = [r.getMessage() for r in caplog.records if "same film" in r.getMessage()]
    assert len(said) == 1 and str(src / "a.png") in said[0] and str(src / "a-copy.png") in said[0]
    expected = {"c": f"same film as a ({src / 'a.png'}): identical decoded pixels; both imported"}
    assert problems(out) == expected
    rc, out = import_folder(tmp_path, {"a": src / "a.png", "b": src / "b.png", "c": src / "a-copy.png"})
    assert rc == 0 and problems(out) == expected  # a rerun (nothing to do) lists it again
    # the manifest a visitor's pages read carries no source file and no digest
    manifest = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert not manifest.apply(lambda col: col.str.contains("a-copy|[0-9a-f]{32}")).any().any()


def test_the_digest_is_of_the_pixels_shape_and_type():
    a = np.zeros((4, 6), np.float32)
    assert pixel_digest(a) == pixel_digest(a.copy())
    assert pixel_digest(a) != pixel_digest(a.reshape(6, 4)) != pixel_digest(a.astype(np.float64))
    assert pixel_digest(a) != pixel_digest(np.where(np.arange(24).reshape(4, 6) == 5, 1e-6, a).astype(np.float32))
