"""Gaze agreement with the field's floors and ceilings: shuffled AUC, the CheXlocalize-style
pointing game and thresholded IoU, the centre-bias and uniform floors, the second-reader
ceiling (stored readings: the demo's second reader, or several radiologists) and the agreement command's
table with bootstrap intervals. Metrics are checked on hand-made maps with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eclip.sim.build import build_demo
from eclip.data.gaze import load_heatmap, save_heatmap
from eclip.data.manifest import read_manifest
from eclip.errors import EvaluationError
from eclip.evaluate.saliency import (FixationPool, auc_judd, pearson_cc, pointing_game, shuffled_auc,
                                     threshold_iou)
from eclip.explain import agreement, floors, regions
from floats import assert_close


def blob(shape, cy, cx, sigma):
    """Gaussian at pixel (cy, cx) with sigma in pixels."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def box(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


# --------------------------------------------------------------------------- shuffled AUC
@pytest.fixture(scope="module")
def centre_biased_gaze():
    """40 readers' maps whose fixations cluster near the centre (sd 6 px on 64 px), as real
    readers' do: a sharp blob each."""
    rng = np.random.default_rng(0)
    spots = rng.normal(32, 6, (40, 2))
    return {f"img{i}": blob((64, 64), y, x, 2.5) for i, (y, x) in enumerate(spots)}


def test_shuffled_auc_of_a_centre_map_is_chance_while_auc_judd_is_high(centre_biased_gaze):
    pool = FixationPool(centre_biased_gaze)
    centre = blob((64, 64), 32, 32, 10)
    judd = [auc_judd(centre, g) for g in centre_biased_gaze.values()]
    shuffled = [shuffled_auc(centre, g, pool.others(k)) for k, g in centre_biased_gaze.items()]
    assert np.mean(judd) > 0.8  # the centre map "predicts" centre-biased gaze...
    assert abs(np.mean(shuffled) - 0.5) < 0.06  # ...and nothing more than that bias


def test_shuffled_auc_rewards_a_map_that_knows_this_image(centre_biased_gaze):
    pool = FixationPool(centre_biased_gaze)
    own = [shuffled_auc(g, g, pool.others(k)) for k, g in centre_biased_gaze.items()]
    assert np.mean(own) > 0.75  # < 1: other readers fixated some of the same pixels
    flat = np.ones((64, 64))
    assert shuffled_auc(flat, centre_biased_gaze["img0"], pool.others("img0")) == 0.5


def test_shuffled_auc_needs_negatives_on_the_gaze_grid():
    g = blob((16, 16), 8, 8, 2)
    assert np.isnan(shuffled_auc(g, g, np.zeros((16, 16), int)))  # no other image fixated anything
    with pytest.raises(EvaluationError, match="gaze grid"):
        shuffled_auc(g, g, np.ones((8, 8), int))


def test_fixation_pool_counts_the_other_images_on_each_grid():
    a, b = blob((20, 20), 5, 5, 1.5), blob((20, 20), 14, 14, 1.5)
    c = blob((40, 40), 10, 10, 3)  # same place as a, twice the resolution
    pool = FixationPool({"a": a, "b": b, "c": c})
    others_a = pool.others("a")
    assert others_a.shape == (20, 20)
    assert others_a[5, 5] == 1 and others_a[14, 14] == 1  # c at a's spot, b at its own
    # c is sampled at the centre of each of a's pixels: rows/cols 1, 3, 5... of its grid
    assert np.array_equal(others_a, pool.masks["b"].astype(int) + pool.masks["c"][1::2, 1::2])
    assert pool.others("c").shape == (40, 40) and pool.others("c")[10, 10] == 1  # a's spot


# --------------------------------------------------------------------------- localisation
def test_pointing_game_on_a_known_box():
    shape = (50, 60)
    peak = blob(shape, 20, 30, 4)
    assert pointing_game(peak, box(shape, 15, 25, 25, 35)) == 1.0
    assert pointing_game(peak, box(shape, 40, 50, 0, 10)) == 0.0
    region = box(shape, 0, 10, 0, 30)  # 300 of 3000 pixels
    assert pointing_game(np.ones(shape), region) == pytest.approx(0.1)  # flat: chance
    two_peaks = np.zeros(shape)
    two_peaks[5, 5] = two_peaks[40, 40] = 1.0
    assert pointing_game(two_peaks, region) == 0.5  # a tie: one peak in, one out
    assert np.isnan(pointing_game(peak, np.zeros(shape, bool)))


def test_threshold_iou_on_known_boxes():
    shape = (40, 40)
    sal = np.full(shape, 0.2)
    sal[0:10, 0:10] = 1.0  # binarised at 0.5 x peak: exactly this box
    assert threshold_iou(sal, box(shape, 0, 10, 0, 10)) == 1.0
    assert threshold_iou(sal, box(shape, 0, 10, 5, 15)) == pytest.approx(50 / 150)
    assert threshold_iou(sal, box(shape, 0, 10, 5, 15), threshold=0.1) == pytest.approx(100 / 1600)
    assert threshold_iou(np.zeros(shape), box(shape, 0, 10, 0, 10)) == pytest.approx(100 / 1600)


# --------------------------------------------------------------------------- floors
def test_centre_bias_is_fitted_where_the_gaze_sits():
    maps = [blob((60, 80), 18 + d, 48 - d, 6) for d in (-2, 0, 2)]
    bias = floors.fit_centre_bias(maps)
    assert bias.centre == pytest.approx((18.5 / 60, 48.5 / 80), abs=0.01)
    assert bias.sigma[0] == pytest.approx(np.sqrt(36 + 8 / 3) / 60, abs=0.01)
    peak = np.unravel_index(bias.map((60, 80)).argmax(), (60, 80))
    assert peak == (18, 48)
    assert floors.fit_centre_bias([]) is floors.IMAGE_CENTRE


def test_the_uniform_floor_scores_chance_and_the_centre_floor_its_bias(centre_biased_gaze):
    pool = FixationPool(centre_biased_gaze)
    bias = floors.fit_centre_bias(list(centre_biased_gaze.values()))
    g = centre_biased_gaze["img3"]
    maps = floors.floor_maps(bias, g.shape)
    assert pearson_cc(maps["uniform"], g) == 0.0 and auc_judd(maps["uniform"], g) == 0.5
    assert shuffled_auc(maps["uniform"], g, pool.others("img3")) == 0.5
    assert pearson_cc(maps["centre"], g) > 0.1


def test_train_centre_bias_reads_only_the_train_split(tmp_path):
    from eclip.data.manifest import save_array_npz

    rows = []
    for i, (split, cy) in enumerate([("train", 10), ("train", 12), ("test", 50)]):
        save_array_npz(tmp_path / f"g{i}.npz", heatmap=blob((64, 64), cy, 32, 4).astype(np.float16))
        rows.append({"split": split, "gaze_path": f"g{i}.npz"})
    bias = floors.train_centre_bias(tmp_path, pd.DataFrame(rows))
    assert bias.centre[0] == pytest.approx(11.5 / 64, abs=0.01)
    assert bias.source == "fitted on 2 train-split gaze maps"


# --------------------------------------------------------------------------- ceiling
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = build_demo(tmp_path_factory.mktemp("demo_floors"), n=4, seed=3, gaze_fraction=1.0,
                      workers=1, progress=False)
    return root, read_manifest(root)


def test_the_demo_second_reader_is_scored_against_the_gaze_map_like_a_model(demo):
    root, df = demo
    for _, row in df.iloc[:2].iterrows():
        gaze = load_heatmap(root / row["gaze_path"])
        pairs = floors.ceiling_pairs(root, row, gaze)
        assert len(pairs) == 1  # the gaze map is reader 1's reading: reader 2 against it
        second, reference = pairs[0]
        assert reference is gaze
        assert second.shape == gaze.shape and second.max() == pytest.approx(1.0)
        assert 0.0 < pearson_cc(second, gaze) < 0.97  # another reading, not a copy


def test_no_ceiling_without_second_readings_and_the_note_says_why(demo, tmp_path, tiny_dataset):
    import json
    import shutil

    root, df = demo
    copy = shutil.copytree(root, tmp_path / "old")
    row = df.iloc[0]
    shutil.rmtree(copy / "gaze" / row["id"] / "readings")
    assert floors.ceiling_pairs(copy, row, load_heatmap(copy / row["gaze_path"])) == []
    info = json.loads((copy / "demo_info.json").read_text())
    (copy / "demo_info.json").write_text(json.dumps({**info, "version": "demo-2"}))
    assert "rebuild it with `python -m eclip.data build-demo --n 4 --seed 3" in floors.missing_readings(copy)
    with pytest.raises(EvaluationError, match="build-demo demo-2"):
        agreement.require_current_demo(copy)
    agreement.require_current_demo(root)  # the current builder's corpus passes
    tiny = read_manifest(tiny_dataset).iloc[0]  # not a demo corpus: no ceiling, no error
    assert floors.ceiling_pairs(tiny_dataset, tiny, load_heatmap(tiny_dataset / tiny["gaze_path"])) == []
    assert "import-mimic --reflacx" in floors.missing_readings(tiny_dataset)


def test_stored_readings_are_each_scored_against_the_mean_of_the_others(tiny_dataset, tmp_path):
    import shutil

    root = shutil.copytree(tiny_dataset, tmp_path / "ds")
    row = read_manifest(root).iloc[0]
    readings = [blob((64, 64), 20, 20, 3), blob((64, 64), 40, 40, 3), blob((64, 64), 20, 40, 3)]
    for i, m in enumerate(readings):
        (root / "gaze" / row["id"] / "readings").mkdir(parents=True, exist_ok=True)
        save_heatmap(root / "gaze" / row["id"] / "readings" / f"r{i}.npz", m)
    pairs = floors.ceiling_pairs(root, row, load_heatmap(root / row["gaze_path"]))
    assert len(pairs) == 3
    one, rest = pairs[0]
    assert_close(one.sum(), 1.0)  # a float32 sum of 4096 pixels
    stored = [load_heatmap(root / "gaze" / row["id"] / "readings" / f"r{i}.npz") for i in (1, 2)]
    expected = (stored[0] / stored[0].sum() + stored[1] / stored[1].sum()) / 2
    assert_close(rest, expected, atol=1e-5 * expected.max())  # pixels of a map of mass 1: ~1e-4 each


def test_truth_region_is_the_union_of_the_case_masks(demo):
    root, df = demo
    with_masks = df[df["mask_path"].astype(str).str.len() > 0]
    assert len(with_masks)
    row = with_masks.iloc[0]
    with np.load(root / row["mask_path"]) as z:
        union = np.any([z[k] for k in z.files], axis=0)
    assert np.array_equal(regions.truth_region(root, row, union.shape), union)
    half = regions.truth_region(root, row, (128, 128))
    assert half.shape == (128, 128) and abs(half.mean() - union.mean()) < 0.01
    assert regions.truth_region(root, {"mask_path": ""}, (256, 256)) is None  # a normal film


# --------------------------------------------------------------------------- intervals, lines
def test_with_intervals_leaves_undefined_cases_out():
    df = pd.DataFrame({"cc": [0.1, 0.2, 0.3, 0.4], "pointing": [1.0, np.nan, 0.0, np.nan]})
    out = agreement.with_intervals(df, columns=("cc", "pointing"), n_boot=200)
    assert out["cc"]["value"] == pytest.approx(0.25) and out["cc"]["n"] == 4
    assert out["cc"]["ci_low"] < 0.25 < out["cc"]["ci_high"]
    assert out["pointing"]["value"] == 0.5 and out["pointing"]["n"] == 2


def test_headline_puts_model_floor_and_ceiling_side_by_side():
    def ci(v, lo, hi):
        return {"cc": {"value": v, "ci_low": lo, "ci_high": hi, "n": 54}}

    line = agreement.headline("eCLIP", {"model": ci(0.07, 0.05, 0.09), "centre": ci(0.02, 0.01, 0.03),
                                        "readers": ci(0.45, 0.4, 0.5)})
    assert line == ("eCLIP CC 0.07 [0.05, 0.09] · floor (centre bias) 0.02 [0.01, 0.03] · "
                    "ceiling (another reader) 0.45 [0.40, 0.50]")
    assert agreement.headline("eCLIP", {"model": ci(0.07, 0.05, 0.09)}) == "eCLIP CC 0.07 [0.05, 0.09]"
    per_case = agreement.case_line("eCLIP", {"cc": 0.071}, {"centre": {"cc": 0.4}})
    assert per_case == "eCLIP CC 0.07 · floor (centre bias) 0.40"


def test_case_references_score_the_floor_and_the_ceiling_like_the_model(demo):
    root, df = demo
    row = df.iloc[1]
    gaze = load_heatmap(root / row["gaze_path"])
    bias = floors.fit_centre_bias([gaze])
    refs = agreement.case_references(root, row, gaze, bias)
    assert set(refs) == {"centre", "readers"}
    assert refs["centre"]["cc"] == pytest.approx(pearson_cc(bias.map(gaze.shape), gaze))
    second = load_heatmap(root / "gaze" / row["id"] / "readings" / "reader2.npz")
    assert refs["readers"]["cc"] == pytest.approx(pearson_cc(second, gaze))


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def micro_vit(tmp_path_factory):
    from explain.conftest import make_lm

    return make_lm(tmp_path_factory.mktemp("vit_floors"), "eclip-vit-micro")


def test_agreement_cli_prints_floors_and_intervals_on_the_tiny_fixture(micro_vit, tiny_dataset, capsys):
    from eclip import explain

    rc = explain.main(["agreement", "--checkpoint", str(micro_vit.path), "--data", str(tiny_dataset),
                       "--split", "test", "--method", "gradcam", "--markdown", "--n-boot", "100"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| model / reference | method | n | CC ↑ | NSS ↑ | KL ↓ | AUC-Judd ↑ | shuffled AUC ↑ |" in out
    assert "| floor: uniform map |  | 2 | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] |" in out
    assert "| floor: centre bias |  | 2 |" in out
    assert "ceiling" not in out.split("| floor: centre bias")[1].split("\n")[0]  # no second reading here
    # what the folder lacks, and what to do
    assert "> **Note:** no lung fields (lungs/<id>.npz) in " in out and "import-mimic --egd" in out
    assert "> **Note:** no ceiling: no image has second readings (gaze/<id>/readings/)" in out
    name = micro_vit.path.name
    assert any(line.startswith(f"{name} gradcam CC ") and " · floor (centre bias) " in line
               for line in out.splitlines())


def test_agreement_cli_on_a_demo_corpus_adds_the_ceiling_and_localisation(micro_vit, demo, capsys):
    from eclip import explain

    root, df = demo
    split = df["split"].value_counts().idxmax()
    rc = explain.main(["agreement", "--checkpoint", str(micro_vit.path), "--data", str(root), "--split", split,
                       "--method", "gradcam", "--markdown", "--n-boot", "100"])
    out = capsys.readouterr().out
    assert rc == 0
    ceiling = [line for line in out.splitlines() if line.startswith("| ceiling: another reader |")]
    assert len(ceiling) == 1
    n = int((df["split"] == split).sum())
    assert f"|  | {n} |" in ceiling[0]
    assert " · ceiling (another reader) " in out
    has_masks = int(((df["split"] == split) & (df["mask_path"].astype(str).str.len() > 0)).sum())
    cells = ceiling[0].split(" | ")
    # the pointing game needs a ground-truth region, and its n/a says so
    assert (cells[-2] == "n/a: no case has a finding mask (mask_path)") == (has_masks == 0)
