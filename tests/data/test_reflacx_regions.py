"""Real-data ground truth and readers: ``import-mimic`` keeps each REFLACX reading's own heatmap,
rasterises REFLACX's abnormality ellipses into per-label masks and EGD-CXR's anatomy boxes into
lung fields, and ``python -m eclip.explain agreement`` then reports a ceiling and a pointing game
on the imported dataset. Fixtures are the public formats (tests/data/formats.py)."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.data.__main__ import main as data_main
from eclip.data.gaze import load_heatmap
from eclip.data.gaze.regions import Shape, read_reflacx_ellipses, shape_mask
from eclip.data.manifest import read_manifest
from eclip.explain import regions
from eclip.explain.cli import main as explain_main

from .formats import (
    ReflacxReading,
    write_egd,
    write_egd_boxes,
    write_mimic,
    write_reflacx,
    write_reflacx_ellipses,
)

# image 6 of default_mimic(): JPEG 60 x 50, DICOM grid 3000 x 2500, stored at 256 x 213
ATELECTASIS = {"xmin": 250, "ymin": 300, "xmax": 750, "ymax": 900, "certainty": 5,
               "labels": ["Atelectasis", "Consolidation"]}
CONSOLIDATION = {"xmin": 1250, "ymin": 1800, "xmax": 1750, "ymax": 2400, "certainty": 4,
                 "labels": ["Consolidation"]}
LESS_LIKELY = {"xmin": 1800, "ymin": 200, "xmax": 2300, "ymax": 600, "certainty": 2,
               "labels": ["Pleural abnormality"]}
DISCARDED = {"xmin": 100, "ymin": 2500, "xmax": 500, "ymax": 2900, "certainty": 5, "labels": ["Atelectasis"]}
# image 0: DICOM grid 2400 x 2000
LUNGS = [("right lung", 200, 900, 300, 1900), ("left lung", 1100, 1800, 300, 1900),
         ("cardiac silhouette", 800, 1300, 1100, 1800)]


def ellipse_area(box: dict, native, out_shape) -> float:
    """pi/4 x the box's width and height in working pixels."""
    sy, sx = out_shape[0] / native[0], out_shape[1] / native[1]
    return np.pi / 4 * (box["xmax"] - box["xmin"]) * sx * (box["ymax"] - box["ymin"]) * sy


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """MIMIC-CXR-JPG + EGD-CXR (with bounding_boxes.csv) + REFLACX (test image 6 read twice, each
    reading with its ellipses, plus a discarded reading; test image 7 once), imported once."""
    tmp = tmp_path_factory.mktemp("reflacx")
    images, _ = write_mimic(tmp / "mimic")
    write_egd(tmp / "egd", [images[0], images[3]])
    write_egd_boxes(tmp / "egd", {images[0].dicom_id: LUNGS, images[3].dicom_id: LUNGS[1:]})
    write_reflacx(tmp / "reflacx", [
        ReflacxReading("P102R108387", images[0], target=(0.7, 0.6)),
        ReflacxReading("P102R108388", images[6], target=(0.7, 0.6)),
        ReflacxReading("P300R915000", images[6], target=(0.2, 0.2), phase=2),
        ReflacxReading("P300R915001", images[6], target=(0.5, 0.9), phase=2, discarded=True),
        ReflacxReading("P300R915002", images[7], target=(0.5, 0.5), phase=2),  # sAUC's negatives
    ])
    write_reflacx_ellipses(tmp / "reflacx", "P102R108388", [CONSOLIDATION])
    write_reflacx_ellipses(tmp / "reflacx", "P300R915000", [ATELECTASIS, LESS_LIKELY])
    write_reflacx_ellipses(tmp / "reflacx", "P300R915001", [DISCARDED])
    out = tmp / "ds"
    assert data_main([str(a) for a in ("import-mimic", "--root", tmp / "mimic", "--egd", tmp / "egd",
                                       "--reflacx", tmp / "reflacx", "--out", out, "--workers", 1)]) == 0
    df = read_manifest(out, check_files=True).set_index("id", drop=False)
    return {"out": out, "df": df, "images": images, "tmp": tmp}


def test_a_rasterised_ellipse_has_the_area_of_the_ellipse_in_its_box():
    native, out_shape = (3000, 2500), (256, 213)
    mask = shape_mask(Shape("ellipse", "x", 1250, 1800, 1750, 2400), native, out_shape)
    assert abs(mask.sum() / ellipse_area(CONSOLIDATION, native, out_shape) - 1) < 0.03
    ys, xs = np.nonzero(mask)  # centred on the box's centre (1500, 2100) in working pixels
    assert abs(xs.mean() - (1500 + 0.5) * 213 / 2500 + 0.5) < 0.5
    assert abs(ys.mean() - (2100 + 0.5) * 256 / 3000 + 0.5) < 0.5
    box = shape_mask(Shape("box", "x", 1250, 1800, 1750, 2400), native, out_shape)
    assert abs(box.sum() / (ellipse_area(CONSOLIDATION, native, out_shape) * 4 / np.pi) - 1) < 0.05


def test_ellipse_reader_keeps_possibly_or_higher_once_per_label(imported):
    shapes = read_reflacx_ellipses(imported["tmp"] / "reflacx/main_data/P300R915000/anomaly_location_ellipses.csv")
    assert sorted(s.label for s in shapes) == ["Atelectasis", "Consolidation"]  # certainty 2 dropped
    assert {(s.kind, s.xmin, s.ymin, s.xmax, s.ymax) for s in shapes} == {("ellipse", 250, 300, 750, 900)}


def test_each_reading_keeps_its_own_map_beside_the_average(imported):
    out, df = imported["out"], imported["df"]
    did = imported["images"][6].dicom_id
    folder = out / "gaze" / did / "readings"
    assert sorted(p.name for p in folder.glob("*.npz")) == ["P102R108388.npz", "P300R915000.npz"]
    first, second = (load_heatmap(folder / f"{r}.npz") for r in ("P102R108388", "P300R915000"))
    for hm, (ty, tx) in ((first, (0.7, 0.6)), (second, (0.2, 0.2))):  # each at its own reader's target
        peak = np.unravel_index(hm.argmax(), hm.shape)
        assert abs(peak[0] / hm.shape[0] - ty) < 0.08 and abs(peak[1] / hm.shape[1] - tx) < 0.08
    mean = (first / first.sum() + second / second.sum()) / 2
    stored = load_heatmap(out / df.loc[did, "gaze_path"])
    assert np.abs(mean / mean.max() - stored).max() < 5e-3  # the averaged map is the mean of the two
    assert int(df.loc[did, "n_readings"]) == 2


def test_ellipses_become_per_label_masks_the_pointing_game_reads(imported):
    out, df = imported["out"], imported["df"]
    did = imported["images"][6].dicom_id
    with np.load(out / df.loc[did, "mask_path"]) as z:
        masks = {k: z[k] for k in z.files}
    assert sorted(masks) == ["Atelectasis", "Consolidation"]  # no low-certainty label
    shape = masks["Atelectasis"].shape
    assert shape == load_heatmap(out / df.loc[did, "gaze_path"]).shape
    native = (3000, 2500)
    assert abs(masks["Atelectasis"].sum() / ellipse_area(ATELECTASIS, native, shape) - 1) < 0.03
    both = ellipse_area(ATELECTASIS, native, shape) + ellipse_area(CONSOLIDATION, native, shape)
    assert abs(masks["Consolidation"].sum() / both - 1) < 0.03  # union over the two readings
    truth = regions.truth_region(out, df.loc[did], shape)
    assert truth.sum() == (masks["Atelectasis"] | masks["Consolidation"]).sum()
    # the discarded reading's ellipse (bottom left) is nowhere
    assert not truth[int(0.85 * shape[0]):, : int(0.2 * shape[1])].any()
    assert df.loc[imported["images"][0].dicom_id, "mask_path"] == ""  # its reading drew no ellipse


def test_egd_anatomy_boxes_give_lung_fields_not_lesion_truth(imported):
    out, df = imported["out"], imported["df"]
    row = df.loc[imported["images"][0].dicom_id]
    shape = load_heatmap(out / row["gaze_path"]).shape
    region = regions.lung_region(out, row, shape)
    assert region.source == "annotation" and "EGD-CXR" in region.description
    expected = shape_mask(Shape("box", "", 200, 300, 1800, 1900), (2400, 2000), shape)  # lungs + between
    assert (region.mask == expected).all()
    assert regions.truth_region(out, row, shape) is None  # anatomy is never lesion truth
    one_lung = df.loc[imported["images"][3].dicom_id]  # only the left lung outlined: heuristic
    assert regions.lung_region(out, one_lung, shape).source == "heuristic"


def test_agreement_reports_a_reader_ceiling_and_pointing_game_on_imported_data(imported, capsys):
    capsys.readouterr()
    rc = explain_main(["agreement", "--checkpoint", "checkpoints/demo-eclip", "--data", str(imported["out"]),
                       "--split", "test", "--method", "gradcam", "--n-boot", "20"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in lines if ln.count("\t") == 9}
    ceiling = rows["ceiling: another reader"]
    assert ceiling[2] == "1"  # the one test image read twice
    assert all(cell != "n/a" for cell in ceiling[3:])  # every score, pointing game and mIoU included
    model = next(r for name, r in rows.items() if name.startswith("demo-eclip"))
    assert model[2] == "2" and all(cell != "n/a" for cell in model[3:])
    pointing, miou = model[8], model[9]  # only image 6 has ellipses: "0.000 [...] (n=1)"
    assert pointing.endswith("(n=1)") and float(pointing.split()[0]) in (0.0, 1.0)
    assert miou.endswith("(n=1)") and 0 <= float(miou.split()[0]) <= 1
    assert any(ln.startswith("demo-eclip gradcam CC") and "ceiling (another reader)" in ln for ln in lines)


def test_a_malformed_ellipse_file_stops_the_import_before_writing(tmp_path, capsys):
    images, _ = write_mimic(tmp_path / "mimic")
    write_reflacx(tmp_path / "reflacx", [ReflacxReading("P102R108388", images[6])])
    path = write_reflacx_ellipses(tmp_path / "reflacx", "P102R108388", [CONSOLIDATION])
    path.write_text(path.read_text().replace("certainty", "confidence"))
    rc = data_main([str(a) for a in ("import-mimic", "--root", tmp_path / "mimic", "--reflacx",
                                     tmp_path / "reflacx", "--out", tmp_path / "ds", "--workers", 1)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "anomaly_location_ellipses.csv" in err and "certainty" in err
    assert not (tmp_path / "ds" / "manifest.csv").exists()
