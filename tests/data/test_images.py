"""eclip.data.images on a real CR chest DICOM (pydicom-data's RG1_UNCR.dcm) and on small
DICOM/PNG/JPEG files written here in their public formats."""

from __future__ import annotations

import logging
import struct
import tracemalloc
import warnings
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from eclip.data.images import (
    DEFAULT_MAX_PIXELS,
    DisplayMeta,
    LoadedImage,
    NoDecoder,
    load_image,
    load_working,
    read_identifiers,
    save_png,
    to_working,
)
from eclip.errors import DataError, ImageLoadError
from floats import assert_close

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


@pytest.fixture(scope="module")
def rg1_path() -> Path:
    # pydicom finds pydicom-data's installed files itself: no download, works offline.
    path = get_testdata_file("RG1_UNCR.dcm")
    assert path is not None, "pydicom-data is not installed (see requirements.txt)"
    return Path(path)


def write_dicom(path: Path, arr: np.ndarray, photometric: str = "MONOCHROME2",
                bits_stored: int | None = None, **attrs) -> Path:
    """A minimal, valid CR DICOM (explicit VR little endian) holding ``arr``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CR_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.ViewPosition = "PA"
    colour = arr.ndim == 3
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def pydicom_reference(path: Path) -> np.ndarray:
    """Expected display values via pydicom's own LUT functions (an independent path)."""
    ds = pydicom.dcmread(path)
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    lo, hi = 0.0, 2.0**ds.BitsStored - 1
    if ds.PixelRepresentation == 1:
        lo, hi = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    lo, hi = lo * slope + intercept, hi * slope + intercept
    out = (values - lo) / (hi - lo)
    return 1.0 - out if ds.PhotometricInterpretation == "MONOCHROME1" else out


def ramp(shape, lo, hi, dtype) -> np.ndarray:
    return np.linspace(lo, hi, int(np.prod(shape))).round().astype(dtype).reshape(shape)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose IHDR (with a valid CRC) claims width x height."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- real DICOM

def test_real_cr_chest_matches_pydicom_display_pipeline(rg1_path):
    loaded = load_image(rg1_path)
    assert isinstance(loaded, LoadedImage)
    px = loaded.pixels
    assert px.dtype == np.float32 and px.shape == (1955, 1841)
    assert 0.0 <= px.min() and px.max() <= 1.0
    m = loaded.meta
    assert (m.format, m.width, m.height, m.modality, m.view_position) == ("dicom", 1841, 1955, "CR", "PA")
    assert m.photometric == "MONOCHROME1" and m.bits_stored == 15
    assert (m.window_center, m.window_width, m.voi_source) == (15000.0, 30000.0, "window")
    assert_close(px, pydicom_reference(rg1_path), atol=1e-4)
    # MONOCHROME1: the highest stored value (densest) must display darkest.
    stored = pydicom.dcmread(rg1_path).pixel_array
    assert px.flat[stored.argmax()] == pytest.approx(px.min(), abs=1e-6)
    assert px.flat[stored.argmin()] == pytest.approx(px.max(), abs=1e-6)


def test_real_jpeg2000_copy_decodes_to_the_same_pixels(rg1_path):
    j2k = get_testdata_file("RG1_J2KR.dcm")
    ts = pydicom.dcmread(j2k, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if not get_decoder(ts).is_available:
        pytest.skip("no JPEG 2000 decoder installed")
    np.testing.assert_array_equal(load_image(j2k).pixels, load_image(rg1_path).pixels)


@pytest.mark.parametrize("syntax", ["JPEGLosslessProcess14_1", "JPEGLSLossless"])
def test_real_cr_chest_compressed_losslessly_decodes_to_the_same_pixels(rg1_path, tmp_path, syntax):
    """JPEG Lossless (process 14) is how CR/DX films are usually stored compressed; GDCM decodes
    it and JPEG-LS. The real chest film is re-encoded here with GDCM itself."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(rg1_path))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(tmp_path / "rg1.dcm"))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    ts = pydicom.dcmread(tmp_path / "rg1.dcm", stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert ts.is_compressed and ("JPEG-LS" in ts.name) == (syntax == "JPEGLSLossless")
    np.testing.assert_array_equal(load_image(tmp_path / "rg1.dcm").pixels, load_image(rg1_path).pixels)


def test_compressed_dicom_without_decoder_says_what_to_install(monkeypatch):
    import pydicom.pixels

    class Missing:  # as pydicom reports a decoder whose plugins are not installed
        is_available = False
        missing_dependencies = ["gdcm - requires gdcm>=3.0.10"]

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: Missing())
    path = get_testdata_file("JPEG-LL.dcm")  # real JPEG Lossless (process 14) file
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    with pytest.raises(NoDecoder, match="no decoder.*Install one of: gdcm.*pip install pylibjpeg") as err:
        load_image(path)
    assert "JPEG-LL.dcm" in str(err.value) and err.value.syntax == ts.name


def test_real_identifiers_only_via_explicit_call(rg1_path):
    ids = read_identifiers(rg1_path)
    assert ids["PatientName"] == "CompressedSamples^RG1"
    assert ids["PatientID"] == "9RG1" and ids["PatientBirthDate"] == "19400305"
    loaded = load_image(rg1_path)
    shown = repr(loaded.meta) + str(asdict(loaded.meta))
    for value in ("CompressedSamples", "9RG1", "19400305", "26210", "Hamburg"):
        assert value not in shown


# --------------------------------------------------------------------------- identifiers

IDENTIFIERS = {
    "PatientName": "Zqxwy^Mortimer",
    "PatientID": "PID-99887766",
    "PatientBirthDate": "19010203",
    "PatientSex": "O",
    "OtherPatientIDs": "OTHER-554433",
    "AccessionNumber": "ACC-31337",
    "InstitutionName": "Hospital Of Secrets",
    "ReferringPhysicianName": "Referrer^Xavier",
    "StudyDate": "19990817",
}


def test_identifiers_never_reach_loader_output_or_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = write_dicom(tmp_path / "case.dcm", ramp((32, 24), 0, 4095, np.uint16), bits_stored=12,
                       WindowCenter=2048, WindowWidth=4096, **IDENTIFIERS)
    loaded = load_image(path)
    working = to_working(loaded.pixels, 16)
    save_png(working, tmp_path / "w.png")
    # A header that fails the pixel guard must not leak identifiers in its error either.
    big = write_dicom(tmp_path / "big.dcm", np.zeros((2, 2), np.uint16), **IDENTIFIERS)
    ds = pydicom.dcmread(big)
    ds.Rows = ds.Columns = 60000
    ds.save_as(big)
    with pytest.raises(ImageLoadError) as err:
        load_image(big)
    texts = [repr(loaded), str(asdict(loaded.meta)), repr(loaded.meta), caplog.text, str(err.value)]
    assert "case.dcm" in caplog.text  # the log did record the load
    for key, value in IDENTIFIERS.items():
        if len(value) < 4:  # 'O' occurs in any text; checked via read_identifiers below
            continue
        for text in texts:
            assert value not in text, f"{key} leaked"
        assert value.split("^")[0] not in caplog.text
    assert read_identifiers(path) == {**IDENTIFIERS, **read_identifiers(path)}
    assert read_identifiers(path)["PatientSex"] == "O"


def test_read_identifiers_joins_multiple_values(tmp_path):
    path = write_dicom(tmp_path / "m.dcm", np.zeros((2, 2), np.uint8),
                       OtherPatientIDs=["OID-1", "OID-2"], PatientName="A^B")
    ids = read_identifiers(path)
    assert ids["OtherPatientIDs"] == "OID-1\\OID-2" and ids["PatientName"] == "A^B"
    assert "PatientID" not in ids  # absent attributes are left out


def test_read_identifiers_of_png_is_empty(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    assert read_identifiers(tmp_path / "a.png") == {}


# --------------------------------------------------------------------------- DICOM variants

def test_monochrome1_inverted_after_window(tmp_path):
    arr = ramp((40, 30), 0, 4095, np.uint16)
    path = write_dicom(tmp_path / "m1.dcm", arr, "MONOCHROME1", bits_stored=12,
                       WindowCenter=1000, WindowWidth=1000)
    px = load_image(path).pixels
    assert_close(px, pydicom_reference(path), atol=1e-5)
    # Window 500..1500 on stored values: below it white, above it black (inverted).
    assert px.flat[arr.argmax()] == 0.0 and px.flat[arr.argmin()] == 1.0
    mid = np.argmin(np.abs(arr.ravel().astype(float) - 1000))
    assert px.flat[mid] == pytest.approx(0.5, abs=0.01)


def test_monochrome1_without_window_uses_data_range(tmp_path):
    arr = ramp((20, 20), 100, 900, np.uint16)
    path = write_dicom(tmp_path / "m1.dcm", arr, "MONOCHROME1", bits_stored=12)
    loaded = load_image(path)
    assert loaded.meta.voi_source == "minmax"
    assert_close(loaded.pixels, 1 - (arr - 100.0) / 800.0, atol=1e-6)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("bits", [12, 16])
def test_window_functions_match_pydicom(tmp_path, bits, function):
    top = 2**bits - 1
    arr = ramp((48, 64), 0, top, np.uint16)
    path = write_dicom(tmp_path / "w.dcm", arr, bits_stored=bits, WindowCenter=top * 0.4,
                       WindowWidth=top * 0.3, VOILUTFunction=function)
    loaded = load_image(path)
    assert loaded.meta.voi_function == function and loaded.meta.bits_stored == bits
    assert_close(loaded.pixels, pydicom_reference(path), atol=2e-5)


def test_unusable_window_falls_back_to_data_range(tmp_path):
    arr = ramp((8, 8), 10, 110, np.uint16)
    loaded = load_image(write_dicom(tmp_path / "z.dcm", arr, WindowCenter=50, WindowWidth=0))
    assert loaded.meta.voi_source == "minmax" and loaded.meta.window_width == 100.0
    assert_close(loaded.pixels, (arr - 10.0) / 100.0, atol=1e-6)


def test_eight_bit_dicom_without_window(tmp_path):
    arr = ramp((10, 12), 20, 220, np.uint8)
    loaded = load_image(write_dicom(tmp_path / "e.dcm", arr))
    assert_close(loaded.pixels, (arr - 20.0) / 200.0, atol=1e-6)


@pytest.mark.parametrize("bits", [12, 16])
def test_signed_dicom_with_rescale(tmp_path, bits):
    arr = ramp((30, 40), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, np.int16)
    path = write_dicom(tmp_path / "s.dcm", arr, bits_stored=bits, RescaleSlope=2,
                       RescaleIntercept=-1024, WindowCenter=-1024, WindowWidth=2 ** bits)
    loaded = load_image(path)
    assert loaded.meta.signed and loaded.meta.rescale_slope == 2.0
    assert_close(loaded.pixels, pydicom_reference(path), atol=2e-5)
    assert loaded.pixels.flat[arr.argmin()] == 0.0 and loaded.pixels.flat[arr.argmax()] == 1.0


def test_rgb_dicom_becomes_grey(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 1] = (255, 255, 255)
    px = load_image(write_dicom(tmp_path / "c.dcm", rgb, "RGB")).pixels
    assert px.shape == (4, 4)
    assert px[0, 0] == pytest.approx(0.299, abs=1e-3) and px[1, 1] == pytest.approx(1.0, abs=1e-3)


def test_multi_frame_dicom_rejected(tmp_path):
    path = write_dicom(tmp_path / "mf.dcm", np.zeros((2 * 8, 8), np.uint16), NumberOfFrames=2)
    ds = pydicom.dcmread(path)
    ds.Rows = 8
    ds.save_as(path)
    with pytest.raises(ImageLoadError, match=r"mf\.dcm.*multi-frame.*2 frames"):
        load_image(path)


def test_dicom_named_by_uid_is_recognised_by_content(tmp_path):
    path = write_dicom(tmp_path / "1.2.826.0.1.3680043.1234", ramp((8, 8), 0, 255, np.uint8))
    assert load_image(path).meta.format == "dicom"


# --------------------------------------------------------------------------- pixel guard

def test_huge_dicom_header_rejected_before_decoding(tmp_path):
    path = write_dicom(tmp_path / "huge.dcm", np.zeros((2, 2), np.uint16))
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 60000  # 3.6 Gpx = 7.2 GB if anything were allocated
    ds.save_as(path)
    tracemalloc.start()
    try:
        with pytest.raises(ImageLoadError, match=r"huge\.dcm.*60000x60000.*ECLIP_MAX_PIXELS"):
            load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


@pytest.mark.parametrize("side", [10_000, 30_000])  # above our limit; 30k also above Pillow's
def test_huge_png_header_maps_pillow_bomb_guard(tmp_path, side):
    path = png_claiming(tmp_path / "bomb.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow DecompressionBombWarning may escape
        with pytest.raises(ImageLoadError, match=r"bomb\.png.*limit of 64,000,000.*ECLIP_MAX_PIXELS"):
            load_image(path)


def test_pillow_hard_limit_explained_when_ours_is_raised(tmp_path):
    path = png_claiming(tmp_path / "bomb.png", 30_000, 30_000)
    with pytest.raises(ImageLoadError, match="MAX_IMAGE_PIXELS"):
        load_image(path, max_pixels=10**10)


def test_pixel_limit_parameter_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("L", (30, 20)).save(path)
    with pytest.raises(ImageLoadError, match="600 pixels, more than the limit of 100"):
        load_image(path, max_pixels=100)
    assert load_image(path, max_pixels=600).pixels.shape == (20, 30)
    monkeypatch.setenv("ECLIP_MAX_PIXELS", "599")
    with pytest.raises(ImageLoadError, match="limit of 599"):
        load_image(path)
    monkeypatch.setenv("ECLIP_MAX_PIXELS", "lots")
    from eclip.settings import SettingsError  # a wrong value fails where the settings are read

    with pytest.raises(SettingsError, match="ECLIP_MAX_PIXELS='lots'"):
        load_image(path)
    assert DEFAULT_MAX_PIXELS >= 4300 * 4300  # any real radiograph fits the default


# --------------------------------------------------------------------------- PNG / JPEG

def test_sixteen_bit_png(tmp_path):
    arr = ramp((20, 30), 0, 65535, np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    loaded = load_image(tmp_path / "g16.png")
    assert loaded.meta.format == "png" and loaded.meta.bits_stored == 16
    assert_close(loaded.pixels, arr / 65535.0, atol=1e-6)


def test_rgba_png_composited_over_black(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 255)  # opaque white
    rgba[0, 1] = (255, 255, 255, 0)  # transparent white -> background
    rgba[0, 2] = (255, 255, 255, 128)  # half transparent
    rgba[1, 0] = (0, 0, 255, 255)  # opaque blue -> luma
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    px = load_image(tmp_path / "a.png").pixels
    assert px.shape == (2, 3)
    assert px[0, 0] == pytest.approx(1.0, abs=1e-3) and px[0, 1] == 0.0
    assert px[0, 2] == pytest.approx(128 / 255, abs=1e-3) and px[1, 0] == pytest.approx(0.114, abs=1e-3)


def test_palette_png(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 255, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    im.putpixel((0, 0), 1)
    im.putpixel((1, 0), 2)
    im.save(tmp_path / "p.png")
    px = load_image(tmp_path / "p.png").pixels
    assert px[0, 0] == pytest.approx(1.0, abs=1e-2) and px[0, 1] == pytest.approx(0.587, abs=1e-2)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40), np.uint8)  # landscape as stored
    arr[:8, :8] = 255  # bright block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "r.jpg")
    assert loaded.meta.format == "jpeg" and loaded.meta.exif_orientation == 6
    assert loaded.pixels.shape == (40, 20) and (loaded.meta.width, loaded.meta.height) == (20, 40)
    assert loaded.pixels[:8, -8:].mean() > 0.9 and loaded.pixels[:8, :8].mean() < 0.1


def test_plain_grey_jpeg(tmp_path):
    arr = ramp((16, 16), 0, 255, np.uint8)
    Image.fromarray(arr).save(tmp_path / "g.jpeg", quality=100)
    assert_close(load_image(tmp_path / "g.jpeg").pixels, arr / 255.0, atol=0.03)


# --------------------------------------------------------------------------- bad files

def _bad(path: Path, pattern: str):
    with pytest.raises(ImageLoadError, match=pattern) as err:
        load_image(path)
    assert path.name in str(err.value)


def test_truncated_dicom_in_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "t.dcm", ramp((64, 64), 0, 4095, np.uint16), bits_stored=12)
    path.write_bytes(path.read_bytes()[:-3000])
    _bad(path, "cannot decode DICOM pixel data")


def test_truncated_dicom_in_header(tmp_path):
    path = write_dicom(tmp_path / "t.dcm", ramp((64, 64), 0, 4095, np.uint16), bits_stored=12)
    path.write_bytes(path.read_bytes()[:300])
    _bad(path, "no pixel data|not a readable DICOM")


def test_truncated_png(tmp_path):
    path = tmp_path / "t.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:-500])
    _bad(path, "cannot decode PNG|not a readable PNG")


@pytest.mark.parametrize("name,kind", [("x.dcm", "DICOM"), ("x.png", "PNG"), ("x.jpg", "JPEG")])
def test_text_file_renamed(tmp_path, name, kind):
    path = tmp_path / name
    path.write_text("This is a report, not an image.\n" * 10)
    _bad(path, f"not a valid {kind} file")


def test_empty_missing_unsupported_and_directory(tmp_path):
    (tmp_path / "e.dcm").write_bytes(b"")
    _bad(tmp_path / "e.dcm", "empty")
    _bad(tmp_path / "missing.png", "not found")
    Image.new("L", (4, 4)).save(tmp_path / "x.gif")
    _bad(tmp_path / "x.gif", "unsupported file type '.gif'")
    (tmp_path / "d.png").mkdir()
    _bad(tmp_path / "d.png", "directory")


def test_corrupt_png_body(tmp_path):
    path = tmp_path / "c.png"
    Image.fromarray(ramp((32, 32), 0, 255, np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[60:80] = b"\x00" * 20  # inside the IDAT stream
    path.write_bytes(bytes(data))
    _bad(path, "PNG")


# --------------------------------------------------------------------------- working size

@pytest.mark.parametrize("shape,size,expected", [
    ((1955, 1841), 256, (256, 241)),
    ((100, 300), 256, (85, 256)),
    ((300, 300), 224, (224, 224)),
    ((10, 20), 256, (128, 256)),  # upsampled
])
def test_to_working_shape_aspect_range(shape, size, expected):
    rng = np.random.default_rng(1)
    out = to_working(rng.random(shape, dtype=np.float32), size)
    assert out.shape == expected and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert abs(out.shape[1] / out.shape[0] - shape[1] / shape[0]) < 0.02


def test_to_working_antialiases():
    stripes = np.tile(np.array([0.0, 1.0], np.float32), (512, 256))  # 1-px period
    out = to_working(stripes, 100)
    assert abs(out.mean() - 0.5) < 0.01 and out.std() < 0.02  # no moire


def test_to_working_keeps_content_and_rejects_bad_input(rg1_path):
    px = load_image(rg1_path).pixels
    small = to_working(px, 256)
    assert abs(float(small.mean()) - float(px.mean())) < 0.01
    assert np.array_equal(to_working(small, 256), small)
    with pytest.raises(DataError):
        to_working(np.zeros((3, 4, 3), np.float32))


def test_save_png_roundtrip_and_atomic(tmp_path):
    px = np.random.default_rng(2).random((30, 50), dtype=np.float32)
    target = tmp_path / "sub" / "w.png"
    save_png(px, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["w.png"]  # no temp left
    with Image.open(target) as im:
        assert im.mode == "L" and im.size == (50, 30)
    back = load_working(target)
    assert back.dtype == np.float32 and np.abs(back - px).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(back, load_image(target).pixels)
    with pytest.raises(DataError):
        save_png(np.full((2, 2), np.nan, np.float32), tmp_path / "n.png")


def test_load_working_other_files_and_errors(tmp_path):
    arr = ramp((8, 8), 0, 65535, np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    assert_close(load_working(tmp_path / "g16.png"), arr / 65535.0, atol=1e-6)
    with pytest.raises(ImageLoadError, match="not found"):
        load_working(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(ImageLoadError, match="bad.png"):
        load_working(tmp_path / "bad.png")


def test_display_meta_has_no_identifier_fields():
    fields = set(DisplayMeta.__dataclass_fields__)
    assert not fields & {"patient_name", "patient_id", "birth_date", "accession_number",
                         "institution", "study_date", "path", "filename"}
