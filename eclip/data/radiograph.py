"""Is this image a chest radiograph? The check every import and the app's upload make.

eCLIP reads chest X-ray films. A DICOM file says what it is: ``Modality`` (CR, DX: a
projection radiograph; CT, MR, NM, US...: not), ``BodyPartExamined`` (CHEST, or a tibia...)
and ``ViewPosition`` (PA, AP, LL...). So a DICOM is refused when

* its Modality is present and not one of ``RADIOGRAPH_MODALITIES`` (CR, DX, DR, RG), or
* its BodyPartExamined is present and names no part of the chest (``CHEST_PARTS``);

an attribute that is absent or blank is not held against it (many exports drop them). PNG and
JPEG files carry none of this, so only their size is checked: every image whose shorter side
is below ``MIN_SIDE`` pixels (64) is refused, whatever its format. Resized to the 256 px working
resolution such an image would be a smooth blur that no model can read (a 1 x 1 PNG became
a flat grey film).

Importers may take non-chest images anyway (``--allow-non-chest``): the row is then flagged,
its ``non_chest`` column saying why. A visitor's upload is never taken; the message it gets
(``NotAChestRadiograph.plain``) names neither the file nor an option.

The checks read only the DICOM header (``dicom_facts``), so a CT series is refused before any
pixel data is decoded.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from eclip.data.images import UPLOAD_LABEL, load_image_bytes
from eclip.errors import ImageLoadError

MIN_SIDE = 64
RADIOGRAPH_MODALITIES = ("CR", "DX", "DR", "RG")  # DR: not a DICOM term, but vendors write it
CHEST_PARTS = ("CHEST", "THORAX", "LUNG", "RIB", "STERNUM")  # contained in BodyPartExamined
MODALITY_NAMES = {
    "CT": "a CT scan", "MR": "an MRI scan", "NM": "a nuclear-medicine scan", "PT": "a PET scan",
    "US": "an ultrasound image", "MG": "a mammogram", "XA": "an angiography image",
    "RF": "a fluoroscopy image", "IO": "a dental X-ray", "PX": "a dental X-ray",
    "OP": "an eye photograph", "XC": "a photograph", "ES": "an endoscopy image",
    "SM": "a microscopy slide", "SEG": "a segmentation", "SR": "a report",
}


@dataclass(frozen=True)
class Facts:
    """What a DICOM header says about the image (None: absent or blank)."""

    modality: str | None = None
    body_part: str | None = None
    view: str | None = None


class NotAChestRadiograph(ImageLoadError):
    """Refused: not a chest radiograph, or too small to be one.

    ``str()`` is "<file>: <plain>"; ``plain`` is for anyone (no file name, no option),
    ``detail`` the attribute that decided (for a log or an import's problem list), ``kind``
    one of "modality", "body_part", "too_small"."""

    def __init__(self, label: str, kind: str, plain: str, detail: str):
        super().__init__(f"{label}: {plain}")
        self.kind, self.plain, self.detail = kind, plain, detail


def dicom_facts(source: str | os.PathLike | bytes) -> Facts:
    """Modality, BodyPartExamined and ViewPosition of a DICOM file (a path, or its bytes),
    read from the header alone. Facts() when the header cannot be read: the loader that
    follows says why."""
    import pydicom

    src = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source)
    try:
        ds = pydicom.dcmread(src, stop_before_pixels=True, specific_tags=[
            "Modality", "BodyPartExamined", "ViewPosition"])
    except Exception:  # noqa: BLE001 - pydicom raises many types; load_image reports the file
        return Facts()
    return Facts(_text(ds.get("Modality")), _text(ds.get("BodyPartExamined")), _text(ds.get("ViewPosition")))


def non_chest_reason(facts: Facts) -> tuple[str, str, str] | None:
    """(kind, plain words, detail) when ``facts`` say the image is no chest radiograph."""
    modality = (facts.modality or "").upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        what = MODALITY_NAMES.get(modality, "not an X-ray film")
        return ("modality", f"this is {what}, not a chest X-ray. Only chest radiographs can be read.",
                f"DICOM Modality {modality!r}; accepted: {', '.join(RADIOGRAPH_MODALITIES)}")
    part = (facts.body_part or "").upper()
    if part and not any(p in part for p in CHEST_PARTS):
        return ("body_part", f"this X-ray shows the {part.lower().replace('_', ' ')}, not the chest. "
                "Only chest radiographs can be read.",
                f"DICOM BodyPartExamined {part!r}; accepted: one naming {', '.join(CHEST_PARTS)}")
    return None


def check_facts(facts: Facts, label: str, *, allow_non_chest: bool = False) -> str:
    """Raise ``NotAChestRadiograph`` when ``facts`` say the image is no chest radiograph;
    with ``allow_non_chest``, return why instead (the manifest's ``non_chest`` flag). ''
    for a chest radiograph (or a file that does not say)."""
    reason = non_chest_reason(facts)
    if reason is None:
        return ""
    kind, plain, detail = reason
    if allow_non_chest:
        return detail
    raise NotAChestRadiograph(label, kind, plain, detail)


def check_size(width: int, height: int, label: str) -> None:
    """Refuse an image with a side below ``MIN_SIDE`` pixels."""
    if min(width, height) < MIN_SIDE:
        raise NotAChestRadiograph(
            label, "too_small",
            f"this image is only {width}x{height} pixels, too small to be read as a chest X-ray "
            f"(at least {MIN_SIDE} pixels a side).",
            f"{width}x{height} px; a side below {MIN_SIDE} px")


def load_upload(data: bytes, *, keep_values: bool = False):
    """A visitor's upload, decoded (``eclip.data.images.load_image_bytes``) and checked as an
    import checks its files, the DICOM header before any pixel is decoded; never taken
    anyway. Every message names neither the file nor an option."""
    if bytes(data[128:132]) == b"DICM":
        check_facts(dicom_facts(bytes(data)), UPLOAD_LABEL)
    loaded = load_image_bytes(data, keep_values=keep_values)
    check_size(loaded.meta.width, loaded.meta.height, UPLOAD_LABEL)
    return loaded


def is_dicom(path: str | os.PathLike) -> bool:
    """The DICOM preamble's 'DICM' marker at byte 128 (what the loader goes by too)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False  # the loader says why


def _text(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
