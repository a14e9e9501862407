"""Where a map's mass sits: lung fields stored in the dataset folder (build-demo writes the
phantom's; without them a stated heuristic that says what is missing), the border band, and
the "mostly outside the lung fields" flag the Model vs gaze page shows."""

from __future__ import annotations

import numpy as np
import pytest

from eclip.sim.build import build_demo
from eclip.data.manifest import read_manifest
from eclip.explain import regions


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = build_demo(tmp_path_factory.mktemp("demo_regions"), n=3, seed=5, gaze_fraction=0.0,
                      workers=1, progress=False)
    return root, read_manifest(root)


def blob(shape, cy, cx, s=0.004):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-(((yy / shape[0]) - cy) ** 2 + ((xx / shape[1]) - cx) ** 2) / s).astype(np.float32)


def border_map(shape):
    """Mass on the left and right edges and the top corners, as the old ViT Grad-CAM drew it."""
    return (blob(shape, 0.5, 0.02, 0.002) + blob(shape, 0.5, 0.98, 0.002) + blob(shape, 0.02, 0.02, 0.002)
            + blob(shape, 0.02, 0.98, 0.002))


def test_demo_lung_fields_are_read_from_what_build_demo_stored(demo):
    root, df = demo
    for _, row in df.iterrows():
        region = regions.lung_region(root, row, (256, 256))
        assert region.source == "phantom", row["id"]
        m = region.mask
        assert 0.25 < m.mean() < 0.7  # lungs + mediastinum of a PA film
        assert m[128, 128] and m[100, 60] and m[100, 196]  # mediastinum and both lungs
        assert not (m[:10].any() or m[:, :10].any() or m[:, -10:].any())  # neck, body edges


def test_a_dataset_without_lung_fields_gets_the_heuristic_and_what_to_do(demo, tmp_path, tiny_dataset):
    import json
    import shutil

    root, df = demo
    copy = shutil.copytree(root, tmp_path / "old")
    shutil.rmtree(copy / "lungs")
    info = json.loads((copy / "demo_info.json").read_text())
    (copy / "demo_info.json").write_text(json.dumps({**info, "version": "demo-2"}))
    region = regions.lung_region(copy, df.iloc[0], (256, 256))  # a demo corpus built before demo-3
    assert region.source == "heuristic" and "not real lung fields" in region.description
    assert "build-demo demo-2" in region.description
    assert f"python -m eclip.data build-demo --n 3 --seed 5 --gaze-fraction 0.0 --size 256 --out {copy}" \
        in region.description
    tiny = read_manifest(tiny_dataset).iloc[0]  # not a demo corpus at all
    region = regions.lung_region(tiny_dataset, tiny, (64, 64))
    assert region.source == "heuristic" and "lungs/<id>.npz" in region.description
    assert "import-mimic --egd" in region.description


def test_lung_fields_on_another_grid_are_not_used(demo):
    root, df = demo
    assert regions.lung_region(root, df.iloc[0], (128, 128)).source == "heuristic"


@pytest.mark.parametrize("source", ["phantom", "heuristic"])
def test_flag_for_a_border_map_not_for_a_central_one(demo, source):
    root, df = demo
    shape = (256, 256)
    region = (regions.lung_region(root, df.iloc[0], shape) if source == "phantom"
              else regions.central_region(shape))
    assert region.source == source
    border = regions.placement(border_map(shape), region)
    assert border.flagged and border.outside > 0.9
    central = regions.placement(blob(shape, 0.45, 0.3) + blob(shape, 0.45, 0.7), region)
    assert not central.flagged and central.outside < 0.1
    even = regions.placement(np.ones(shape, np.float32), region)  # diffuse, not misplaced
    assert not even.flagged and even.outside == pytest.approx(even.area_outside)
