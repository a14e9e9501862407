"""The simulated demo corpus: determinism, the manifest contract, that every supported
finding is drawn, that simulated gaze dwells on findings, and that films carry findings."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from eclip.data.gaze import heatmap_reflacx, read_reflacx_fixations
from eclip.data.manifest import LABELS, read_manifest
from eclip.sim.build import build_demo
from eclip.sim.mesh import SUPPORTED_KINDS, plan_from_mesh
from eclip.sim.render import STREAM_GAZE, render_case, stream
from eclip.sim.scanpath import NATIVE_SCALE, native_shape, simulate_reading

N = 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo_par"), n=N, seed=11, gaze_fraction=0.5,
                      workers=2, progress=False)


@pytest.fixture(scope="module")
def corpus_serial(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo_ser"), n=N, seed=11, gaze_fraction=0.5,
                      workers=1, progress=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_parallel_and_serial_builds_are_identical(corpus, corpus_serial):
    files = _files(corpus)
    assert files == _files(corpus_serial)
    assert any(f.endswith(".npz") for f in files) and any(f.endswith("fixations.csv") for f in files)
    _, mismatch, errors = filecmp.cmpfiles(corpus, corpus_serial, files, shallow=False)
    assert mismatch == [] and errors == []


def test_other_seed_gives_other_corpus(corpus, tmp_path):
    other = build_demo(tmp_path / "o", n=4, seed=12, gaze_fraction=0.0, workers=1, progress=False)
    a = Image.open(corpus / "images" / "demo00000.png")
    b = Image.open(other / "images" / "demo00000.png")
    assert np.any(np.asarray(a) != np.asarray(b))


def test_manifest_contract(corpus):
    df = read_manifest(corpus, check_files=True)
    assert len(df) == N
    assert set(df["source"]) == {"demo"} and set(df["simulated"]) == {"1"} and set(df["view"]) == {"PA"}
    assert set(df["split"]) <= {"train", "validate", "test"}
    assert df.groupby("patient_key")["split"].nunique().max() == 1  # split by patient
    assert (df["gaze_path"] != "").sum() == N // 2
    assert ((df["findings"] != "") | (df["impression"] != "")).all()
    for _, row in df.iterrows():
        im = Image.open(corpus / row["image_path"])
        assert im.mode == "L" and im.size == (256, 256)
        if row["mask_path"]:
            with np.load(corpus / row["mask_path"]) as z:
                assert z.files and set(z.files) <= set(LABELS)
                for key in z.files:
                    assert z[key].dtype == bool and z[key].shape == (256, 256) and z[key].any()
                    assert row[key] == 1.0  # a drawn finding is a positive label
        if row["gaze_path"]:
            with np.load(corpus / row["gaze_path"]) as z:
                hm = z["heatmap"]
            assert hm.dtype == np.float16 and hm.shape == (256, 256)
            assert float(hm.max()) == 1.0  # stored peak-normalised (gaze.save_heatmap)
            fix_csv = corpus / "gaze" / row["id"] / "fixations.csv"
            fix, dropped = read_reflacx_fixations(fix_csv, image_size=native_shape(256))
            assert dropped == 0 and 20 <= len(fix) <= 200
            assert 0.2 <= fix["duration"].mean() <= 0.45
            assert int(row["orig_width"]) == 256 * NATIVE_SCALE


def test_lung_fields_and_two_readers_in_the_importers_formats(corpus):
    """Every case has lungs/<id>.npz (as an importer writes anatomy outlines); every case with
    gaze keeps each reader's map under gaze/<id>/readings/: the reading its gaze map holds and
    a second reader's of the same film. The gaze map stays the first reader's alone."""
    from eclip.data.demo_info import DEMO_VERSION, read_demo_info
    from eclip.data.gaze import load_heatmap, load_readings
    from eclip.data.gaze.regions import load_lung_fields

    assert read_demo_info(corpus)["version"] == DEMO_VERSION
    df = read_manifest(corpus)
    for _, row in df.iterrows():
        lungs = load_lung_fields(corpus, row["id"], (256, 256))
        assert lungs is not None and 0.25 < lungs.mean() < 0.7
        if not row["gaze_path"]:
            assert not (corpus / "gaze" / row["id"]).exists()
            continue
        assert sorted(p.name for p in (corpus / "gaze" / row["id"] / "readings").iterdir()) == [
            "reader1.npz", "reader2.npz"]
        first, second = load_readings(corpus, row["id"], (256, 256))
        gaze = load_heatmap(corpus / row["gaze_path"])
        assert np.abs(first - gaze).max() <= 1e-3 and np.abs(second - gaze).max() > 0.05
        assert str(row["n_readings"]) == "1"  # readings averaged into the gaze map


def test_label_mix_is_not_all_normal(corpus):
    df = read_manifest(corpus)
    assert 0 < (df["No Finding"] == 1.0).sum() < N
    assert (df["mask_path"] != "").sum() >= N // 3


REPRESENTATIVE = {
    "cardiomegaly": ("Cardiomegaly/moderate", "Cardiomegaly"),
    "effusion": ("Pleural Effusion/left/small", "Pleural Effusion"),
    "atelectasis": ("Pulmonary Atelectasis/base/right", "Atelectasis"),
    "opacity": ("Airspace Disease/lung/base/left", "Lung Opacity"),
    "consolidation": ("Consolidation/lung/upper lobe/right", "Consolidation"),
    "nodule": ("Nodule/lung/upper lobe/right", "Lung Lesion"),
    "granuloma": ("Calcified Granuloma/lung/upper lobe/left", "Lung Lesion"),
    "edema": ("Pulmonary Edema", "Edema"),
    "pneumothorax": ("Pneumothorax/right/large", "Pneumothorax"),
    "device": ("Implanted Medical Device/left", "Support Devices"),
}


@pytest.mark.parametrize("kind", SUPPORTED_KINDS)
def test_every_supported_finding_renders(kind):
    term, label = REPRESENTATIVE[kind]
    plan = plan_from_mesh([term], np.random.default_rng(0))
    assert [f.kind for f in plan.findings] == [kind]
    with_f = render_case(plan, seed=42)
    without = render_case(plan, seed=42, skip=(0,))
    mask = with_f.masks[label]
    assert mask.any() and not without.masks
    diff = np.abs(with_f.film - without.film)
    # The change sits on the finding: larger inside its (dilated) mask than elsewhere.
    near = ndimage.binary_dilation(mask, iterations=3)
    assert diff[near].mean() > 0.01
    assert diff[near].mean() > 2 * diff[~near].mean()


@pytest.mark.parametrize("term,side", [("Pleural Effusion/right/small", "right"),
                                       ("Pneumothorax/left", "left"),
                                       ("Nodule/lung/upper lobe/right", "right")])
def test_laterality_follows_radiological_convention(term, side):
    """The patient's right is on the image left of a PA film."""
    res = render_case(plan_from_mesh([term], np.random.default_rng(0)), seed=3)
    cols = np.nonzero(np.logical_or.reduce(list(res.masks.values())))[1]
    centre = res.scene.grid.to_pixel(0.0, 15.0)[0]
    assert (cols.mean() < centre) == (side == "right")


def _ctr(res) -> float:
    sc = res.scene
    heart = (sc.heart > 1.5) & (sc.grid.Y < sc.dome_y(sc.grid.X) + 0.3)
    cols = np.nonzero(heart)[1]
    return (cols.max() - cols.min() + 1) * sc.grid.cm_per_px / (2 * sc.anat.thorax_hw)


def test_cardiothoracic_ratio_separates_cardiomegaly():
    plan = plan_from_mesh(["Cardiomegaly/mild"], np.random.default_rng(0))
    for seed in range(4):
        assert _ctr(render_case(plan, seed=seed, skip=(0,))) < 0.5
        assert _ctr(render_case(plan, seed=seed)) > 0.5


def test_unrenderable_terms_are_listed_and_drawn_normal():
    plan = plan_from_mesh(["Spine/degenerative/mild", "Opacity/lung/base/left"], np.random.default_rng(0))
    assert plan.unrendered == ["Spine/degenerative/mild"]
    assert [f.kind for f in plan.findings] == ["opacity"]
    assert plan_from_mesh(["normal"], np.random.default_rng(0)).is_normal


def test_gaze_dwells_on_findings():
    terms = ["Cardiomegaly/mild", "Pleural Effusion/left/small", "Opacity/lung/base/right",
             "Nodule/lung/upper lobe/left", "Pneumothorax/right/small",
             "Pulmonary Atelectasis/base/left", "Catheters, Indwelling/right", "Pulmonary Edema"]
    inside, area = [], []
    for i in range(16):
        plan = plan_from_mesh([terms[i % len(terms)]], np.random.default_rng(i))
        res = render_case(plan, seed=700 + i)
        fix = simulate_reading(res.scene, res.finding_masks, stream(700 + i, STREAM_GAZE))
        hm = heatmap_reflacx(fix, native_shape(256), (256, 256))
        # Dilate by ~1 degree: the REFLACX heatmap itself blurs each fixation by 1 degree.
        m = ndimage.binary_dilation(np.logical_or.reduce(list(res.masks.values())), iterations=10)
        inside.append(hm[m].sum())
        area.append(m.mean())
    # Measured: ~0.40 of the mass on ~0.09 of the image (misses included).
    assert np.mean(inside) > 0.33
    assert np.mean(inside) > 3.0 * np.mean(area)


@pytest.mark.slow
def test_small_classifier_sees_the_findings():
    """Logistic regression on 16x16 pixels tells normal / cardiomegaly / effusion apart."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = [["normal"], ["Cardiomegaly", "Cardiomegaly/mild", "Cardiomegaly/moderate"],
               ["Pleural Effusion/bilateral/small", "Pleural Effusion/right", "Pleural Effusion/left/small",
                "Pleural Effusion/bilateral"]]
    X, y = [], []
    for i in range(120):
        c = i % 3
        rng = np.random.default_rng(i)
        plan = plan_from_mesh([classes[c][int(rng.integers(len(classes[c])))]], rng)
        film = render_case(plan, seed=9000 + i, size=128).film  # 128 px: 3x faster
        X.append(film.reshape(16, 8, 16, 8).mean(axis=(1, 3)).ravel())
        y.append(c)
    X, y = np.array(X), np.array(y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
    acc = clf.fit(X[:84], y[:84]).score(X[84:], y[84:])
    # Measured ~0.72 (0.8 with 160 training films): learnable, far from saturated.
    assert acc > 0.55, acc  # chance is 1/3


def test_cli_builds_a_dataset(tmp_path):
    from eclip.data.__main__ import main

    out = tmp_path / "cli"
    rc = main(["build-demo", "--n", "3", "--seed", "1", "--out", str(out), "--workers", "1",
               "--no-progress"])
    assert rc == 0
    assert len(read_manifest(out, check_files=True)) == 3


def test_rebuild_into_the_same_folder_leaves_no_stale_files(tmp_path):
    out = tmp_path / "demo"
    build_demo(out, n=6, seed=3, gaze_fraction=1.0, workers=1, progress=False)
    (out / "images" / "mine.png").write_bytes(b"not ours")  # a user's file is never touched
    build_demo(out, n=3, seed=3, gaze_fraction=0.0, workers=1, progress=False)
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        "demo00000.png", "demo00001.png", "demo00002.png", "mine.png"]
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["demo00000.npz", "demo00001.npz", "demo00002.npz"]
    assert list((out / "gaze").iterdir()) == []  # maps, fixations and readings of the old build
    assert sorted(p.name for p in (out / "lungs").iterdir()) == ["demo00000.npz", "demo00001.npz", "demo00002.npz"]
