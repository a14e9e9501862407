"""A visitor's upload that is no chest radiograph (a CT slice, a 1 x 1 PNG) is refused in plain
words, as an import refuses it (eclip.data.radiograph): no file name, no option, no code."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
NAME = "Zqxwy^Mortimer CT.dcm"  # a file named after the patient


def _refused(data: bytes) -> str:
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    at.file_uploader[0].set_value((NAME, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="case_id").value == "case000"  # the dataset's case stays current
    said = " ".join(e.value for e in at.error)
    for code in ("Zqxwy", ".dcm", "--allow", "Modality", "radiograph.py", "Error"):
        assert code not in said, code
    return said


def test_a_ct_slice_and_a_thumbnail_are_refused_in_plain_words(app_env):
    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm", download=False)
    if ct is None:
        pytest.skip("pydicom's CT_small.dcm is not installed")
    assert "this is a CT scan, not a chest X-ray" in _refused(Path(ct).read_bytes())
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    assert "too small to be read as a chest X-ray" in _refused(buf.getvalue())


def test_a_compression_this_server_cannot_decode_is_refused_without_server_advice():
    """The decoder's message names packages to install (for whoever runs the server); the
    visitor reads what to do with the file instead."""
    from app.components.upload import refusal
    from eclip.data.images import NoDecoder

    exc = NoDecoder("uploaded image: pixel data is compressed as JPEG Lossless and no decoder for it is "
                    "installed. Install one of: gdcm (e.g. pip install pylibjpeg).", "JPEG Lossless")
    said = refusal(exc)
    assert "compressed as JPEG Lossless, which this server cannot decode" in said
    assert "Export the image uncompressed (or as PNG)" in said
    for advice in ("install", "pip", "gdcm", "pylibjpeg"):
        assert advice not in said.lower(), advice
