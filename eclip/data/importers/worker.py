"""Importing one image: load, resize, store, and attach its gaze heatmap.

This is the only code that runs in the engine's worker processes, so it takes a ``Job``
and returns a plain result dict (both picklable) and touches nothing but the job's own
output files. A bad image becomes a result with an error, never an exception that would
stop a 300k-image import; only disk-level errors (full, read-only) propagate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from eclip.data import gaze, images, radiograph
from eclip.data.gaze.regions import save_regions
from eclip.data.importers.jobs import Job, clean_row
from eclip.data.manifest import WORKING_SIZE
from eclip.data.radiograph import NotAChestRadiograph
from eclip.errors import EclipError

ALLOW_HINT = ("Import it anyway with --allow-non-chest: it is then flagged in the manifest's "
              "non_chest column.")


def process_job(job: Job, out: str, size: int = WORKING_SIZE) -> dict:
    """Load, check, resize and store one image (+ gaze). Runs in a worker process; returns a
    result dict (``row`` is None when the image could not be imported). A DICOM that says it
    is no chest radiograph is refused from its header, before its pixels are decoded."""
    out = Path(out)
    warnings: list[str] = []
    image_rel = f"images/{job.id}.png"
    try:
        flag = ""
        if radiograph.is_dicom(job.source):
            flag = radiograph.check_facts(radiograph.dicom_facts(job.source), job.source,
                                          allow_non_chest=job.allow_non_chest)
        loaded = images.load_image(job.source)
        radiograph.check_size(loaded.meta.width, loaded.meta.height, job.source)
        work = images.to_working(loaded.pixels, size)
        images.save_png(work, out / image_rel)
    except NotAChestRadiograph as exc:
        why = str(exc) if exc.kind == "too_small" else f"{exc} ({exc.detail}) {ALLOW_HINT}"
        return {"id": job.id, "row": None, "error": why, "warnings": warnings}
    except EclipError as exc:
        return {"id": job.id, "row": None, "error": str(exc), "warnings": warnings}
    except (OSError, MemoryError):
        raise  # disk full, permissions: the whole import must stop and say so
    except Exception as exc:  # a decoder bug must not stop a 300k-image import
        return {"id": job.id, "row": None, "error": f"{type(exc).__name__}: {exc}",
                "warnings": warnings}
    h, w = loaded.pixels.shape[:2]
    row = dict(job.row)
    row.update(id=job.id, image_path=image_rel, orig_width=int(w), orig_height=int(h),
               gaze_path="", n_readings=0)
    if not str(row.get("view") or "").strip() and loaded.meta.view_position:
        row["view"] = loaded.meta.view_position.strip().upper()  # DICOM ViewPosition (PA, AP, LL...)
    if flag:
        row["non_chest"] = flag
    if job.gaze:
        native = tuple(job.native_shape) if job.native_shape else (h, w)
        try:
            hm, readings, warnings = _gaze_heatmap(job, native, work.shape[:2])
        except Exception as exc:  # keep the image; say why it has no gaze
            hm, readings, warnings = None, {}, [f"gaze not attached: {type(exc).__name__}: {exc}"]
        if hm is not None:
            gaze_rel = f"gaze/{job.id}.npz"
            _save_heatmap_atomic(out / gaze_rel, hm)
            gaze.save_readings(out, job.id, readings)
            row.update(gaze_path=gaze_rel, n_readings=len(readings))
    if job.regions:
        native = tuple(job.native_shape) if job.native_shape else (h, w)
        row.update(save_regions(out, job.id, job.regions, native, work.shape[:2]))
    return {"id": job.id, "row": clean_row(row), "error": None, "warnings": warnings,
            "pixels": pixel_digest(loaded.pixels)}


def pixel_digest(pixels: np.ndarray) -> str:
    """A fingerprint of an image's decoded pixels (shape, type and values): two files with
    the same digest hold the same film, whatever their names or encodings (a DICOM stored
    uncompressed and as lossless JPEG 2000)."""
    a = np.ascontiguousarray(pixels)
    h = hashlib.sha256(f"{a.shape} {a.dtype.str}\n".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:32]


def _gaze_heatmap(job: Job, native: tuple[int, int], shape: tuple[int, int]):
    """Average of the image's readings, each normalised to sum 1 so that a long reading
    does not outweigh a short one, and each reading's own map by name (the gaze-agreement
    ceiling scores one reader against the others). A bad reading is dropped with a warning."""
    maps, names, warnings = [], [], []
    for src in job.gaze:
        try:
            if src.kind == "egd":
                fix, _ = gaze.read_egd_fixations(src.path, src.dicom_id, image_size=native,
                                                 padding=src.padding)
                hm = gaze.heatmap_egd(fix, native, out_shape=shape)
            else:
                fix, _ = gaze.read_reflacx_fixations(src.path, image_size=native)
                hm = gaze.heatmap_reflacx(fix, native, out_shape=shape)
        except EclipError as exc:
            warnings.append(f"gaze reading {src.path} skipped: {exc}")
            continue
        hm = np.asarray(hm, dtype=np.float32)
        total = float(hm.sum())
        if not np.isfinite(total) or total <= 0:
            warnings.append(f"gaze reading {src.path} skipped: empty heatmap")
            continue
        maps.append(hm / total)
        names.append(_reading_name(src))
    if not maps:
        return None, {}, warnings
    avg = maps[0] if len(maps) == 1 else np.asarray(gaze.average_heatmaps(maps), np.float32)
    if avg.shape != tuple(shape):
        avg = gaze.resize_heatmap(avg, shape)
    return avg, dict(zip(names, maps)), warnings


def _reading_name(src) -> str:
    """REFLACX: the reading id (its main_data/<id>/ folder); EGD-CXR: one reading per image."""
    return Path(src.path).parent.name if src.kind == "reflacx" else src.kind


def _save_heatmap_atomic(path: Path, hm: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    gaze.save_heatmap(path, hm)  # float16 npz, written via temp file + rename
