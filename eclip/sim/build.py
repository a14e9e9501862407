"""Build the demo corpus: simulated films for real Open-I reports, with masks and gaze.

Each case is independent and seeded from (seed, case index), so a parallel build writes
exactly the same bytes as a serial one. Files per case (under ``out``):

- ``images/<id>.png``  8-bit grey film (``size`` x ``size``)
- ``masks/<id>.npz``   one bool array per drawn CheXpert label (abnormal cases only)
- ``lungs/<id>.npz``   the phantom's lung fields (both lungs and the mediastinum between
  them), in the form importers write from anatomy outlines (``eclip.data.gaze.regions``)
- ``gaze/<id>/fixations.csv`` (REFLACX format) and ``gaze/<id>.npz`` (REFLACX heatmap,
  float16, same HxW as the film) for a ``gaze_fraction`` of the cases, and beside them
  ``gaze/<id>/readings/reader1.npz`` (that same reading) and ``reader2.npz`` (a second,
  independent reader of the same film), as importers keep each reading of a multi-reader
  image. The gaze map stays the first reader's alone (``n_readings`` 1), so the agreement
  ceiling scores the second reader against it exactly as a model's map is scored.

``demo_info.json`` records how the corpus was built (``eclip.data.demo_info``); nothing that
reads the folder needs the simulator.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import multiprocessing as mp
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eclip.data.demo_info import DEMO_INFO, DEMO_VERSION
from eclip.data.gaze import heatmap_reflacx, save_heatmap, save_readings, write_reflacx_fixations
from eclip.data.gaze.regions import LUNG_DIR, fill_rows, save_lung_fields
from eclip.data.manifest import LABELS, save_array_npz, write_manifest
from eclip.io import atomic_write_bytes
from eclip.data.reports import mesh_to_labels
from eclip.errors import DataError

from .mesh import plan_from_mesh
from .phantom import Knobs, Scene, lung_chord
from .render import STREAM_GAZE, STREAM_PLAN, STREAM_SECOND_READER, render_case, stream
from .reports_pool import PoolReport, draw_reports, load_pool, split_of
from .scanpath import NATIVE_SCALE, ReaderKnobs, native_shape, simulate_reading

log = logging.getLogger(__name__)
VERSION = DEMO_VERSION  # demo-3: lung fields and a second reader stored (eclip.data.demo_info)


def write_fast(path: Path, data: bytes) -> None:
    """Atomic but not fsynced: the corpus is cheap to rebuild, and one fsync per file
    costs more than rendering it."""
    atomic_write_bytes(Path(path), data, durable=False)


def save_film_png(film: np.ndarray, path: Path) -> None:
    """8-bit grey PNG, quantised like ``eclip.data.images.save_png`` but with zlib level 3
    (4x faster to encode than the default for ~12 % more bytes; noisy films hardly
    compress anyway)."""
    from PIL import Image

    grey = (np.clip(film, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="PNG", compress_level=3)
    write_fast(path, buf.getvalue())


def case_labels(report: PoolReport, drawn_labels) -> dict[str, float]:
    """CheXpert labels from the MeSH terms, plus 1 for every label we drew a mask for
    (e.g. "Costophrenic Angle/blunted" is drawn as a small effusion)."""
    labels = mesh_to_labels(list(report.mesh))
    for lab in drawn_labels:
        labels[lab] = 1.0
        labels["No Finding"] = 0.0
    return labels


def build_case(task: dict) -> dict:
    """Render and write one case; returns its manifest row. Runs in worker processes."""
    out = Path(task["out"])
    rep: PoolReport = task["report"]
    seed, cid, size = task["case_seed"], task["id"], task["size"]
    knobs = Knobs(**task["knobs"])
    plan = plan_from_mesh(list(rep.mesh), stream(seed, STREAM_PLAN))
    res = render_case(plan, seed, size, knobs)
    save_film_png(res.film, out / "images" / f"{cid}.png")
    mask_rel = ""
    if res.masks:
        mask_rel = f"masks/{cid}.npz"
        save_array_npz(out / mask_rel, durable=False, **{k: v.astype(bool) for k, v in sorted(res.masks.items())})
    save_lung_fields(out, cid, phantom_lung_fields(res.scene), durable=False)
    gaze_rel = ""
    if task["gaze"]:
        gaze_rel = write_gaze(out, cid, res, seed, ReaderKnobs(**task["reader"]))
    labels = case_labels(rep, res.masks)
    row = {
        "id": cid,
        "image_path": f"images/{cid}.png",
        "findings": rep.findings,
        "impression": rep.impression,
        "split": split_of(rep),
        "view": "PA",
        "gaze_path": gaze_rel,
        "patient_key": rep.uid,
        "mask_path": mask_rel,
        "source": "demo",
        "simulated": 1,
        "orig_width": size * NATIVE_SCALE,
        "orig_height": size * NATIVE_SCALE,
        "n_readings": 1 if gaze_rel else "",
        "mesh": "; ".join(rep.mesh),
        "rendered": "; ".join(sorted({f.mesh for f, _ in res.finding_masks})),
        "not_rendered": "; ".join(plan.unrendered),
    }
    row.update({lab: labels[lab] for lab in LABELS})
    return row


def phantom_lung_fields(scene: Scene) -> np.ndarray:
    """Both lungs with each row filled between its outermost lung pixels (mediastinum and
    heart), as ``eclip.data.gaze.regions.lung_fields`` makes them from anatomy boxes."""
    lungs = (lung_chord(scene.grid, scene.anat, "right") > 0) | (lung_chord(scene.grid, scene.anat, "left") > 0)
    return fill_rows(lungs)


def write_gaze(out: Path, cid: str, res, seed: int, reader: ReaderKnobs) -> str:
    """The case's reading (fixations.csv and the gaze map), and each reader's own map: the
    same reading and a second reader's of the same film (a new reader seed)."""
    fix = simulate_reading(res.scene, res.finding_masks, stream(seed, STREAM_GAZE), reader)
    shape = native_shape(res.film.shape[0])
    write_reflacx_fixations(fix, out / "gaze" / cid / "fixations.csv", image_size=shape)
    hm = heatmap_reflacx(fix, shape, out_shape=res.film.shape)
    rel = f"gaze/{cid}.npz"
    save_heatmap(out / rel, hm, durable=False)
    second = simulate_reading(res.scene, res.finding_masks, stream(seed, STREAM_SECOND_READER), reader)
    save_readings(out, cid, {"reader1": hm, "reader2": heatmap_reflacx(second, shape, out_shape=res.film.shape)},
                  durable=False)
    return rel


def plan_tasks(out: Path, n: int, seed: int, gaze_fraction: float, size: int,
               knobs: Knobs, reader: ReaderKnobs, reports_path=None) -> list[dict]:
    pool = load_pool(reports_path)
    reports = draw_reports(pool, n, seed)
    case_seeds = np.random.default_rng([int(seed), 104729]).integers(0, 2**31 - 1, n)
    n_gaze = int(round(gaze_fraction * n))
    with_gaze = set(np.random.default_rng([int(seed), 1299709]).permutation(n)[:n_gaze].tolist())
    return [{
        "out": str(out), "id": f"demo{i:05d}", "report": rep, "case_seed": int(case_seeds[i]),
        "gaze": i in with_gaze, "size": size, "knobs": asdict(knobs), "reader": asdict(reader),
    } for i, rep in enumerate(reports)]


def build_demo(out, *, n: int, seed: int, gaze_fraction: float = 0.25, size: int = 256,
               workers: int | None = None, knobs: Knobs | None = None,
               reader: ReaderKnobs | None = None, progress: bool = True,
               reports_path=None) -> Path:
    """Write a demo dataset folder under the manifest contract; returns the folder."""
    if n < 1:
        raise DataError(f"build-demo: --n must be >= 1, got {n}.")
    if not 0.0 <= gaze_fraction <= 1.0:
        raise DataError(f"build-demo: gaze fraction must be in [0, 1], got {gaze_fraction}.")
    if size < 64 or size % 4:
        raise DataError(f"build-demo: size must be a multiple of 4 and >= 64, got {size}.")
    out = Path(out)
    knobs, reader = knobs or Knobs(), reader or ReaderKnobs()
    for sub in ("images", "masks", "gaze", LUNG_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    tasks = plan_tasks(out, n, seed, gaze_fraction, size, knobs, reader, reports_path)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    rows = list(tqdm(_run(tasks, workers), total=n, desc="build-demo", unit="case",
                     disable=not progress))
    df = pd.DataFrame(rows)
    write_manifest(df, out)
    _remove_stale_cases(out, df)
    info = {"version": VERSION, "n": n, "seed": seed, "gaze_fraction": gaze_fraction, "size": size,
            "knobs": asdict(knobs), "reader": asdict(reader), "simulated": True,
            "reports": "Open-I / Indiana University (NLMCXR), CC BY-NC-ND 4.0, via torchxrayvision"}
    atomic_write_bytes(out / DEMO_INFO, (json.dumps(info, indent=2) + "\n").encode())
    log.info("wrote %d cases (%d with gaze) to %s", n, int((df["gaze_path"] != "").sum()), out)
    return out


def _remove_stale_cases(out: Path, df: pd.DataFrame) -> None:
    """A rebuild with fewer cases or less gaze must not leave an older build's files behind.
    Only files named like this builder's own (demoNNNNN.*) are touched."""
    keep = {p for col in ("image_path", "gaze_path", "mask_path") for p in df[col] if p}
    stale = [f for sub in ("images", "masks", "gaze") for f in (out / sub).glob("demo[0-9]*.*")
             if f.relative_to(out).as_posix() not in keep]
    # the raw REFLACX-format readings and each reader's map sit in gaze/<id>/ beside gaze/<id>.npz
    stale += [d for d in (out / "gaze").glob("demo[0-9]*") if d.is_dir() and f"gaze/{d.name}.npz" not in keep]
    ids = set(df["id"].astype(str))
    stale += [f for f in (out / LUNG_DIR).glob("demo[0-9]*.npz") if f.stem not in ids]
    for f in stale:
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    if stale:
        log.info("removed %d files of an earlier build that this one does not use", len(stale))


def _blas_limit():
    """The renderer's matrix products are tiny: BLAS thread pools only burn CPU that the
    other worker processes need. threadpoolctl ships with scikit-learn; without it, no-op."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _init_worker() -> None:
    _blas_limit()  # applied for the life of the worker process


def _run(tasks: list[dict], workers: int):
    if workers == 1:
        with _blas_limit():
            for t in tasks:
                yield build_case(t)
        return
    # fork: workers inherit the imported modules (no per-worker start-up cost).
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(build_case, tasks, chunksize=4)
