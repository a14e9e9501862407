"""Embeddings of a dataset under a checkpoint, cached on disk, plus 2-D UMAP coordinates.

An index lives in ``<cache>/<weights_sha256[:12]>-<data fingerprint>/``:

* ``image_emb.npy``  float32 [N, D], L2-normalised, one row per manifest row (in order)
* ``text_emb.npy``   float32 [U, D], one row per *unique* report text
* ``text_index.npy`` int64 [N], the row of each image's report in ``text_emb``
* ``ids.json``, ``texts.json``; ``umap_image.npy`` [N, 2] and ``umap_text.npy`` [U, 2]
  from one joint UMAP fit (so the modality gap is visible), when computed
* ``meta.json``, written last: its presence marks a complete index; it records the weights
  hash, data fingerprint and config hash, which ``load_index`` checks before use.

Building runs in chunks of ``CHUNK_ROWS`` rows saved under ``parts/``; an interrupted build
resumes from the chunks it has. Under ``torchrun`` each rank embeds every WORLD_SIZE-th
chunk and rank 0 assembles the result.

Command line: ``python -m eclip.index build --checkpoint DIR --data DIR`` and ``info``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eclip.data.manifest import atomic_write_bytes, fingerprint, read_manifest
from eclip.errors import EclipError, EvaluationError

log = logging.getLogger(__name__)

INDEX_VERSION = 1
CHUNK_ROWS = 1024
META = "meta.json"
CACHE_ENV = "ECLIP_INDEX_DIR"


class IndexMissing(EvaluationError):
    """No complete index exists yet for this checkpoint and dataset."""


class StaleIndex(IndexMissing):
    """The index on disk belongs to other weights, another config or other data: there is
    no *current* index (so callers that build a missing index rebuild this one too)."""


# --------------------------------------------------------------------------- keys
def default_cache_root() -> Path:
    """``$ECLIP_INDEX_DIR`` if set, else ``./.cache/index`` (git-ignored)."""
    return Path(os.environ.get(CACHE_ENV) or Path.cwd() / ".cache" / "index")


_SHA_CACHE: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime) so repeated loads stay fast."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def checkpoint_identity(checkpoint: str | Path) -> dict:
    """What an index depends on in a checkpoint: the weights file and the config."""
    ckpt = Path(checkpoint)
    weights, config = ckpt / "model.safetensors", ckpt / "config.json"
    for f in (weights, config):
        if not f.is_file():
            raise EvaluationError(f"{ckpt} is not a checkpoint folder: {f.name} is missing "
                                  "(a checkpoint holds model.safetensors, config.json, card.json)")
    return {"weights_sha256": file_sha256(weights), "config_sha256": file_sha256(config)}


def index_dir(checkpoint: str | Path, data: str | Path, cache_root: str | Path | None = None) -> Path:
    ident = checkpoint_identity(checkpoint)
    key = f"{ident['weights_sha256'][:12]}-{_fingerprint(data)}"
    return Path(cache_root or default_cache_root()) / key


def _fingerprint(data: str | Path) -> str:
    try:
        return fingerprint(data)
    except OSError as exc:
        raise EvaluationError(f"{data}: no readable manifest.csv ({exc}); is this a dataset folder?") from exc


# --------------------------------------------------------------------------- the index
@dataclass
class EmbeddingIndex:
    path: Path
    meta: dict
    ids: list[str]
    texts: list[str]
    image_emb: np.ndarray
    text_emb: np.ndarray
    text_index: np.ndarray
    umap_image: np.ndarray | None = None
    umap_text: np.ndarray | None = None
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, item_id: str) -> int:
        if not self._row:
            self._row = {i: r for r, i in enumerate(self.ids)}
        return self._row[item_id]

    def image_text_scores(self, query_emb: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of every (selected) image with each query vector: [N, Q]."""
        emb = self.image_emb if rows is None else self.image_emb[rows]
        q = np.atleast_2d(np.asarray(query_emb, dtype=np.float32))
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        return np.asarray(emb) @ q.T


def report_text(findings: str, impression: str) -> str:
    """The text an image is paired with: FINDINGS, or IMPRESSION when findings are empty
    (the eCLIP recipe trains on findings)."""
    text = (findings or "").strip()
    return text if text else (impression or "").strip()


def load_index(checkpoint: str | Path, data: str | Path, cache_root: str | Path | None = None,
               mmap: bool = True) -> EmbeddingIndex:
    """Open the index of ``checkpoint`` over ``data``; memory-maps the arrays.

    Raises ``IndexMissing`` when none is built and ``StaleIndex`` when the one on disk does
    not match the current weights, config or data."""
    path = index_dir(checkpoint, data, cache_root)
    expect = {**checkpoint_identity(checkpoint), "data_fingerprint": _fingerprint(data)}
    if not (path / META).is_file():
        _refuse_stale_neighbours(path.parent, checkpoint, data)
    return open_index(path, expect, mmap=mmap)


def _refuse_stale_neighbours(root: Path, checkpoint: str | Path, data: str | Path) -> None:
    """When the exact index is missing but one exists for the same checkpoint folder and
    dataset folder, the weights or data changed since: say so instead of 'not built'."""
    ckpt, data = str(Path(checkpoint).resolve()), str(Path(data).resolve())
    for meta_file in sorted(root.glob(f"*/{META}")) if root.is_dir() else []:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("checkpoint") == ckpt and meta.get("data") == data:
            raise StaleIndex(
                f"the index {meta_file.parent} for {ckpt} over {data} is stale: the weights or "
                "the manifest changed since it was built, so it is not used. Rebuild with: "
                f"python -m eclip.index build --checkpoint {ckpt} --data {data}")


def open_index(path: str | Path, expect: dict | None = None, mmap: bool = True) -> EmbeddingIndex:
    path = Path(path)
    if not (path / META).is_file():
        raise IndexMissing(f"no complete index in {path}. Build it with: python -m eclip.index "
                           "build --checkpoint DIR --data DIR")
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    for key, value in (expect or {}).items():
        if meta.get(key) != value:
            raise StaleIndex(f"index {path} is stale: its {key} is {str(meta.get(key))[:16]}..., "
                             f"the current one is {str(value)[:16]}.... Rebuild it with "
                             "python -m eclip.index build --force ...")
    if meta.get("version") != INDEX_VERSION:
        raise StaleIndex(f"index {path} has format version {meta.get('version')}, this code reads "
                         f"{INDEX_VERSION}; rebuild it with --force")
    mode = "r" if mmap else None
    ids = json.loads((path / "ids.json").read_text(encoding="utf-8"))
    texts = json.loads((path / "texts.json").read_text(encoding="utf-8"))
    idx = EmbeddingIndex(
        path=path, meta=meta, ids=ids, texts=texts,
        image_emb=np.load(path / "image_emb.npy", mmap_mode=mode),
        text_emb=np.load(path / "text_emb.npy", mmap_mode=mode),
        text_index=np.load(path / "text_index.npy"),
    )
    if (path / "umap_image.npy").is_file():
        idx.umap_image = np.load(path / "umap_image.npy")
        idx.umap_text = np.load(path / "umap_text.npy")
    if len(idx.image_emb) != len(ids) or len(idx.text_emb) != len(texts):
        raise StaleIndex(f"index {path} is inconsistent (array and id counts differ); rebuild with --force")
    return idx


# --------------------------------------------------------------------------- encoding
def encode_texts(lm, texts: list[str], batch_size: int = 64, device: str = "cpu",
                 share_prefixes: bool = False) -> np.ndarray:
    """L2-normalised text embeddings [len(texts), D] as float32.

    Texts are encoded in order of token length, so that each batch can drop the padding
    after its longest text (see ``_trimmed_text_features``). ``share_prefixes`` suits prompt
    sets built from templates: each common prefix is computed once
    (``eclip.model.prefix_text``), where the text tower allows it."""
    import torch

    if not len(texts):
        return np.zeros((0, _embed_dim(lm)), np.float32)
    tokens = lm.tokenizer(list(texts))
    if share_prefixes:
        from eclip.model.prefix_text import encode_shared_prefixes, supports_prefix_sharing

        if supports_prefix_sharing(lm.model.clip):
            with torch.inference_mode():
                return encode_shared_prefixes(lm.model.clip, tokens.to(device)).float().cpu().numpy()
    order = np.argsort(-(tokens != 0).sum(1).numpy(), kind="stable")
    out = np.empty((len(texts), 0), np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = tokens[torch.as_tensor(rows)].to(device)
            emb = _trimmed_text_features(lm.model.clip, batch)
            if emb is None:
                emb = lm.model.encode_text(_trim_masked_padding(lm.model.clip, batch), normalize=True)
            emb = emb.float().cpu().numpy()
            if out.shape[1] == 0:
                out = np.empty((len(texts), emb.shape[1]), np.float32)
            out[rows] = emb
    return out


def _embed_dim(lm) -> int:
    return int(lm.config.get("arch_cfg", {}).get("embed_dim", 0))


def _trimmed_text_features(clip, tokens):
    """open_clip ``CLIP.encode_text`` on tokens cut after the batch's last non-pad token.

    Valid because that text tower is causal (a position attends only to earlier ones) and
    pools at the end-of-text token: trailing padding cannot change the result. With a
    77-token context and ~10-token prompts this saves most of the work. Returns None for
    any other text tower (e.g. Hugging Face ones; see ``_trim_masked_padding``).
    """
    import torch.nn.functional as F
    from open_clip.transformer import text_global_pool

    from eclip.model.prefix_text import supports_prefix_sharing

    if not supports_prefix_sharing(clip):  # the same condition: causal, pooled at end-of-text
        return None
    n = _used_length(tokens, pad=0)
    t = tokens[:, :n]
    cast = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(t).to(cast) + clip.positional_embedding[:n].to(cast)
    x = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask[:n, :n]))
    x = text_global_pool(x, t, clip.text_pool_type, eos_token_id=getattr(clip, "text_eos_id", None))
    if clip.text_projection is not None:
        proj = clip.text_projection
        x = proj(x) if hasattr(proj, "weight") else x @ proj
    return F.normalize(x, dim=-1)


def _trim_masked_padding(clip, tokens):
    """Drop the trailing columns that are padding in every row, for Hugging Face text towers.

    Those build their attention mask from the pad id and mean-pool under it, so padded
    positions never reach a real token or the pooled output; MiniLM would otherwise run all
    64 positions for a 10-token prompt (~5x the work)."""
    from open_clip.hf_model import HFTextEncoder

    text = getattr(clip, "text", None)
    if not isinstance(text, HFTextEncoder) or text.config.pad_token_id is None:
        return tokens
    return tokens[:, :_used_length(tokens, text.config.pad_token_id)]


def _used_length(tokens, pad: int) -> int:
    """Columns up to the last one holding a non-pad token in any row (at least 1)."""
    used = (tokens != pad).any(0).nonzero()
    return int(used.max()) + 1 if len(used) else 1


def encode_images(lm, root: Path, image_paths: list[str], batch_size: int = 32,
                  device: str = "cpu", workers: int = 0) -> np.ndarray:
    """L2-normalised image embeddings for files given relative to ``root``."""
    import torch

    loader = torch.utils.data.DataLoader(
        _ImageFiles(root, image_paths, lm.preprocess), batch_size=batch_size,
        num_workers=workers, shuffle=False)
    out = []
    with torch.inference_mode():
        for batch in loader:
            out.append(lm.model.encode_image(batch.to(device), normalize=True).float().cpu().numpy())
    return np.concatenate(out)


class _ImageFiles:
    """Map-style dataset: stored working image -> model input tensor."""

    def __init__(self, root: Path, paths: list[str], preprocess):
        self.root, self.paths, self.preprocess = Path(root), list(paths), preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from eclip.data.images import load_working

        return self.preprocess(load_working(self.root / self.paths[i]))


# --------------------------------------------------------------------------- building
def _dist_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _barrier(world: int) -> None:
    if world <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    dist.barrier()


def _finish_dist(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu"


def build_index(checkpoint: str | Path, data: str | Path, cache_root: str | Path | None = None,
                batch_size: int = 32, with_umap: bool = True, force: bool = False,
                device: str = "auto", workers: int = 0, seed: int = 0, lm=None,
                progress: bool = True, umap_neighbors: int = 15,
                chunk_rows: int | None = None) -> EmbeddingIndex | None:
    """Embed every image and unique report of ``data`` and store the index.

    Reuses a complete index (computing UMAP if asked and missing), resumes an interrupted
    one. Returns the index (None on torchrun ranks other than 0)."""
    rank, world = _dist_info()
    chunk_rows = int(chunk_rows or CHUNK_ROWS)
    path = index_dir(checkpoint, data, cache_root)
    expect = {**checkpoint_identity(checkpoint), "data_fingerprint": _fingerprint(data)}
    if force and rank == 0 and path.exists():
        shutil.rmtree(path)
    if rank == 0 and (path / META).is_file():
        try:
            open_index(path, expect)
        except StaleIndex as exc:
            log.warning("%s -- rebuilding it", exc)
            shutil.rmtree(path)
    _barrier(world)
    if (path / META).is_file():
        if rank != 0:
            return None
        idx = open_index(path, expect)
        if with_umap and idx.umap_image is None:
            compute_umap(idx, seed=seed, n_neighbors=umap_neighbors)
            idx = open_index(path, expect)
        return idx

    device = _pick_device(device)
    if lm is None:
        from eclip.model.checkpoint import load_model

        lm = load_model(checkpoint, device=device)
    df = read_manifest(data)
    if df.empty:
        raise EvaluationError(f"{data}: the manifest has no rows; nothing to index")
    texts, text_index = _unique_reports(df)
    parts = path / "parts"
    if rank == 0:  # one rank decides whether old parts are reusable
        parts.mkdir(parents=True, exist_ok=True)
        _check_build_state(parts, expect, chunk_rows)
    _barrier(world)
    t0 = time.perf_counter()
    _embed_chunks(parts, "img", list(df["image_path"]), chunk_rows, rank, world, progress,
                  lambda rows: encode_images(lm, Path(data), rows, batch_size, device, workers))
    _embed_chunks(parts, "txt", texts, chunk_rows, rank, world, progress,
                  lambda rows: encode_texts(lm, rows, max(batch_size, 64), device))
    _barrier(world)
    if rank != 0:
        return None
    meta = {**expect, "version": INDEX_VERSION, "checkpoint": str(Path(checkpoint).resolve()),
            "data": str(Path(data).resolve()), "n_images": len(df), "n_texts": len(texts),
            "embed_seconds": round(time.perf_counter() - t0, 3), "world_size": world,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _assemble(path, df, texts, text_index, meta)
    idx = open_index(path, expect)
    if with_umap:
        compute_umap(idx, seed=seed, n_neighbors=umap_neighbors)
        idx = open_index(path, expect)
    return idx


def _unique_reports(df) -> tuple[list[str], np.ndarray]:
    from eclip.evaluate.metrics import unique_texts

    return unique_texts([report_text(f, i) for f, i in zip(df["findings"], df["impression"])])


def _check_build_state(parts: Path, expect: dict, chunk_rows: int) -> None:
    """Parts from another weights/config/chunk size must never be mixed in."""
    state = {**expect, "chunk_rows": chunk_rows, "version": INDEX_VERSION}
    f = parts / "build.json"
    if f.is_file() and json.loads(f.read_text()) != state:
        log.warning("discarding partial index parts in %s (built under other settings)", parts)
        for p in parts.glob("*.npy"):
            p.unlink()
    atomic_write_bytes(f, json.dumps(state).encode())


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
        _save_npy(parts / f"{prefix}_{c:06d}.npy", emb)
        bar.update(len(rows))
    bar.close()


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


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
    _save_npy(path / "text_index.npy", text_index.astype(np.int64))
    atomic_write_bytes(path / "ids.json", json.dumps(list(df["id"])).encode())
    atomic_write_bytes(path / "texts.json", json.dumps(texts).encode())
    meta["dim"] = int(np.load(path / "image_emb.npy", mmap_mode="r").shape[1])
    atomic_write_bytes(path / META, json.dumps(meta, indent=1).encode())  # last: marks complete
    shutil.rmtree(parts)


# --------------------------------------------------------------------------- UMAP
def compute_umap(idx: EmbeddingIndex, seed: int = 0, n_neighbors: int = 15,
                 fit_max: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """One joint 2-D UMAP of images and unique reports, seeded, stored next to the index.

    Above ``fit_max`` points the map is fitted on a seeded subsample and the rest is
    placed with ``transform`` (UMAP cost grows faster than linearly)."""
    points = np.concatenate([np.asarray(idx.image_emb), np.asarray(idx.text_emb)]).astype(np.float32)
    t0 = time.perf_counter()
    coords = umap_2d(points, seed=seed, n_neighbors=n_neighbors, fit_max=fit_max)
    n = len(idx.image_emb)
    _save_npy(idx.path / "umap_image.npy", coords[:n])
    _save_npy(idx.path / "umap_text.npy", coords[n:])
    meta = dict(idx.meta, umap={"seed": seed, "n_neighbors": n_neighbors, "fit_max": fit_max,
                                "seconds": round(time.perf_counter() - t0, 3)})
    atomic_write_bytes(idx.path / META, json.dumps(meta, indent=1).encode())
    idx.meta, idx.umap_image, idx.umap_text = meta, coords[:n], coords[n:]
    return coords[:n], coords[n:]


def umap_2d(points: np.ndarray, seed: int = 0, n_neighbors: int = 15, fit_max: int = 50_000) -> np.ndarray:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.cwd() / ".cache" / "numba"))
    import umap

    n = len(points)
    if n < 4:  # UMAP needs a few neighbours; a trivial layout is honest for tiny sets
        return np.zeros((n, 2), np.float32)
    k = max(2, min(n_neighbors, n - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.1, metric="euclidean",
                        random_state=seed, init="random" if n < 50 else "spectral")
    with warnings.catch_warnings():  # umap warns that a seed disables its parallelism
        warnings.filterwarnings("ignore", message=".*random_state.*|.*n_jobs.*")
        return _fit_umap(reducer, points, seed, fit_max)


def _fit_umap(reducer, points: np.ndarray, seed: int, fit_max: int) -> np.ndarray:
    n = len(points)
    if n <= fit_max:
        return reducer.fit_transform(points).astype(np.float32)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=fit_max, replace=False))
    reducer.fit(points[fit_rows])
    coords = np.empty((n, 2), np.float32)
    for start in range(0, n, 20_000):
        coords[start:start + 20_000] = reducer.transform(points[start:start + 20_000])
    coords[fit_rows] = reducer.embedding_
    return coords


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eclip.index",
                                description="Embed a dataset under a checkpoint and cache it on disk.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="embed every image and report (resumable; torchrun-able)")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder (model.safetensors, config.json)")
    b.add_argument("--data", required=True, help="dataset folder with manifest.csv")
    b.add_argument("--cache", default=None, help=f"index cache root (default ${CACHE_ENV} or ./.cache/index)")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    b.add_argument("--workers", type=int, default=0, help="image-loading worker processes")
    b.add_argument("--umap", action=argparse.BooleanOptionalAction, default=True,
                   help="compute the 2-D UMAP map (default on)")
    b.add_argument("--umap-neighbors", type=int, default=15)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--force", action="store_true", help="delete an existing index first")
    b.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                   help="rows per resumable chunk (also the unit of torchrun sharding)")
    i = sub.add_parser("info", help="describe the index of a checkpoint + dataset, or list the cache")
    i.add_argument("--checkpoint")
    i.add_argument("--data")
    i.add_argument("--cache", default=None)
    return p


def _info(args) -> int:
    if args.checkpoint and args.data:
        idx = load_index(args.checkpoint, args.data, args.cache)
        print(json.dumps({**idx.meta, "path": str(idx.path), "umap": idx.umap_image is not None,
                          "dim": int(idx.image_emb.shape[1])}, indent=1))
        return 0
    root = Path(args.cache or default_cache_root())
    dirs = sorted(d for d in root.glob("*") if d.is_dir()) if root.is_dir() else []
    if not dirs:
        print(f"no indexes under {root}")
    for d in dirs:
        if (d / META).is_file():
            m = json.loads((d / META).read_text())
            print(f"{d.name}  images={m['n_images']} texts={m['n_texts']} dim={m.get('dim')} "
                  f"umap={'umap' in m}  checkpoint={m['checkpoint']}  data={m['data']}")
        else:
            print(f"{d.name}  (incomplete: resume with build)")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "info":
            return _info(args)
        idx = build_index(args.checkpoint, args.data, args.cache, batch_size=args.batch_size,
                          with_umap=args.umap, force=args.force, device=args.device,
                          workers=args.workers, seed=args.seed, umap_neighbors=args.umap_neighbors,
                          chunk_rows=args.chunk_rows)
        if idx is not None:
            print(f"index ready: {idx.path} ({len(idx)} images, {len(idx.texts)} unique reports, "
                  f"umap={'yes' if idx.umap_image is not None else 'no'})")
        return 0
    except EclipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        _finish_dist(_dist_info()[1])


if __name__ == "__main__":
    sys.exit(main())
