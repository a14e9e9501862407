"""What several app tests share: uploads that carry a patient's identifiers, what a page sends
to the browser, and a dataset larger than a case box lists."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from data.test_images import IDENTIFIERS, ramp, write_dicom

# Identifier strings long enough to be unmistakable in a page (PatientSex 'O' is not).
SECRETS = [v for v in IDENTIFIERS.values() if len(v) >= 4] + ["Zqxwy", "Mortimer"]
UPLOAD_NAME = "Zqxwy^Mortimer 1932-04-01.txt"  # a file named after the patient
BIG = 1100  # cases: more than a case box lists (app.core.cases.LIST_LIMIT = 1,000)


def dicom_bytes(tmp_path: Path, photometric: str = "MONOCHROME1") -> bytes:
    """A 12-bit CR with a window and every identifier of IDENTIFIERS in its header."""
    arr = ramp((120, 96), 0, 4095, np.uint16)
    return write_dicom(tmp_path / "upload_no_ext", arr, photometric, bits_stored=12,
                       WindowCenter=2000, WindowWidth=3000, **IDENTIFIERS).read_bytes()


def png_bytes() -> bytes:
    yy, xx = np.mgrid[0:80, 0:64]
    buf = io.BytesIO()
    Image.fromarray(((xx + yy) * 1.7).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def page_text(at: AppTest) -> str:
    """Everything the page sends to the browser (every element's protobuf, as text)."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(out)
