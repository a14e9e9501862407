"""Building an index: embed every image and unique report of a dataset, resumably.

Building runs in chunks of ``CHUNK_ROWS`` rows saved under ``parts/``; an interrupted build
resumes from the chunks it has. Under ``torchrun`` each rank embeds every WORLD_SIZE-th
chunk and rank 0 assembles the result (rank bookkeeping: ``eclip.train.distributed``).
Assembly streams the chunks into the arrays of ``store`` and writes meta.json last.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from eclip.data.manifest import read_manifest
from eclip.data.reports import report_text
from eclip.errors import EclipError, EvaluationError
from eclip.index.keys import checkpoint_identity, expected_identity, index_dir
from eclip.index.projection import compute_umap
from eclip.index.store import (INDEX_VERSION, META, EmbeddingIndex, StaleIndex, open_index,
                               save_npy, write_list, write_meta)
from eclip.index.zero_shot_calibration import default_calibration
from eclip.io import write_json
from eclip.model.checkpoint import LoadedModel, load_model
from eclip.model.encode import encode_images, encode_texts, unique_texts
from eclip.model.precision import autocast, checkpoint_precision
from eclip.train import distributed as D

log = logging.getLogger(__name__)

CHUNK_ROWS = 1024


def build_index(checkpoint: str | Path, data: str | Path, *, cache_root: str | Path | None = None,
                batch_size: int = 32, with_umap: bool = True, force: bool = False,
                device: str = "auto", workers: int = 0, seed: int = 0, lm: LoadedModel | None = None,
                progress: bool = True, umap_neighbors: int = 15,
                chunk_rows: int | None = None, precision: str | None = None) -> EmbeddingIndex | None:
    """Embed every image and unique report of ``data`` and store the index.

    ``precision``: ``auto`` (None = ``$ECLIP_PRECISION`` or auto), ``fp32`` or ``bf16``
    (``eclip.model.precision``); a bf16 index is stored apart from the fp32 one, in float32.
    Reuses a complete index (computing UMAP if asked and missing), resumes an interrupted
    one. Returns the index (None on torchrun ranks other than 0)."""
    ctx = D.env_context()
    rank, world = ctx.rank, ctx.world_size
    chunk_rows = int(chunk_rows or CHUNK_ROWS)
    device = str(ctx.device) if device == "auto" else device
    checkpoint_identity(checkpoint)  # a folder without weights is reported as such, first
    precision = checkpoint_precision(checkpoint, precision, device)
    path = index_dir(checkpoint, data, cache_root, precision)
    expect = expected_identity(checkpoint, data, precision)
    if force and rank == 0 and path.exists():
        shutil.rmtree(path)
    if rank == 0 and (path / META).is_file():
        try:
            open_index(path, expect)
        except StaleIndex as exc:
            log.warning("%s -- rebuilding it", exc)
            shutil.rmtree(path)
    D.barrier(ctx)
    if (path / META).is_file():
        if rank != 0:
            return None
        idx = open_index(path, expect)
        if with_umap and idx.umap_image is None:
            compute_umap(idx, seed=seed, n_neighbors=umap_neighbors)
            idx = open_index(path, expect)
        return idx


    if lm is None:
        lm = load_model(checkpoint, device=device)
    df = read_manifest(data)
    if df.empty:
        raise EvaluationError(f"{data}: the manifest has no rows; nothing to index")
    texts, text_index = _unique_reports(df)
    parts = path / "parts"
    if rank == 0:  # one rank decides whether old parts are reusable
        parts.mkdir(parents=True, exist_ok=True)
        _check_build_state(parts, expect, chunk_rows)
    D.barrier(ctx)
    t0 = time.perf_counter()
    log.info("embedding in %s on %s", precision, device)
    with autocast(lm, precision, device):  # encode_* return float32 whatever the precision
        _embed_chunks(parts, "img", list(df["image_path"]), chunk_rows, rank, world, progress,
                      lambda rows: encode_images(lm, Path(data), rows, batch_size, device, workers))
        _embed_chunks(parts, "txt", texts, chunk_rows, rank, world, progress,
                      lambda rows: encode_texts(lm, rows, max(batch_size, 64), device))
    D.barrier(ctx)
    if rank != 0:
        return None
    meta = {**expect, "precision": precision, "version": INDEX_VERSION, "checkpoint": str(Path(checkpoint).resolve()),
            "data": str(Path(data).resolve()), "n_images": len(df), "n_texts": len(texts),
            "embed_seconds": round(time.perf_counter() - t0, 3), "world_size": world,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _assemble(path, df, texts, text_index, meta)
    idx = open_index(path, expect)
    _calibrate(idx, df, lm)
    if with_umap:
        compute_umap(idx, seed=seed, n_neighbors=umap_neighbors)
        idx = open_index(path, expect)
    return idx


def _calibrate(idx: EmbeddingIndex, df, lm: LoadedModel) -> None:
    """Fit the shipped binary prompt set's probabilities on the validate split and keep the
    fit beside the index (``zero_shot_calibration``); pages fit it lazily if this fails."""
    try:
        cal = default_calibration(idx, df, lm)
        log.info("zero-shot calibration: %s", cal.summary())
    except (EclipError, OSError, ValueError) as exc:
        log.warning("zero-shot calibration not kept (%s); pages will fit it on first use", exc)


def _unique_reports(df) -> tuple[list[str], np.ndarray]:
    return unique_texts([report_text(f, i) for f, i in zip(df["findings"], df["impression"])])


def _check_build_state(parts: Path, expect: dict, chunk_rows: int) -> None:
    """Parts from another weights/config/chunk size must never be mixed in."""
    state = {**expect, "chunk_rows": chunk_rows, "version": INDEX_VERSION}
    f = parts / "build.json"
    if f.is_file() and json.loads(f.read_text()) != state:
        log.warning("discarding partial index parts in %s (built under other settings)", parts)
        for p in parts.glob("*.npy"):
            p.unlink()
    write_json(f, state)


def _embed_chunks(parts: Path, prefix: str, items: list[str], chunk_rows: int, rank: int,
                  world: int, progress: bool, embed) -> None:
    from tqdm import tqdm

    n_chunks = (len(items) + chunk_rows - 1) // chunk_rows
    mine = [c for c in range(n_chunks) if c % world == rank]
    todo = [c for c in mine if not (parts / f"{prefix}_{c:06d}.npy").is_file()]
    if len(todo) < len(mine):
        log.info("%s: resuming, %d of %d chunks already embedded", prefix, len(mine) - len(todo), len(mine))
    bar = tqdm(total=sum(min(chunk_rows, len(items) - c * chunk_rows) for c in todo),
               desc=f"embed {'images' if prefix == 'img' else 'reports'}", unit=prefix,
               disable=not progress or rank != 0)
    for c in todo:
        rows = items[c * chunk_rows:(c + 1) * chunk_rows]
        emb = np.ascontiguousarray(embed(rows), dtype=np.float32)
        save_npy(parts / f"{prefix}_{c:06d}.npy", emb)
        bar.update(len(rows))
    bar.close()


def _concat_parts(parts: Path, prefix: str, n_rows: int, out: Path) -> None:
    """Stream the chunk files into one .npy without holding everything in memory."""
    files = sorted(parts.glob(f"{prefix}_*.npy"))
    first = np.load(files[0], mmap_mode="r")
    tmp = out.with_suffix(".tmp.npy")
    dst = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_rows, first.shape[1]))
    start = 0
    for f in files:
        arr = np.load(f)
        dst[start:start + len(arr)] = arr
        start += len(arr)
    if start != n_rows:
        raise EvaluationError(f"{parts}: chunks hold {start} rows, expected {n_rows}; rebuild with --force")
    dst.flush()
    del dst
    os.replace(tmp, out)


def _assemble(path: Path, df, texts: list[str], text_index: np.ndarray, meta: dict) -> None:
    parts = path / "parts"
    _concat_parts(parts, "img", len(df), path / "image_emb.npy")
    _concat_parts(parts, "txt", len(texts), path / "text_emb.npy")
    save_npy(path / "text_index.npy", text_index.astype(np.int64))
    write_list(path / "ids.json", list(df["id"]))
    write_list(path / "texts.json", texts)
    meta["dim"] = int(np.load(path / "image_emb.npy", mmap_mode="r").shape[1])
    write_meta(path, meta)  # last: marks complete
    shutil.rmtree(parts)
