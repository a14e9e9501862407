"""eclip.data.window and eclip.data.images.load_image_bytes on synthetic DICOMs written with
pydicom (tests/data/test_images.write_dicom), PNG and JPEG bytes."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from PIL import Image

from data.test_images import IDENTIFIERS, pydicom_reference, ramp, write_dicom
from eclip.data.images import load_image, load_image_bytes
from eclip.data.window import (AS_STORED, PRESETS, Window, apply_window, preset_window,
                               windowable)
from eclip.errors import DataError, ImageLoadError
from floats import assert_close


def _dicom(tmp_path, arr, photometric="MONOCHROME2", name="scan", **attrs) -> bytes:
    return write_dicom(tmp_path / name, arr, photometric, bits_stored=12, **attrs).read_bytes()


def test_bytes_match_the_file_loader_and_keep_modality_values(tmp_path):
    arr = ramp((40, 30), 0, 4095, np.uint16)
    data = _dicom(tmp_path, arr, RescaleSlope=2, RescaleIntercept=-100, WindowCenter=3000,
                  WindowWidth=2000)
    from_bytes = load_image_bytes(data, keep_values=True)
    np.testing.assert_array_equal(from_bytes.pixels, load_image(tmp_path / "scan").pixels)
    assert_close(from_bytes.values, arr * 2.0 - 100)  # before VOI, after modality LUT
    assert load_image_bytes(data).values is None  # kept only when asked


def test_bytes_keep_monochrome1_and_voi_lut(tmp_path):
    """A file with a VOI LUT Sequence shows through the LUT, MONOCHROME1 inverted after it."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    arr = ramp((32, 32), 0, 4095, np.uint16)
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 12]
    lut.LUTData = (np.sqrt(np.arange(4096) / 4095) * 4095).astype(np.uint16).tolist()
    lut["LUTData"].VR = "US"
    path = write_dicom(tmp_path / "lut.dcm", arr, "MONOCHROME1", bits_stored=12,
                       VOILUTSequence=Sequence([lut]))
    loaded = load_image_bytes(path.read_bytes(), keep_values=True)
    assert loaded.meta.voi_source == "voi_lut"
    assert_close(loaded.pixels, pydicom_reference(path), atol=2e-3)
    assert loaded.pixels.flat[arr.argmax()] == pytest.approx(0.0, abs=1e-6)  # inverted


def test_bytes_of_png_and_jpeg_and_garbage():
    grey = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, fmt)
        loaded = load_image_bytes(buf.getvalue(), keep_values=True)
        assert loaded.meta.format == fmt.lower() and loaded.pixels.shape == (48, 64)
        assert loaded.values is None
    with pytest.raises(ImageLoadError, match="uploaded image: not a DICOM"):
        load_image_bytes(b"%PDF-1.4 not an image" * 10)


def test_bytes_pixel_limit_names_no_file(tmp_path):
    data = _dicom(tmp_path, np.zeros((20, 20), np.uint16), name="DOE^JOHN.dcm")
    with pytest.raises(ImageLoadError) as err:
        load_image_bytes(data, max_pixels=100)
    assert "uploaded image" in str(err.value) and "DOE" not in str(err.value)


def test_identifiers_never_in_the_upload_result_or_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = _dicom(tmp_path, ramp((24, 24), 0, 4095, np.uint16), **IDENTIFIERS)
    loaded = load_image_bytes(data, keep_values=True)
    shown = windowable(loaded)
    text = repr(loaded.meta) + repr(shown.stored_window) + caplog.text
    for value in IDENTIFIERS.values():
        if len(value) >= 4:  # 'O' occurs anywhere
            assert value not in text


def test_apply_window_is_the_dicom_linear_ramp_and_inverts_after():
    values = np.arange(0, 4096, dtype=np.float32)
    out = apply_window(values, Window(1000, 1000))
    # PS3.3 C.11.2.1.2.1: black at <= c - 0.5 - (w-1)/2, white at > c - 0.5 + (w-1)/2
    assert out[500] == 0.0 and out[1499] == pytest.approx(1.0, abs=1e-3) and out[1500] == 1.0
    assert out[1000] == pytest.approx(0.5, abs=1e-3)
    assert_close(apply_window(values, Window(1000, 1000), invert=True), 1 - out)
    with pytest.raises(DataError, match="at least 1"):
        apply_window(values, Window(0, 0.5))


def test_window_matches_the_loader_for_the_file_window(tmp_path):
    """Re-applying a file's own window to its kept values gives the stored rendering."""
    arr = ramp((40, 40), 0, 4095, np.uint16)
    loaded = load_image_bytes(_dicom(tmp_path, arr, "MONOCHROME1", WindowCenter=1500,
                                     WindowWidth=800), keep_values=True)
    shown = windowable(loaded, size=40)
    assert shown.stored_window == Window(1500, 800) and shown.invert
    assert_close(shown.render(shown.stored_window), loaded.pixels, atol=1e-5)
    np.testing.assert_array_equal(shown.render(None), shown.stored)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_presets_cover_their_brightness_quantiles(tmp_path, photometric):
    """Each preset maps its quantile band of displayed brightness onto black..white, so a
    MONOCHROME1 film gets the window a MONOCHROME2 one would."""
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 4096, size=(64, 64)).astype(np.uint16)
    loaded = load_image_bytes(_dicom(tmp_path, arr, photometric), keep_values=True)
    shown = windowable(loaded, size=64)
    base = shown.render(Window(2048, 4096))  # near-identity display order
    for name, (lo_q, hi_q) in PRESETS.items():
        out = shown.render(shown.preset(name))
        dark = base <= np.quantile(base, lo_q) - 0.01
        bright = base >= np.quantile(base, hi_q) + 0.01
        assert (out[dark] == 0.0).all() and (out[bright] == 1.0).all(), name
        assert 0.0 < out.mean() < 1.0
    assert shown.preset(AS_STORED) is None
    lung, bone = shown.preset("lung"), shown.preset("bone")
    darker_first = lung.center < bone.center if photometric == "MONOCHROME2" else lung.center > bone.center
    assert darker_first
    with pytest.raises(DataError, match="unknown window preset"):
        preset_window(shown.values, "brain")


def test_windowable_of_png_rewindows_grey_levels():
    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (8, 1))).save(buf, "PNG")
    shown = windowable(load_image_bytes(buf.getvalue()), size=256)
    assert shown.values.max() == pytest.approx(255) and shown.stored_window is None
    assert_close(shown.render(Window(128, 256)), shown.stored, atol=1 / 255 + 1e-6)
