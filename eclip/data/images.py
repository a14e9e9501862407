"""One loader for chest radiographs stored as DICOM, PNG or JPEG.

``load_image`` returns a float32 grey image in [0, 1] (0 = black on screen) plus
``DisplayMeta``: technical facts needed to show the image (size, bit depth, window...).
Patient identifiers never enter ``DisplayMeta`` or our log messages; ``read_identifiers``
is the one explicit way to read them.

DICOM display pipeline (PS3.3 C.11): stored values -> modality LUT (rescale slope/intercept
or Modality LUT Sequence) -> VOI (VOI LUT Sequence, else Window Center/Width, else the
min-max of the data) -> MONOCHROME1 inverted *after* VOI, so that the window a modality
chose is applied to the values it was chosen for.

Guard against decompression bombs: every format's header dimensions are checked against a
pixel limit before any pixel data is decoded. The limit is ``max_pixels``, else the
environment variable ``ECLIP_MAX_PIXELS`` (eclip.settings), else ``DEFAULT_MAX_PIXELS``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from eclip.data.manifest import WORKING_SIZE
from eclip.io import atomic_write_bytes
from eclip.errors import DataError, ImageLoadError
from eclip.settings import DEFAULT_MAX_PIXELS, settings  # noqa: F401 - DEFAULT_MAX_PIXELS re-exported

log = logging.getLogger(__name__)

MAX_PIXELS_ENV = "ECLIP_MAX_PIXELS"

_DICOM_EXT = {".dcm", ".dicom", ".dic"}
_PNG_EXT = {".png"}
_JPEG_EXT = {".jpg", ".jpeg", ".jpe", ".jfif"}
SUPPORTED_EXTENSIONS = tuple(sorted(_DICOM_EXT | _PNG_EXT | _JPEG_EXT))
UPLOAD_LABEL = "uploaded image"  # how messages name an in-memory file

# Chosen by measurement (`python benchmarks/data_io.py --filters`: the 1841x1955 CR and a
# 2400 px zone plate -> 224 px): LANCZOS and BICUBIC without reducing_gap leave no aliasing
# (zone-plate residue ~0.0005 vs 0.014 for BOX); LANCZOS keeps more detail below Nyquist,
# at ~17 ms per image on an idle core. reducing_gap shortcuts are faster but alias 10-20x more.
_DOWN_FILTER = Image.Resampling.LANCZOS
_UP_FILTER = Image.Resampling.BICUBIC

# Attributes that identify a patient, a visit or a place. read_identifiers() returns these;
# nothing else in this module ever reads them.
IDENTIFIER_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "OtherPatientNames",
    "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge", "PatientAddress",
    "PatientTelephoneNumbers", "PatientComments", "EthnicGroup", "MedicalRecordLocator",
    "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "SeriesDate", "AcquisitionDate",
    "ContentDate", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StationName",
    "DeviceSerialNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
)


@dataclass(frozen=True)
class DisplayMeta:
    """What a viewer needs to know about an image. Never holds patient identifiers."""

    format: str  # 'dicom' | 'png' | 'jpeg'
    width: int  # native size after EXIF orientation
    height: int
    bits_stored: int | None = None
    photometric: str | None = None  # DICOM Photometric Interpretation or Pillow mode
    window_center: float | None = None  # VOI actually applied (DICOM only)
    window_width: float | None = None
    voi_source: str | None = None  # 'voi_lut' | 'window' | 'minmax' | None
    voi_function: str | None = None  # LINEAR | LINEAR_EXACT | SIGMOID
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    signed: bool | None = None
    view_position: str | None = None  # PA, AP, LL...
    modality: str | None = None  # CR, DX...
    body_part: str | None = None
    patient_orientation: str | None = None  # e.g. 'L\\F' (row / column directions)
    pixel_spacing_mm: tuple[float, float] | None = None
    transfer_syntax: str | None = None
    exif_orientation: int | None = None  # JPEG/PNG EXIF tag 0x0112 before transposing


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # float32, H x W, [0, 1], 0 displays black
    meta: DisplayMeta
    # DICOM grey only, with keep_values: the values after the modality LUT (before VOI), so a
    # viewer can apply another window (eclip.data.window). None otherwise.
    values: np.ndarray | None = None


# --------------------------------------------------------------------------- entry points

def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> LoadedImage:
    """Load a DICOM, PNG or JPEG radiograph as float32 grey [0, 1].

    The format is taken from the file's content (DICOM preamble, PNG/JPEG signature), so
    DICOM files named by UID load too. ``max_pixels`` (default: env ``ECLIP_MAX_PIXELS`` or
    ``DEFAULT_MAX_PIXELS``) bounds width x height before decoding. Raises ``ImageLoadError``
    naming the file and the reason.
    """
    path = Path(path)
    limit = _resolve_limit(max_pixels)
    kind = _detect_format(path)
    if kind == "dicom":
        loaded = _load_dicom(path, limit)
    else:
        loaded = _load_pillow(path, kind, limit)
    m = loaded.meta
    log.debug("loaded %s: %s %dx%d %s", path.name, m.format, m.width, m.height, m.photometric)
    return loaded


def load_image_bytes(data: bytes, max_pixels: int | None = None, *,
                     keep_values: bool = False) -> LoadedImage:
    """``load_image`` for a file held in memory (a visitor's upload): never written to disk.

    The format comes from the content alone, so a DICOM without extension loads. Messages
    name it "uploaded image", never the file name (which may name the patient).
    """
    label = Path(UPLOAD_LABEL)
    limit = _resolve_limit(max_pixels)
    kind = _sniff(bytes(data[:132]))
    if kind is None:
        raise ImageLoadError(f"{UPLOAD_LABEL}: not a DICOM (no 'DICM' marker at byte 128), PNG "
                             "or JPEG file. Export the radiograph as one of these and try again.")
    if kind == "dicom":
        return _load_dicom(label, limit, source=io.BytesIO(data), keep_values=keep_values)
    return _load_pillow(label, kind, limit, source=io.BytesIO(data))


def read_identifiers(path: str | os.PathLike) -> dict[str, str]:
    """Patient/visit identifiers of a DICOM file (explicit call only; never logged).

    Returns the present, non-empty attributes of ``IDENTIFIER_KEYWORDS`` as strings. PNG
    and JPEG files carry no DICOM identifiers: an empty dict.
    """
    from pydicom.multival import MultiValue

    path = Path(path)
    if _detect_format(path) != "dicom":
        return {}
    ds = _read_dicom_header(path)
    out = {}
    for keyword in IDENTIFIER_KEYWORDS:
        value = ds.get(keyword)
        if isinstance(value, MultiValue):
            value = "\\".join(str(v) for v in value)
        if value is not None and str(value) != "":
            out[keyword] = str(value)
    return out


def to_working(pixels: np.ndarray, size: int = WORKING_SIZE) -> np.ndarray:
    """Resize so the longer side is ``size`` (aspect kept, antialiased); float32 [0, 1]."""
    arr = _as_grey_float(pixels)
    if size < 1:
        raise DataError(f"to_working: size must be >= 1, got {size}")
    h, w = arr.shape
    scale = size / max(h, w)
    out_w = max(1, round(w * scale))
    out_h = max(1, round(h * scale))
    if (out_h, out_w) == (h, w):
        return arr.copy()
    resample = _DOWN_FILTER if scale < 1 else _UP_FILTER
    small = Image.fromarray(arr, mode="F").resize((out_w, out_h), resample)
    out = np.asarray(small, dtype=np.float32)
    # Lanczos/bicubic ring slightly past the input range at edges.
    return np.clip(out, 0.0, 1.0)


def save_png(pixels01: np.ndarray, path: str | os.PathLike) -> None:
    """Write an 8-bit grey PNG atomically (a crash never leaves a half-written file)."""
    arr = _as_grey_float(pixels01)
    if not np.isfinite(arr).all():
        raise DataError(f"save_png({path}): pixels contain NaN or infinity")
    grey = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())


def load_working(path: str | os.PathLike) -> np.ndarray:
    """Fast reader for the 8-bit grey PNGs written by ``save_png``; float32 HxW [0, 1].

    Any other file goes through ``load_image`` (same checks, same result type).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            if im.format == "PNG" and im.mode == "L":
                return np.asarray(im, dtype=np.uint8).astype(np.float32) * np.float32(1 / 255)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a bad file
        raise ImageLoadError(f"{path}: cannot read stored image ({_reason(exc)})") from exc
    return load_image(path).pixels


# --------------------------------------------------------------------------- shared checks

def _resolve_limit(max_pixels: int | None) -> int:
    limit = settings().max_pixels if max_pixels is None else max_pixels  # the setting is checked
    if limit < 1:
        raise ImageLoadError(f"max_pixels must be a positive pixel count, got {limit}")
    return int(limit)


class ImageTooLarge(ImageLoadError):
    """The header claims more pixels than the limit: refused before any pixel is decoded.
    ``pixels`` and ``limit`` let an app word it for its own readers (the message is for
    whoever can raise the limit)."""

    def __init__(self, message: str, pixels: int, limit: int):
        super().__init__(message)
        self.pixels = pixels
        self.limit = limit


class NoDecoder(ImageLoadError):
    """The pixel data is compressed in a way no installed decoder reads. ``syntax`` (the
    transfer syntax's name) lets an app word it for its own readers (the message says what
    to install, for whoever runs the server)."""

    def __init__(self, message: str, syntax: str):
        super().__init__(message)
        self.syntax = syntax


def _check_pixels(path: Path, width: int, height: int, limit: int) -> None:
    if width < 1 or height < 1:
        raise ImageLoadError(f"{path}: header gives an empty image size {width}x{height}")
    if width * height > limit:
        raise ImageTooLarge(_too_big(path, width * height, f"{width}x{height}", limit), width * height, limit)


def _too_big(path: Path, n: int, dims: str, limit: int) -> str:
    return (
        f"{path}: image is {dims} = {n:,} pixels, more than the limit of {limit:,} "
        "(decompression-bomb guard). If you trust this file, raise the limit with "
        f"load_image(..., max_pixels=N) or the environment variable {MAX_PIXELS_ENV}=N."
    )


def _detect_format(path: Path) -> str:
    try:
        if path.is_dir():
            raise ImageLoadError(f"{path}: is a directory, not an image file")
        with open(path, "rb") as fh:
            head = fh.read(132)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot open ({_reason(exc)})") from exc
    if not head:
        raise ImageLoadError(f"{path}: file is empty (0 bytes)")
    kind = _sniff(head)
    ext = path.suffix.lower()
    by_ext = ("dicom" if ext in _DICOM_EXT else "png" if ext in _PNG_EXT
              else "jpeg" if ext in _JPEG_EXT else None)
    if kind is not None:
        if by_ext is not None and by_ext != kind:
            log.debug("%s: content is %s although the extension says %s", path.name, kind, by_ext)
        return kind
    if by_ext is None:
        raise ImageLoadError(
            f"{path}: unsupported file type {ext or '(no extension)'!r} and the content is "
            f"not DICOM, PNG or JPEG. Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    expected = {"dicom": "the 'DICM' marker at byte 128", "png": "the PNG signature",
                "jpeg": "the JPEG start-of-image marker"}[by_ext]
    raise ImageLoadError(
        f"{path}: not a valid {by_ext.upper()} file: content lacks {expected} "
        "(corrupt, or another kind of file renamed)"
    )


def _sniff(head: bytes) -> str | None:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _as_grey_float(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        raise DataError(f"expected a non-empty 2-D grey image, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


# --------------------------------------------------------------------------- DICOM

def _read_dicom_header(path: Path, source=None):
    import pydicom

    try:
        # defer_size: large values (the pixel data) stay on disk until accessed, so the
        # header can be checked before anything big is read or decoded.
        return pydicom.dcmread(path if source is None else source, defer_size="64 KB")
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad files
        raise ImageLoadError(f"{path}: not a readable DICOM file ({_reason(exc)})") from exc


def _load_dicom(path: Path, limit: int, source=None, keep_values: bool = False) -> LoadedImage:
    ds = _read_dicom_header(path, source)
    try:
        return _decode_dicom(path, ds, limit, keep_values)
    except (ImageLoadError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - values are parsed lazily: bad ones fail here
        raise ImageLoadError(f"{path}: malformed DICOM header or pixel data ({_reason(exc)}). Export the "
                             "image again (uncompressed DICOM or PNG) and retry.") from exc


def _decode_dicom(path: Path, ds, limit: int, keep_values: bool = False) -> LoadedImage:
    rows, cols = _dicom_dims(path, ds)
    frames = _int_or(ds.get("NumberOfFrames"), 1)
    if frames > 1:
        raise ImageLoadError(
            f"{path}: multi-frame DICOM ({frames} frames) is not supported; a radiograph has "
            "one frame. Export the frame you need as a single-frame file."
        )
    _check_pixels(path, cols, rows, limit)
    _check_decodable(path, ds)
    try:
        stored = ds.pixel_array
    except Exception as exc:  # noqa: BLE001
        raise ImageLoadError(f"{path}: cannot decode DICOM pixel data ({_reason(exc)}). The file may be "
                             "damaged: export the image again (uncompressed DICOM or PNG) and retry.") from exc
    if stored.shape[:2] != (rows, cols):
        raise ImageLoadError(
            f"{path}: decoded pixel data has shape {stored.shape}, header says {rows}x{cols}"
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    meta = _dicom_meta(ds, rows, cols, photometric)
    values = None
    if photometric.startswith("MONOCHROME"):
        pixels, voi, values = _dicom_grey(ds, stored, photometric, keep_values)
    elif photometric in ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"):
        pixels, voi = _dicom_colour(ds, stored), {}
    else:
        raise ImageLoadError(
            f"{path}: Photometric Interpretation {photometric!r} is not supported "
            "(expected MONOCHROME1, MONOCHROME2 or RGB)"
        )
    return LoadedImage(pixels=pixels, meta=_replace(meta, **voi), values=values)


def _dicom_dims(path: Path, ds) -> tuple[int, int]:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ImageLoadError(
            f"{path}: DICOM file has no pixel data (truncated file, or a non-image object "
            "such as a structured report)"
        )
    rows, cols = _int_or(ds.get("Rows"), 0), _int_or(ds.get("Columns"), 0)
    if rows < 1 or cols < 1:
        raise ImageLoadError(f"{path}: DICOM header lacks valid Rows/Columns ({rows}x{cols})")
    return rows, cols


def _check_decodable(path: Path, ds) -> None:
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if tsyntax is None or not tsyntax.is_compressed:
        return
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise NoDecoder(
            f"{path}: transfer syntax {tsyntax.name} ({tsyntax}) has no pixel data decoder "
            "in pydicom; convert the file to an uncompressed DICOM (e.g. dcmdjpeg/gdcmconv)", tsyntax.name
        ) from None
    if not decoder.is_available:
        options = "; ".join(decoder.missing_dependencies)
        raise NoDecoder(
            f"{path}: pixel data is compressed as {tsyntax.name} and no decoder for it is "
            f"installed. Install one of: {options} (e.g. pip install pylibjpeg "
            "pylibjpeg-libjpeg pylibjpeg-openjpeg).", tsyntax.name
        )


def _dicom_meta(ds, rows: int, cols: int, photometric: str) -> DisplayMeta:
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    spacing_mm = None
    if spacing is not None and len(spacing) == 2 and all(float(v) > 0 for v in spacing):
        spacing_mm = (float(spacing[0]), float(spacing[1]))
    orient = ds.get("PatientOrientation")
    return DisplayMeta(
        format="dicom",
        width=cols,
        height=rows,
        bits_stored=_int_or(ds.get("BitsStored"), None),
        photometric=photometric,
        signed=_int_or(ds.get("PixelRepresentation"), 0) == 1,
        view_position=_text(ds.get("ViewPosition")),
        modality=_text(ds.get("Modality")),
        body_part=_text(ds.get("BodyPartExamined")),
        patient_orientation="\\".join(orient) if orient else None,
        pixel_spacing_mm=spacing_mm,
        transfer_syntax=tsyntax.name if tsyntax is not None else None,
    )


def _dicom_grey(ds, stored: np.ndarray, photometric: str,
                keep_values: bool = False) -> tuple[np.ndarray, dict, np.ndarray | None]:
    values, rescale = _modality(ds, stored)
    kept = values.copy() if keep_values else None  # the VOI below works in place
    info = dict(rescale)
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        out = _voi_lut(ds, values)
        info.update(voi_source="voi_lut")
    else:
        out, window = _window(ds, values)
        info.update(window)
    if photometric == "MONOCHROME1":
        # MONOCHROME1: high values display dark. Inverting after VOI keeps the window
        # defined on the original values, as the standard requires.
        np.subtract(1.0, out, out=out)
    return out, info, kept


def _modality(ds, stored: np.ndarray) -> tuple[np.ndarray, dict]:
    if "ModalityLUTSequence" in ds and len(ds.ModalityLUTSequence) > 0:
        from pydicom.pixels import apply_modality_lut

        return apply_modality_lut(stored, ds).astype(np.float32, copy=False), {}
    slope = _float_or(ds.get("RescaleSlope"), 1.0)
    intercept = _float_or(ds.get("RescaleIntercept"), 0.0)
    values = stored.astype(np.float32)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values, {"rescale_slope": slope, "rescale_intercept": intercept}


def _voi_lut(ds, values: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_voi

    item = ds.VOILUTSequence[0]
    bits = int(item.LUTDescriptor[2]) or 16
    mapped = apply_voi(values, ds, index=0).astype(np.float32)
    top = max(float(2**bits - 1), float(mapped.max()), 1.0)
    mapped *= np.float32(1.0 / top)
    return mapped


def _window(ds, values: np.ndarray) -> tuple[np.ndarray, dict]:
    center = _first_float(ds.get("WindowCenter"))
    width = _first_float(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    if center is None or width is None or width <= 0 or (width < 1 and function == "LINEAR"):
        if center is not None or width is not None:
            log.debug("unusable window (center %s, width %s): using the data range", center, width)
        return _minmax(values)
    out = values  # transformed in place: the float copy is ours
    if function == "SIGMOID":
        out -= np.float32(center)
        out *= np.float32(-4.0 / width)
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        return out, _voi_info("window", center, width, function)
    if function == "LINEAR_EXACT":
        lo, scale = center - width / 2, 1.0 / width
    else:  # LINEAR, PS3.3 C.11.2.1.2.1: the ramp spans c - 0.5 -/+ (w - 1) / 2
        function = "LINEAR"
        if width == 1:
            return (values > center - 0.5).astype(np.float32), _voi_info("window", center, 1.0, function)
        lo, scale = center - 0.5 - (width - 1) / 2, 1.0 / (width - 1)
    out -= np.float32(lo)
    out *= np.float32(scale)
    np.clip(out, 0.0, 1.0, out=out)
    return out, _voi_info("window", center, width, function)


def _minmax(values: np.ndarray) -> tuple[np.ndarray, dict]:
    lo, hi = float(values.min()), float(values.max())
    out = values
    out -= np.float32(lo)
    if hi > lo:
        out *= np.float32(1.0 / (hi - lo))
    return out, _voi_info("minmax", (lo + hi) / 2, hi - lo, None)


def _voi_info(source: str, center: float, width: float, function: str | None) -> dict:
    return {"voi_source": source, "window_center": float(center), "window_width": float(width),
            "voi_function": function}


def _dicom_colour(ds, stored: np.ndarray) -> np.ndarray:
    # pydicom returns RGB for colour data; radiographs are shown grey, so use luma.
    rgb = stored.astype(np.float32)
    bits = _int_or(ds.get("BitsStored"), 8) or 8
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey *= np.float32(1.0 / (2**bits - 1))
    return np.clip(grey, 0.0, 1.0)


def _replace(meta: DisplayMeta, **changes) -> DisplayMeta:
    from dataclasses import replace

    return replace(meta, **changes) if changes else meta


def _int_or(value, default):
    try:
        return int(value) if value is not None and str(value) != "" else default
    except (TypeError, ValueError):
        return default


def _float_or(value, default: float) -> float:
    try:
        return float(value) if value is not None and str(value) != "" else default
    except (TypeError, ValueError):
        return default


def _first_float(value) -> float | None:
    """Window Center/Width may hold several presets; the first is the default one."""
    if value is None or str(value) == "":
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        if len(value) == 0:
            return None
        value = value[0]
    return _float_or(value, None)


def _text(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


# --------------------------------------------------------------------------- PNG / JPEG

_BOMB_RE = re.compile(r"\((\d+) pixels\)")


def _load_pillow(path: Path, kind: str, limit: int, source=None) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            # Our own guard (below) decides; Pillow's warning would only duplicate it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path if source is None else source)
    except Image.DecompressionBombError as exc:
        found = _BOMB_RE.search(str(exc))
        n = int(found.group(1)) if found else limit + 1
        if n > limit:
            raise ImageTooLarge(_too_big(path, n, "(from header)", limit), n, limit) from None
        raise ImageTooLarge(
            f"{path}: {n:,} pixels exceeds Pillow's own limit (2 x PIL.Image.MAX_IMAGE_PIXELS); "
            "raise PIL.Image.MAX_IMAGE_PIXELS as well as max_pixels to load it",
            n, 2 * int(Image.MAX_IMAGE_PIXELS or 0)
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageLoadError(f"{path}: not a readable {kind.upper()} file ({_reason(exc)})") from exc
    with im:
        _check_pixels(path, im.width, im.height, limit)
        try:
            im.load()
            orientation = im.getexif().get(0x0112)
            upright = ImageOps.exif_transpose(im) if orientation not in (None, 1) else im
            pixels, bits = _pil_grey(upright)
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt data
            raise ImageLoadError(f"{path}: cannot decode {kind.upper()} data ({_reason(exc)})") from exc
        meta = DisplayMeta(format=kind, width=pixels.shape[1], height=pixels.shape[0],
                           bits_stored=bits, photometric=im.mode,
                           exif_orientation=int(orientation) if orientation else None)
    return LoadedImage(pixels=pixels, meta=meta)


def _pil_grey(im: Image.Image) -> tuple[np.ndarray, int]:
    """Any Pillow mode -> float32 grey [0, 1] and the source bit depth."""
    mode = im.mode
    if mode == "L":
        return _scaled(np.asarray(im), 255), 8
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey PNG (Pillow gives I;16, or I for older files); values 0..65535.
        arr = np.asarray(im)
        return np.clip(_scaled(arr, 65535), 0.0, 1.0), 16
    if mode == "1":
        return np.asarray(im, dtype=np.float32), 1
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr), 32
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette.mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
        mode = im.mode
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return _flatten_alpha(im), 8
    return _scaled(np.asarray(im.convert("L")), 255), 8


def _flatten_alpha(im: Image.Image) -> np.ndarray:
    """Composite over black: transparent areas become background, as in a radiograph."""
    rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) * np.float32(1 / 255)
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(grey * rgba[..., 3], 0.0, 1.0)


def _scaled(arr: np.ndarray, top: int) -> np.ndarray:
    out = arr.astype(np.float32)
    out *= np.float32(1.0 / top)
    return out
