"""Gaze readers and heatmap recipes, on fixture files in the exact REFLACX / EGD-CXR layouts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from eclip.data import gaze
from eclip.errors import GazeFormatError
from floats import assert_close

from data.formats import REFLACX_FIXATION_COLUMNS

# Literal column lists of the public files (the fixtures', not the module under test's).
REFLACX_HEADER = list(REFLACX_FIXATION_COLUMNS)
EGD_HEADER = [
    "SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)",
    "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV",
]
DICOM = "1a3f39ce-ebe90275-9a66145a-af03360e-ee3b163b"
OTHER = "3c7d71b0-383da7fc-80f78f8c-6be2da46-3614e059"


def reflacx_row(t0, t1, x, y, ppd=40, shown=(0, 2000, 0, 2500)):
    return [t0, t1, x, y, 0.95, ppd, ppd, 1.2, 0.45, *shown, 300, 1500, 0, 1080]


def write_reflacx(path, rows):
    pd.DataFrame(rows, columns=REFLACX_HEADER).to_csv(path, index=False)
    return path


@pytest.fixture
def reflacx_csv(tmp_path):
    rows = [
        reflacx_row(0.10, 0.35, 1000, 1200),
        reflacx_row(0.40, 0.90, 500, 700, ppd=35),
        reflacx_row(1.00, 1.00, 600, 600),  # zero duration
        reflacx_row(1.10, 1.30, np.nan, 600),  # lost track
        reflacx_row(1.40, 1.60, 1800, 100, shown=(0, 1000, 0, 1250)),  # outside shown (zoomed)
        reflacx_row(1.70, 2.00, 200, 2400, shown=(100, 1100, 1250, 2500)),
    ]
    return write_reflacx(tmp_path / "fixations.csv", rows)


# ----------------------------------------------------------------------------- REFLACX reader


def test_read_reflacx_drops_and_counts_bad_rows(reflacx_csv, caplog):
    with caplog.at_level(logging.INFO, logger="eclip.data.gaze"):
        fix, n_dropped = gaze.read_reflacx_fixations(reflacx_csv)
    assert n_dropped == 3
    assert "dropped 3 of 6" in caplog.text
    assert list(fix.columns[:6]) == ["x", "y", "duration", "start", "ppd_x", "ppd_y"]
    assert_close(fix["x"], [1000, 500, 200])
    assert_close(fix["duration"], [0.25, 0.5, 0.3])
    assert_close(fix["start"], [0.1, 0.4, 1.7])
    assert_close(fix["ppd_x"], [40, 35, 40])
    assert_close(fix["shown_ymin"], [0, 0, 1250])


def test_read_reflacx_drops_outside_image_when_size_known(reflacx_csv):
    fix, n_dropped = gaze.read_reflacx_fixations(reflacx_csv, image_size=(2000, 1500))
    assert n_dropped == 4  # the y=2400 fixation lies below a 2000-row image
    assert_close(fix["x"], [1000, 500])


def test_write_reflacx_exact_columns_and_roundtrip(tmp_path):
    fix = pd.DataFrame({"x": [10.5, 300.0], "y": [20.0, 250.25], "duration": [0.2, 0.75],
                        "start": [1.0, 1.5], "ppd_x": [30.0, 31.0], "ppd_y": [29.0, 30.0]})
    path = gaze.write_reflacx_fixations(fix, tmp_path / "r" / "fixations.csv", image_size=(400, 320))
    assert pd.read_csv(path).columns.tolist() == REFLACX_HEADER
    back, n_dropped = gaze.read_reflacx_fixations(path)
    assert n_dropped == 0
    pd.testing.assert_frame_equal(back[list(fix.columns)], fix, check_exact=False, rtol=1e-6)
    assert back["shown_xmax"].tolist() == [320, 320] and back["shown_ymax"].tolist() == [400, 400]
    # Without a shown region or an image size there is nothing to write for those columns.
    with pytest.raises(GazeFormatError, match="shown region"):
        gaze.write_reflacx_fixations(fix, tmp_path / "x.csv")


def test_read_reflacx_missing_file(tmp_path):
    with pytest.raises(GazeFormatError, match="not found"):
        gaze.read_reflacx_fixations(tmp_path / "nope.csv")


def test_read_reflacx_empty_file(tmp_path):
    (tmp_path / "f.csv").write_text("")
    with pytest.raises(GazeFormatError, match="empty"):
        gaze.read_reflacx_fixations(tmp_path / "f.csv")


def test_read_reflacx_header_only_is_empty_reading(tmp_path):
    (tmp_path / "f.csv").write_text(",".join(REFLACX_HEADER) + "\n")
    with pytest.raises(GazeFormatError, match="no usable fixations"):
        gaze.read_reflacx_fixations(tmp_path / "f.csv")


def test_read_reflacx_missing_columns_names_them(tmp_path):
    df = pd.DataFrame([reflacx_row(0, 1, 5, 5)], columns=REFLACX_HEADER)
    df = df.drop(columns=["x_position", "angular_resolution_y_pixels_per_degree"])
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(GazeFormatError) as err:
        gaze.read_reflacx_fixations(tmp_path / "f.csv")
    msg = str(err.value)
    assert "f.csv" in msg and "'x_position'" in msg and "angular_resolution_y" in msg
    assert "Expected columns" in msg and "timestamp_start_fixation" in msg


def test_read_reflacx_egd_file_is_wrong_format(tmp_path):
    pd.DataFrame([[1, 1, DICOM, 1, 0.1, 1, 0.5, 0.5, 0.1, 0.2, 1, 1, 0.5, 0.5, 1]],
                 columns=EGD_HEADER).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(GazeFormatError, match="missing column"):
        gaze.read_reflacx_fixations(tmp_path / "f.csv")


def test_read_reflacx_all_rows_invalid(tmp_path):
    path = write_reflacx(tmp_path / "f.csv", [reflacx_row(0, 0, 5, 5), reflacx_row(1, 2, "abc", 5)])
    with pytest.raises(GazeFormatError, match="non-positive duration: 1.*NaN|NaN.*duration"):
        gaze.read_reflacx_fixations(path)


def test_read_reflacx_binary_garbage(tmp_path):
    (tmp_path / "f.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(GazeFormatError):
        gaze.read_reflacx_fixations(tmp_path / "f.csv")


# ----------------------------------------------------------------------------- EGD reader

# Image 1000 x 800 (h x w) letterboxed on 1920 x 1080: scaled to 864 x 1080, pillarboxed.
EGD_SIZE = (1000, 800)
EGD_PAD = (0, 0, 528, 528)


def egd_row(dicom, x, y, dur=0.25, valid=1, cnt=0):
    return [1, 3, dicom, cnt, 10.0 + cnt, 1234567 + cnt, x, y, 10.0 + cnt, dur, cnt, valid,
            x, y, 1]


@pytest.fixture
def egd_dir(tmp_path):
    rows = [
        egd_row(DICOM, 0.5, 0.5, cnt=1),  # screen centre = image centre
        egd_row(DICOM, (528 + 863.5) / 1920, 1.0 / 1080, cnt=2),  # near the top-right corner
        egd_row(DICOM, 0.1, 0.5, cnt=3),  # on the left padding
        egd_row(DICOM, 0.5, 0.5, valid=0, cnt=4),  # invalid fixation
        egd_row(DICOM, 0.5, 0.5, dur=0.0, cnt=5),
        egd_row(DICOM, np.nan, 0.5, cnt=6),
        egd_row(OTHER, 0.5, 0.5, cnt=7),
    ]
    pd.DataFrame(rows, columns=EGD_HEADER).to_csv(tmp_path / "fixations.csv", index=False)
    master = pd.DataFrame({
        "dicom_id": [DICOM, OTHER], "path": ["files/p1/x.dcm", "files/p2/y.dcm"],
        "study_id": [1, 2], "patient_id": [10, 20],
        "image_top_pad": [0, 12], "image_bottom_pad": [0, 12],
        "image_left_pad": [528, 0], "image_right_pad": [528, 0],
        "Normal": [1, 0], "CHF": [0, 1], "pneumonia": [0, 0],
    })
    master.to_csv(tmp_path / "master_sheet.csv", index=False)
    return tmp_path


def test_read_egd_padding(egd_dir):
    assert gaze.read_egd_padding(egd_dir / "master_sheet.csv", DICOM) == EGD_PAD
    assert gaze.read_egd_padding(egd_dir / "master_sheet.csv", OTHER) == (12, 12, 0, 0)
    with pytest.raises(GazeFormatError, match="not found"):
        gaze.read_egd_padding(egd_dir / "master_sheet.csv", "unknown")


def test_read_egd_padding_missing_columns(tmp_path):
    pd.DataFrame({"dicom_id": [DICOM], "image_top_pad": [0]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(GazeFormatError, match="image_left_pad"):
        gaze.read_egd_padding(tmp_path / "m.csv", DICOM)


def test_read_egd_maps_screen_to_image_pixels(egd_dir, caplog):
    with caplog.at_level(logging.INFO, logger="eclip.data.gaze"):
        fix, n_dropped = gaze.read_egd_fixations(egd_dir / "fixations.csv", DICOM, EGD_SIZE, EGD_PAD)
    assert n_dropped == 4 and "dropped 4 of 6" in caplog.text
    # Centre of an 800-wide image in pixel-index coordinates is 399.5.
    assert_close(fix.loc[0, ["x", "y"]].to_numpy(float), [399.5, 499.5])
    # Half a screen px left of the right edge, 1 px below the top (scale 800/864 = 1000/1080).
    assert_close(fix.loc[1, ["x", "y"]].to_numpy(float),
                 [863.5 * 800 / 864 - 0.5, 1000 / 1080 - 0.5])
    assert fix["duration"].tolist() == [0.25, 0.25]
    assert fix["ppd_x"].isna().all()


def test_read_egd_warns_on_aspect_mismatch(egd_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="eclip.data.gaze"):
        gaze.read_egd_fixations(egd_dir / "fixations.csv", DICOM, (800, 1000), EGD_PAD)
    assert "aspect ratios differ" in caplog.text


@pytest.mark.parametrize("padding", [(0, 0, 960, 960), (-1, 0, 0, 0), (0, 0, "a", 0), (0, 0)])
def test_read_egd_bad_padding(egd_dir, padding):
    with pytest.raises(GazeFormatError, match="padding"):
        gaze.read_egd_fixations(egd_dir / "fixations.csv", DICOM, EGD_SIZE, padding)


def test_read_egd_unknown_dicom(egd_dir):
    with pytest.raises(GazeFormatError, match="no rows with DICOM_ID"):
        gaze.read_egd_fixations(egd_dir / "fixations.csv", "nope", EGD_SIZE, EGD_PAD)


def test_read_egd_all_invalid(egd_dir):
    pd.DataFrame([egd_row(DICOM, 0.5, 0.5, valid=0), egd_row(DICOM, 0.01, 0.5)],
                 columns=EGD_HEADER).to_csv(egd_dir / "bad.csv", index=False)
    with pytest.raises(GazeFormatError, match="FPOGV invalid: 1.*outside image"):
        gaze.read_egd_fixations(egd_dir / "bad.csv", DICOM, EGD_SIZE, EGD_PAD)


def test_read_egd_missing_file_and_columns(tmp_path):
    with pytest.raises(GazeFormatError, match="not found"):
        gaze.read_egd_fixations(tmp_path / "fixations.csv", DICOM, EGD_SIZE, EGD_PAD)
    pd.DataFrame({"DICOM_ID": [DICOM], "FPOGX": [0.5]}).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(GazeFormatError) as err:
        gaze.read_egd_fixations(tmp_path / "f.csv", DICOM, EGD_SIZE, EGD_PAD)
    assert "'FPOGY'" in str(err.value) and "FPOGV" in str(err.value) and "Expected" in str(err.value)


def test_read_egd_sees_a_rewritten_file(egd_dir):
    """The table cache is keyed on mtime/size: a changed file is re-read."""
    path = egd_dir / "fixations.csv"
    first, _ = gaze.read_egd_fixations(path, DICOM, EGD_SIZE, EGD_PAD)
    pd.DataFrame([egd_row(DICOM, 0.5, 0.25, cnt=i) for i in range(5)],
                 columns=EGD_HEADER).to_csv(path, index=False)
    second, n_dropped = gaze.read_egd_fixations(path, DICOM, EGD_SIZE, EGD_PAD)
    assert len(first) == 2 and len(second) == 5 and n_dropped == 0


# ----------------------------------------------------------------------------- heatmaps


def fixations(xs, ys, durations=None, ppd=6.0, **extra):
    n = len(xs)
    return pd.DataFrame({
        "x": np.asarray(xs, float), "y": np.asarray(ys, float),
        "duration": np.ones(n) if durations is None else np.asarray(durations, float),
        "start": np.arange(n, dtype=float), "ppd_x": np.full(n, float(ppd)),
        "ppd_y": np.full(n, float(ppd) * 1.25), **extra,
    })


def block_mean(a, f):
    return a.reshape(a.shape[0] // f, f, a.shape[1] // f, f).mean(axis=(1, 3))


def box_resize(a, out_shape):
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(
        (out_shape[1], out_shape[0]), Image.Resampling.BOX), dtype=np.float64)


def overlap_matrix(n_native, n_out):
    """(n_out, n_native): the fraction of working pixel j's footprint that native pixel i
    covers (edges: native i spans [i, i+1), working j spans [j/s, (j+1)/s))."""
    s = n_out / n_native
    lo = np.maximum(np.arange(n_out)[:, None] / s, np.arange(n_native)[None, :])
    hi = np.minimum((np.arange(n_out)[:, None] + 1) / s, np.arange(n_native)[None, :] + 1)
    return np.clip(hi - lo, 0, None) * s


def area_resize(a, out_shape):
    """Exact area averaging at any scale (PIL's BOX is exact only for integer factors)."""
    return overlap_matrix(a.shape[0], out_shape[0]) @ a @ overlap_matrix(a.shape[1], out_shape[1]).T


def egd_brute_force(fix, native, sigma):
    """The dataset's recipe literally: +1 at each (integer) pixel, scipy Gaussian filter."""
    counts = np.zeros(native)
    for x, y in zip(fix["x"].astype(int), fix["y"].astype(int)):
        counts[y, x] += 1
    return gaussian_filter(counts, sigma)


def test_heatmap_egd_matches_native_brute_force_default_sigma():
    native, f = (400, 500), 4
    fix = fixations([3, 250, 497, 120], [5, 200, 396, 350])
    expected = block_mean(egd_brute_force(fix, native, 150.0), f)
    got = gaze.heatmap_egd(fix, native, (100, 125))
    assert got.dtype == np.float32 and got.shape == (100, 125)
    assert np.abs(got - expected).max() < 1e-3 * expected.max()
    # Mirror boundary keeps every fixation's unit mass (as scipy's default mode does).
    assert_close(got.sum() * f * f, len(fix))  # a float32 sum


def test_heatmap_egd_non_integer_scale_matches_area_resize():
    native, out = (250, 190), (128, 97)
    fix = fixations([10, 95, 180], [240, 125, 3])
    expected = area_resize(egd_brute_force(fix, native, 12.0), out)
    got = gaze.heatmap_egd(fix, native, out, sigma=12.0)
    assert np.abs(got - expected).max() < 2e-3 * expected.max()


def reflacx_brute_force(fix, native):
    """REFLACX's recipe at native resolution: Gaussian pdf on the pixel grid, cut to the
    shown rectangle, weighted by duration, normalised."""
    yy, xx = np.mgrid[0:native[0], 0:native[1]].astype(float)
    acc = np.zeros(native)
    for r in fix.itertuples():
        g = np.exp(-0.5 * (((xx - r.x) / r.ppd_x) ** 2 + ((yy - r.y) / r.ppd_y) ** 2))
        g /= 2 * np.pi * r.ppd_x * r.ppd_y
        cut = np.zeros(native)
        cut[int(r.shown_ymin):int(r.shown_ymax), int(r.shown_xmin):int(r.shown_xmax)] = 1
        acc += g * cut * r.duration
    return acc / acc.sum()


def test_heatmap_reflacx_matches_native_brute_force():
    native, f = (240, 320), 4
    fix = fixations([30, 160, 300, 100], [40, 120, 230, 5], durations=[0.2, 0.8, 0.3, 0.5],
                    ppd=7.0, shown_xmin=[0, 0, 160, 0], shown_xmax=[320, 320, 320, 200],
                    shown_ymin=[0, 0, 120, 0], shown_ymax=[240, 240, 240, 100])
    expected = block_mean(reflacx_brute_force(fix, native), f)
    expected /= expected.sum()
    got = gaze.heatmap_reflacx(fix, native, (60, 80))
    assert got.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(got - expected).max() < 2e-3 * expected.max()


def test_heatmap_reflacx_whole_image_when_no_shown_region():
    native = (120, 160)
    fix = fixations([80], [60], ppd=5.0)
    got = gaze.heatmap_reflacx(fix, native)
    full = fix.assign(shown_xmin=0, shown_xmax=160, shown_ymin=0, shown_ymax=120)
    # Point samples (brute force) vs pixel integrals (ours): close, not identical.
    assert_close(got, reflacx_brute_force(full, native), atol=5e-3 * got.max())


@pytest.mark.parametrize("recipe", ["egd", "reflacx"])
def test_single_fixation_peaks_at_the_resized_image_pixel(recipe):
    """A bright native block resized by the same scale lands where the heatmap peaks."""
    native, out = (400, 300), (100, 75)
    img = np.zeros(native)
    img[56:60, 120:124] = 1.0  # centre (x, y) = (121.5, 57.5) in pixel-index coordinates
    img_small = box_resize(img, out)
    fix = fixations([121.5], [57.5], ppd=3.0)
    hm = (gaze.heatmap_egd(fix, native, out, sigma=3.0) if recipe == "egd"
          else gaze.heatmap_reflacx(fix, native, out))
    assert np.unravel_index(hm.argmax(), out) == np.unravel_index(img_small.argmax(), out) == (14, 30)


def test_centroid_follows_pixel_centre_convention_at_non_integer_scale():
    """A smooth native blob at (x, y), resized by PIL (antialiased bilinear, as image
    pipelines do), and the heatmap of a fixation at (x, y) share their centroid
    (x + 0.5) * s - 0.5 on the working grid."""
    native, out = (300, 230), (128, 98)
    x, y = 101.3, 187.0
    yy, xx = np.mgrid[0:native[0], 0:native[1]]
    blob = np.exp(-0.5 * (((xx - x) / 8.0) ** 2 + ((yy - y) / 8.0) ** 2))
    small = np.asarray(Image.fromarray(blob.astype(np.float32), mode="F").resize(
        (out[1], out[0]), Image.Resampling.BILINEAR), dtype=np.float64)
    hm = gaze.heatmap_reflacx(fixations([x], [y], ppd=8.0), native, out)

    def centroid(a):
        gy, gx = np.mgrid[0:a.shape[0], 0:a.shape[1]]
        return np.array([(a * gx).sum(), (a * gy).sum()]) / a.sum()

    sx, sy = out[1] / native[1], out[0] / native[0]
    expected = np.array([(x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5])
    assert_close(centroid(small), expected, atol=0.02)
    assert_close(centroid(hm), expected, atol=0.02)


_NATIVE_PEAK = """
import json, sys, time, tracemalloc
import numpy as np
sys.path[:0] = sys.argv[1:]  # tests/data (test_gaze) and tests/ (the helpers it imports)
from test_gaze import fixations
from eclip.data import gaze
rng = np.random.default_rng(0)
n = 400
fix = fixations(rng.uniform(0, 2500, n), rng.uniform(0, 3000, n), rng.uniform(0.1, 1, n), ppd=45.0)
tracemalloc.start()
t0 = time.perf_counter()
egd = gaze.heatmap_egd(fix, (3000, 2500), (256, 213))
ref = gaze.heatmap_reflacx(fix, (3000, 2500), (256, 213))
elapsed = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"shapes": [egd.shape, ref.shape], "peak": peak, "elapsed": elapsed}))
"""


def test_heatmaps_at_native_scale_never_allocate_the_native_grid():
    # In its own process: tracemalloc counts every thread's allocations, and a background
    # thread another test left running (e.g. the embedded LLM's warm-up) would count here.
    import json
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, "-c", _NATIVE_PEAK, str(here), str(here.parent)], capture_output=True,
                          text=True, timeout=120, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["shapes"] == [[256, 213], [256, 213]]
    assert got["peak"] < 15e6  # one float64 native grid alone would be 60 MB
    assert got["elapsed"] < 2.0


def test_heatmap_bad_inputs():
    fix = fixations([10], [10])
    with pytest.raises(GazeFormatError, match="empty reading"):
        gaze.heatmap_egd(fix.iloc[:0], (100, 100))
    with pytest.raises(GazeFormatError, match="lack column"):
        gaze.heatmap_reflacx(fix.drop(columns=["ppd_x"]), (100, 100))
    with pytest.raises(GazeFormatError, match="NaN"):
        gaze.heatmap_egd(fixations([np.nan], [1.0]), (100, 100))
    with pytest.raises(GazeFormatError, match="native_shape"):
        gaze.heatmap_egd(fix, (0, 100))
    with pytest.raises(GazeFormatError, match="out_shape"):
        gaze.heatmap_reflacx(fix, (100, 100), (64,))
    with pytest.raises(GazeFormatError, match="sigma"):
        gaze.heatmap_egd(fix, (100, 100), sigma=0)
    with pytest.raises(GazeFormatError, match="duration > 0"):
        gaze.heatmap_reflacx(fixations([10], [10], durations=[0.0]), (100, 100))
    with pytest.raises(GazeFormatError, match="DataFrame"):
        gaze.heatmap_egd([(1, 2)], (100, 100))


def test_heatmap_reflacx_all_mass_outside_shown_region():
    fix = fixations([10], [10], ppd=1.0, shown_xmin=[50], shown_xmax=[60],
                    shown_ymin=[50], shown_ymax=[60])
    with pytest.raises(GazeFormatError, match="outside its shown region"):
        gaze.heatmap_reflacx(fix, (100, 100))


# ----------------------------------------------------------------------------- utilities


def test_average_heatmaps_normalises_each_reading_first():
    a = np.zeros((8, 8))
    a[1, 1] = 10.0
    b = np.zeros((8, 8))
    b[6, 6] = 0.5
    avg = gaze.average_heatmaps([a, b])
    assert avg.dtype == np.float32
    assert_close(avg.sum(), 1.0)
    assert avg[1, 1] == pytest.approx(0.5) and avg[6, 6] == pytest.approx(0.5)


@pytest.mark.parametrize("maps,match", [
    ([], "at least one"),
    ([np.ones((4, 4)), np.ones((4, 5))], "differ in shape"),
    ([np.zeros((4, 4))], "all zeros"),
    ([np.full((4, 4), np.nan)], "NaN"),
    ([-np.ones((4, 4))], "negative"),
    ([np.ones(4)], "2-D"),
])
def test_average_heatmaps_bad_inputs(maps, match):
    with pytest.raises(GazeFormatError, match=match):
        gaze.average_heatmaps(maps)


def test_resize_heatmap():
    rng = np.random.default_rng(1)
    hm = rng.random((64, 48))
    assert_close(gaze.resize_heatmap(hm, (16, 12)), block_mean(hm, 4))
    up = gaze.resize_heatmap(np.full((10, 10), 0.25), (37, 23))
    assert up.shape == (37, 23)
    assert_close(up, 0.25)
    assert gaze.resize_heatmap(hm, (64, 48)).dtype == np.float32
    with pytest.raises(GazeFormatError, match="out_shape"):
        gaze.resize_heatmap(hm, (0, 10))


def test_resize_heatmap_matches_direct_working_resolution():
    native, out = (250, 190), (128, 97)
    fix = fixations([10, 95, 180], [240, 125, 3])
    direct = gaze.heatmap_egd(fix, native, out, sigma=12.0)
    resized = gaze.resize_heatmap(gaze.heatmap_egd(fix, native, sigma=12.0), out)
    assert np.abs(resized - direct).max() < 2e-3 * direct.max()
    # Area averaging keeps the mass (per native pixel area).
    assert_close(resized.sum() * (native[0] * native[1]) / (out[0] * out[1]), 3.0, atol=1e-4, rtol=1e-4)


def test_save_and_load_heatmap_roundtrip(tmp_path):
    fix = fixations([30, 60], [20, 70], ppd=4.0)
    hm = gaze.heatmap_reflacx(fix, (100, 90))
    path = gaze.save_heatmap(tmp_path / "g" / "case.npz", hm)
    with np.load(path) as data:
        assert data.files == ["heatmap"] and data["heatmap"].dtype == np.float16
    back = gaze.load_heatmap(path)
    assert back.dtype == np.float32 and back.shape == hm.shape
    # stored peak-normalised: same map up to a global scale, peak exactly 1
    assert back.max() == pytest.approx(1.0)
    assert_close(back, hm / hm.max(), rtol=2e-3, atol=1e-4)
    assert not list((tmp_path / "g").glob("*.tmp"))  # atomic write left nothing behind


def test_save_heatmap_rejects_bad_arrays(tmp_path):
    with pytest.raises(GazeFormatError, match="NaN"):
        gaze.save_heatmap(tmp_path / "a.npz", np.full((4, 4), np.nan))
    assert not (tmp_path / "a.npz").exists()
    # large values no longer overflow float16: the map is scaled to peak 1 first
    gaze.save_heatmap(tmp_path / "b.npz", np.full((4, 4), 1e6))
    assert gaze.load_heatmap(tmp_path / "b.npz").max() == pytest.approx(1.0)


def test_load_heatmap_bad_files(tmp_path):
    with pytest.raises(GazeFormatError, match="not found"):
        gaze.load_heatmap(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(GazeFormatError, match="not a readable"):
        gaze.load_heatmap(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", mask=np.ones((3, 3)))
    with pytest.raises(GazeFormatError, match="no 'heatmap'"):
        gaze.load_heatmap(tmp_path / "other.npz")
    np.savez(tmp_path / "cube.npz", heatmap=np.ones((2, 3, 3)))
    with pytest.raises(GazeFormatError, match="2-D"):
        gaze.load_heatmap(tmp_path / "cube.npz")
    np.savez(tmp_path / "nan.npz", heatmap=np.full((3, 3), np.nan, dtype=np.float16))
    with pytest.raises(GazeFormatError, match="NaN"):
        gaze.load_heatmap(tmp_path / "nan.npz")
    good = tmp_path / "good.npz"
    gaze.save_heatmap(good, np.ones((8, 8)))
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:40])
    with pytest.raises(GazeFormatError, match="trunc.npz"):
        gaze.load_heatmap(tmp_path / "trunc.npz")
    # Object arrays need pickle, which is never enabled for files we read.
    np.savez(tmp_path / "pickled.npz", heatmap=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GazeFormatError, match="pickled.npz"):
        gaze.load_heatmap(tmp_path / "pickled.npz")
