"""Index and evaluation speed: embedding images/s, zero-shot per query, UMAP per 10k points.

1. Embedding (CPU): images/s of the image tower alone and of the index pipeline (PNG load +
   preprocess + tower, ``eclip.model.encode.encode_images``) at a few batch sizes, and reports/s
   through the text tower; random-init weights of the architecture (speed does not depend
   on the weights).
2. Zero-shot per query over 10k images: a *new* prompt set through the text tower,
   ensembling, and one matrix product + argmax over 10k synthetic L2-normalised image
   embeddings; two sets: one prompt per class (as typed in the app) and the whole 9-class
   ``findings`` file (134 prompts). Target <= 100 ms after the index is loaded.
3. UMAP (2-D, seeded, as in the index) of 10k synthetic clustered embeddings: first call in
   the process (numba JIT included) and a second, warm call.

    python benchmarks/index_eval.py                    # ~2-4 minutes on 2 cores
    python benchmarks/index_eval.py --quick            # smaller, for a smoke run
    python benchmarks/index_eval.py --arch eclip-vit-micro --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

import torch  # noqa: E402

from eclip.evaluate.zeroshot import multiclass_scores  # noqa: E402
from eclip.model.checkpoint import LoadedModel  # noqa: E402
from eclip.model.encode import clear_prompt_cache, encode_prompt_sets  # noqa: E402
from eclip.model.prompts import load_prompt_set  # noqa: E402
from timing import matmul_peak_gflops, timed  # noqa: E402  (benchmarks/timing.py, beside this script)


def tiny_lm(arch: str):
    """A random-init model saved and loaded through the real checkpoint path."""
    from eclip.config import Config, to_dict
    from eclip.model import build_model, load_model, save_model

    cfg = Config()
    cfg.model.arch = arch
    torch.manual_seed(0)
    out = Path(tempfile.mkdtemp(prefix="bench_ckpt_"))
    save_model(out, build_model(cfg.model, cfg.method), to_dict(cfg))
    return load_model(out)


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    return timed(fn, repeats)["median_s"]


def bench_embedding(lm: LoadedModel, batch_sizes: list[int], n_images: int) -> list[dict]:
    from PIL import Image

    from eclip.model.encode import encode_images

    folder = Path(tempfile.mkdtemp(prefix="bench_imgs_"))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n_images):  # stored working images: 8-bit grey PNG, longer side 256
        Image.fromarray(rng.integers(0, 255, (256, 210), dtype=np.uint8), mode="L").save(folder / f"{i}.png")
        paths.append(f"{i}.png")
    rows = []
    for bs in batch_sizes:
        x = torch.randn(bs, 3, lm.image_size, lm.image_size)

        def tower(x=x):
            with torch.inference_mode():
                lm.model.encode_image(x)

        t_tower = _timed(tower, 3)
        t_pipe = _timed(lambda bs=bs: encode_images(lm, folder, paths, batch_size=bs), 1)
        rows.append({"batch_size": bs, "tower_images_per_s": bs / t_tower,
                     "pipeline_images_per_s": n_images / t_pipe})
    return rows


_EDITS = [0]


def _edited_one_prompt(ps):
    """The same set with its first prompt changed to a text never seen before."""
    from dataclasses import replace

    _EDITS[0] += 1
    first = ps.classes[0]
    new_first = replace(first, prompts=(f"{first.prompts[0]} Variant {_EDITS[0]}.",) + first.prompts[1:])
    return replace(ps, classes=(new_first,) + ps.classes[1:])


def bench_text_embedding(lm: LoadedModel, n: int = 256) -> dict:
    """Reports/s through the text tower (report-length texts, as when an index is built)."""
    from eclip.model.encode import encode_texts

    rng = np.random.default_rng(0)
    parts = ["The heart size is normal.", "There is a small left pleural effusion.",
             "No focal consolidation or pneumothorax.", "Mild pulmonary vascular congestion.",
             "Bibasilar atelectasis is seen.", "An endotracheal tube terminates above the carina.",
             "The mediastinal contours are unremarkable.", "Degenerative changes of the spine."]
    texts = [" ".join(rng.choice(parts, size=rng.integers(3, 7))) + f" Case {i}." for i in range(n)]
    t = _timed(lambda: encode_texts(lm, texts, batch_size=64), 1)
    return {"n_reports": n, "reports_per_s": n / t,
            "median_tokens": float(np.median((lm.tokenizer(texts) != 0).sum(1).numpy()))}


def _encode_flops(encode) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        encode()
    return float(counter.get_total_flops())


def bench_zero_shot(lm: LoadedModel, n: int, repeats: int) -> list[dict]:
    """Two new prompt sets: one prompt per class (what a user types in the app) and the
    whole ``findings`` file (all templates x phrases). The text tower's FLOPs over this
    machine's measured fp32 matmul peak give the least time any implementation could take."""
    from eclip.model.prompts import parse_prompt_set

    peak = matmul_peak_gflops()

    full = load_prompt_set("findings")
    typed = parse_prompt_set({"name": "typed", "task": "multiclass", "classes": [
        {"name": c.name, "labels": list(c.labels), "prompts": [c.prompts[0]]} for c in full.classes]})
    dim = int(lm.model.encode_text(lm.tokenizer(["x"])).shape[1])
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows = []
    for ps in (typed, full):
        def encode(ps=ps, cold=True):
            if cold:  # every prompt new: nothing from the per-prompt cache
                clear_prompt_cache()
            with torch.inference_mode():
                return encode_prompt_sets(lm, [ps])[ps.name]

        class_emb = encode()
        t_encode = _timed(encode, repeats)
        t_score = _timed(lambda: multiclass_scores(emb, class_emb), repeats)
        t_total = _timed(lambda: multiclass_scores(emb, encode()), repeats)
        edited = _edited_one_prompt(ps)
        encode(edited)
        t_edit = _timed(lambda: multiclass_scores(emb, encode(_edited_one_prompt(ps), cold=False)), repeats)
        flops = _encode_flops(encode)
        rows.append({"prompt_set": ps.name, "n_images": n, "dim": dim, "n_classes": len(ps.classes),
                     "encode_gflop": flops / 1e9, "encode_floor_ms": 1e3 * flops / (peak * 1e9),
                     "n_prompts": sum(len(c.prompts) for c in ps.classes),
                     "encode_prompts_ms": 1e3 * t_encode, "score_ms": 1e3 * t_score,
                     "total_ms": 1e3 * t_total, "one_prompt_edited_total_ms": 1e3 * t_edit,
                     "meets_100ms_target": bool(1e3 * t_total <= 100.0)})
    return rows


def bench_umap(n: int, dim: int) -> dict:
    from eclip.index import umap_2d

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((9, dim))
    pts = centres[rng.integers(0, 9, n)] + 0.6 * rng.standard_normal((n, dim))
    pts = (pts / np.linalg.norm(pts, axis=1, keepdims=True)).astype(np.float32)
    t0 = time.perf_counter()
    umap_2d(pts, seed=0)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    umap_2d(pts, seed=0)
    warm = time.perf_counter() - t0
    return {"n_points": n, "dim": dim, "first_call_s": first, "warm_s": warm,
            "warm_s_per_10k": warm * 10_000 / n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="eclip-vit-tiny-minilm", help="model architecture (default: the shipped one)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 64])
    p.add_argument("--n-images", type=int, default=128, help="PNG files through the full pipeline")
    p.add_argument("--zs-images", type=int, default=10_000)
    p.add_argument("--umap-points", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--skip-umap", action="store_true")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.n_images, args.umap_points = [8, 32], 32, 2000
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = tiny_lm(args.arch)
    res = {"arch": args.arch, "image_size": lm.image_size, "torch_threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count()}
    print(f"# {args.arch} ({lm.image_size}px), {res['torch_threads']} torch threads, CPU")

    res["embedding"] = bench_embedding(lm, args.batch_sizes, args.n_images)
    print("\n| batch | tower images/s | load+preprocess+tower images/s |\n| --- | --- | --- |")
    for r in res["embedding"]:
        print(f"| {r['batch_size']} | {r['tower_images_per_s']:.1f} | {r['pipeline_images_per_s']:.1f} |")

    tx = res["text_embedding"] = bench_text_embedding(lm)
    print(f"\nreport embedding: {tx['reports_per_s']:.1f} reports/s "
          f"(batch 64, median {tx['median_tokens']:.0f} tokens)")

    res["zero_shot"] = bench_zero_shot(lm, args.zs_images, repeats=7)
    print(f"\nzero-shot over {args.zs_images} images, a new prompt set each query (target <= 100 ms):")
    print("| prompt set | classes | prompts | encode ms | encode floor ms (GFLOP) | score ms | total ms | target "
          "| one prompt edited, total ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for z in res["zero_shot"]:
        print(f"| {z['prompt_set']} | {z['n_classes']} | {z['n_prompts']} | {z['encode_prompts_ms']:.1f} "
              f"| {z['encode_floor_ms']:.1f} ({z['encode_gflop']:.1f}) | {z['score_ms']:.1f} | {z['total_ms']:.1f} "
              f"| {'met' if z['meets_100ms_target'] else 'NOT met'} "
              f"| {z['one_prompt_edited_total_ms']:.1f} |")

    if not args.skip_umap:
        um = res["umap"] = bench_umap(args.umap_points, res["zero_shot"][0]["dim"])
        print(f"\nUMAP {um['n_points']} x {um['dim']}: first call {um['first_call_s']:.1f} s "
              f"(numba JIT included), warm {um['warm_s']:.1f} s = {um['warm_s_per_10k']:.1f} s per 10k points")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
