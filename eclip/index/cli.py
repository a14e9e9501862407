"""The command line: ``python -m eclip.index build|info`` (run by ``__main__``).

Kept apart from ``__main__`` so that ``from eclip.index import main`` (tests, scripts) does
not import a module named ``__main__``, and ``python -m eclip.index`` finds none preloaded.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from eclip.cli import run_command
from eclip.index.build import CHUNK_ROWS, build_index
from eclip.index.keys import CACHE_ENV, default_cache_root
from eclip.index.store import META, load_index, read_meta
from eclip.model.precision import PRECISION_ENV, PRECISIONS
from eclip.train import distributed as D


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eclip.index",
                                description="Embed a dataset under a checkpoint and cache it on disk.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="embed every image and report (resumable; torchrun-able)")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder (model.safetensors, config.json)")
    b.add_argument("--data", required=True, help="dataset folder with manifest.csv")
    b.add_argument("--cache", default=None,
                   help=f"index cache root (default ${CACHE_ENV} or .cache/index in the repository)")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    b.add_argument("--workers", type=int, default=0, help="image-loading worker processes")
    b.add_argument("--precision", choices=PRECISIONS, default=None,
                   help=f"CPU arithmetic: auto (default, or ${PRECISION_ENV}) uses bf16 where the "
                   "processor has bf16 units and the image tower is large enough to gain; "
                   "a bf16 index is cached apart from the fp32 one")
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
    i.add_argument("--precision", choices=PRECISIONS, default=None, help="which index: auto | fp32 | bf16")
    return p


def _info(args) -> int:
    if args.checkpoint and args.data:
        idx = load_index(args.checkpoint, args.data, args.cache, precision=args.precision)
        print(json.dumps({**idx.meta, "path": str(idx.path), "umap": idx.umap_image is not None,
                          "dim": int(idx.image_emb.shape[1])}, indent=1))
        return 0
    root = Path(args.cache or default_cache_root())
    dirs = sorted(d for d in root.glob("*") if d.is_dir()) if root.is_dir() else []
    if not dirs:
        print(f"no indexes under {root}")
    for d in dirs:
        if (d / META).is_file():
            m = read_meta(d)
            print(f"{d.name}  images={m['n_images']} texts={m['n_texts']} dim={m.get('dim')} "
                  f"precision={m.get('precision', 'fp32')} "
                  f"umap={'umap' in m}  checkpoint={m['checkpoint']}  data={m['data']}")
        else:
            print(f"{d.name}  (incomplete: resume with build)")
    return 0


def _build(args) -> int:
    try:
        idx = build_index(args.checkpoint, args.data, cache_root=args.cache,
                          batch_size=args.batch_size, with_umap=args.umap, force=args.force,
                          device=args.device, workers=args.workers, seed=args.seed,
                          umap_neighbors=args.umap_neighbors, chunk_rows=args.chunk_rows,
                          precision=args.precision)
        if idx is not None:
            print(f"index ready: {idx.path} ({len(idx)} images, {len(idx.texts)} unique reports, "
                  f"umap={'yes' if idx.umap_image is not None else 'no'})")
        return 0
    finally:
        D.cleanup(D.env_context())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    return run_command(lambda: _info(args) if args.cmd == "info" else _build(args))
