"""Images/s for DICOM and PNG load + resize, ours vs plain pydicom + Pillow.

"Ours" is ``eclip.data.images.load_image`` + ``to_working``: format sniffing, header checks,
the pixel-limit guard, the full DICOM display pipeline. "Plain" does the same numerical work
with no checks: pydicom pixel_array -> rescale -> window -> (MONOCHROME1 invert) -> Pillow
LANCZOS resize of the float image; for PNG: Pillow decode -> float -> the same resize. The
ratio ours/plain shows what the safety checks cost (target >= 0.9).

Inputs are generated into a temporary folder: copies of the real CR chest DICOM
(pydicom-data's RG1_UNCR.dcm, 1841x1955, 15-bit) and 8-bit grey PNGs of 2000-3000 px.

    python benchmarks/data_io.py            # ~1 minute on 2 cores
    python benchmarks/data_io.py --n 16 --repeats 2 --workers 4
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from eclip.data.images import load_image, to_working

SIZE = 224


# --------------------------------------------------------------------------- the two pipelines

def ours(path: str) -> tuple[int, int]:
    return to_working(load_image(path).pixels, SIZE).shape


def plain(path: str) -> tuple[int, int]:
    if path.endswith(".dcm"):
        pixels = _plain_dicom(path)
    else:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255)
    h, w = pixels.shape
    scale = SIZE / max(h, w)
    out = Image.fromarray(pixels, "F").resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out), 0, 1).shape


def _plain_dicom(path: str) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float32)
    arr = arr * np.float32(float(ds.get("RescaleSlope", 1))) + np.float32(float(ds.get("RescaleIntercept", 0)))
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    arr = np.clip((arr - np.float32(c - 0.5)) / np.float32(w - 1) + np.float32(0.5), 0, 1)
    return 1 - arr if ds.PhotometricInterpretation == "MONOCHROME1" else arr


PIPELINES = {"ours": ours, "plain": plain}


def _run(job: tuple[str, str]) -> tuple[int, int]:
    name, path = job
    return PIPELINES[name](path)


# --------------------------------------------------------------------------- inputs

def make_inputs(folder: Path, n: int, seed: int) -> dict[str, list[str]]:
    from pydicom.data import get_testdata_file

    src = get_testdata_file("RG1_UNCR.dcm")
    if src is None:
        sys.exit("pydicom-data is not installed: pip install pydicom-data")
    dicoms = []
    for i in range(n):
        dst = folder / f"cr_{i:03d}.dcm"
        shutil.copyfile(src, dst)
        dicoms.append(str(dst))
    # A few distinct realistic PNGs (chest content + noise), copied up to n files.
    base = load_image(src).pixels
    rng = np.random.default_rng(seed)
    distinct = []
    for k, long_side in enumerate((2000, 2500, 3000)):
        h, w = base.shape
        size = (round(w * long_side / h), long_side)
        img = np.asarray(Image.fromarray(base, "F").resize(size, Image.Resampling.BILINEAR))
        img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
        path = folder / f"cxr_{k}.png"
        Image.fromarray((img * 255 + 0.5).astype(np.uint8), "L").save(path)
        distinct.append(path)
    pngs = []
    for i in range(n):
        dst = folder / f"cxr_copy_{i:03d}.png"
        shutil.copyfile(distinct[i % len(distinct)], dst)
        pngs.append(str(dst))
    return {"DICOM": dicoms, "PNG": pngs}


# --------------------------------------------------------------------------- timing

def rates_single(files: list[str], repeats: int) -> dict[str, float]:
    """Per-image times, ours and plain interleaved image by image (order alternating), so
    load from other processes hits both alike; the median is robust to the rest."""
    times: dict[str, list[float]] = {name: [] for name in PIPELINES}
    for rep in range(repeats):
        for i, path in enumerate(files):
            for name in _order(rep + i):
                start = time.perf_counter()
                PIPELINES[name](path)
                times[name].append(time.perf_counter() - start)
    return {name: 1.0 / float(np.median(t)) for name, t in times.items()}


def rates_pool(pool, files: list[str], repeats: int, workers: int) -> dict[str, float]:
    """Batches of 2 x workers images, ours and plain alternating batch by batch; the median
    batch rate is robust to load from other processes."""
    batch = max(1, 2 * workers)
    rates: dict[str, list[float]] = {name: [] for name in PIPELINES}
    for rep in range(repeats):
        for k, i in enumerate(range(0, len(files), batch)):
            chunk = files[i:i + batch]
            for name in _order(rep + k):
                start = time.perf_counter()
                pool.map(_run, [(name, path) for path in chunk], chunksize=1)
                rates[name].append(len(chunk) / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}


def _order(rep: int) -> list[str]:
    names = list(PIPELINES)
    return names if rep % 2 == 0 else names[::-1]


def measure(inputs, workers: int, repeats: int) -> list[tuple[str, str, float, float]]:
    rows = []
    for fmt, files in inputs.items():
        for name in PIPELINES:  # warm caches and imports; check both give one shape
            assert _run((name, files[0])) == _run(("ours", files[0]))
        rates = rates_single(files, repeats)
        rows.append((fmt, "1 process", rates["ours"], rates["plain"]))
    ctx = mp.get_context("spawn" if sys.platform == "win32" else "fork")
    with ctx.Pool(workers) as pool:
        for fmt, files in inputs.items():
            pool.map(_run, [("ours", f) for f in files[:workers]] + [("plain", f) for f in files[:workers]])
            best = rates_pool(pool, files, repeats, workers)
            rows.append((fmt, f"{workers} processes", best["ours"], best["plain"]))
    return rows


def print_table(rows, n: int) -> None:
    print(f"\nload + resize to {SIZE} px, {n} files per format (images/s from median "
          "per-image / per-batch times, ours and plain interleaved)")
    print(f"{'format':<7} {'mode':<13} {'ours':>8} {'plain':>8} {'ours/plain':>11}")
    for fmt, mode, ours_rate, plain_rate in rows:
        print(f"{fmt:<7} {mode:<13} {ours_rate:8.1f} {plain_rate:8.1f} {ours_rate / plain_rate:11.2f}")


def compare_filters() -> None:
    """Why to_working uses LANCZOS: time on the CR image, and aliasing left on a zone plate
    (std of the output where the pattern is above the new Nyquist frequency; 0 = none)."""
    from pydicom.data import get_testdata_file

    cr = load_image(get_testdata_file("RG1_UNCR.dcm")).pixels
    n = 2400
    yy, xx = np.mgrid[0:n, 0:n] / n
    zone = (0.5 + 0.5 * np.cos(2 * np.pi * 400 * (xx**2 + yy**2))).astype(np.float32)
    out_y, out_x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    above_nyquist = np.sqrt(out_x**2 + out_y**2) > 0.5
    print(f"{'filter':<9} {'reducing_gap':>12} {'ms (CR)':>8} {'aliasing':>9}")
    for name in ("BOX", "BILINEAR", "BICUBIC", "LANCZOS"):
        flt = getattr(Image.Resampling, name)
        for gap in (None, 2.0, 3.0):
            cr_img = Image.fromarray(cr, "F")
            h, w = cr.shape
            size = (round(w * SIZE / h), SIZE)
            start = time.perf_counter()
            for _ in range(5):
                cr_img.resize(size, flt, reducing_gap=gap)
            ms = (time.perf_counter() - start) / 5 * 1000
            small = np.asarray(Image.fromarray(zone, "F").resize((SIZE, SIZE), flt, reducing_gap=gap))
            print(f"{name:<9} {str(gap):>12} {ms:8.1f} {small[above_nyquist].std():9.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=24, help="files per format (default 24)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the files; medians are taken (default 3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for the all-cores run (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the generated PNG noise")
    parser.add_argument("--filters", action="store_true",
                        help="instead: compare Pillow resize filters (speed, aliasing) on the CR image")
    args = parser.parse_args(argv)
    if args.filters:
        compare_filters()
        return 0
    with tempfile.TemporaryDirectory(prefix="eclip_bench_io_") as tmp:
        t0 = time.perf_counter()
        inputs = make_inputs(Path(tmp), args.n, args.seed)
        print(f"generated inputs in {time.perf_counter() - t0:.1f} s "
              f"(DICOM 1841x1955 x{args.n}; PNG 2000-3000 px x{args.n}); cpu_count={os.cpu_count()}")
        rows = measure(inputs, args.workers, args.repeats)
    print_table(rows, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
