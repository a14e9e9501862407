"""fp32 vs bf16 on this CPU, side by side in one run (eclip.model.precision).

For the shipped model (checkpoints/demo-eclip) and a random-init open_clip ViT-B-16:

1. speed: images/s of the index's image encoding (load + preprocess + tower), seconds per
   Grad-CAM and per Integrated-Gradients map, seconds per training step (forward, backward,
   AdamW) — fp32 and bf16 rounds interleaved, best round kept (the machine is shared);
2. agreement with fp32: the smallest cosine between an image's two embeddings, attribution
   maps' Pearson CC (Grad-CAM, IG, and the ViT's rollouts), and for the shipped pair on the
   demo corpus: top-10 image->report and report->image neighbours over the test split, and
   every headline evaluation metric against fp32's bootstrap 95 % interval.

Targets: top-10 neighbours >= 95 % identical, maps CC >= 0.99, metrics within
fp32's interval. ``auto`` is what ``eclip.model.precision`` picks for each model here.

    python benchmarks/precision.py --data data/demo                 # ~15-30 min on 2 busy cores
    python benchmarks/precision.py --data data/demo --skip-eval     # speed + maps only
    python benchmarks/precision.py --data data/demo --only-eval     # index + evaluation agreement
    python benchmarks/precision.py --sweep eclip-vit-tiny ViT-S-16  # images/s per tower size
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from eclip.model import precision as P
from eclip.model.checkpoint import LoadedModel

PRECISIONS = ("fp32", "bf16")
HEADLINE = ("zs/findings/accuracy", "zs/chexpert5/accuracy", "zs/binary/macro_auroc",
            "retrieval/i2t/R@10", "retrieval/t2i/R@10", "probe/100%/macro_auroc")


# --------------------------------------------------------------------------- timing
def best_of(fns: dict, rounds: int) -> dict:
    """Best seconds per call of each function, rounds interleaved (after one warm-up each)
    so that the machine's load shifts hit every precision alike."""
    for fn in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def per_precision(make, rounds: int) -> dict:
    """``make(precision)`` -> a no-argument function; best seconds per precision."""
    return best_of({p: make(p) for p in PRECISIONS}, rounds)


# --------------------------------------------------------------------------- models
def random_vit_b16(tmp: Path):
    """A random-init open_clip ViT-B-16, saved and loaded through our checkpoint format."""
    from eclip.config import Config, to_dict
    from eclip.model import build_model, load_model, save_model

    cfg = Config()
    cfg.model.arch = "ViT-B-16"
    torch.manual_seed(0)
    save_model(tmp / "vit-b-16", build_model(cfg.model, cfg.method), to_dict(cfg), dtype="float16")
    return load_model(tmp / "vit-b-16")


def demo_rows(data: Path, n: int, split: str = "test") -> list[str]:
    from eclip.data.manifest import read_manifest

    df = read_manifest(data)
    return list(df[df["split"] == split]["image_path"][:n])


# --------------------------------------------------------------------------- measurements
def encode_speed(lm: LoadedModel, data: Path, rows: list[str], batch: int, rounds: int) -> tuple[dict, dict]:
    """Images/s of image encoding per precision, and the embeddings of each."""
    from eclip.model.encode import encode_images

    out = {}

    def make(p):
        def run():
            with P.autocast(lm, p):
                out[p] = encode_images(lm, data, rows, batch)
        return run

    best = per_precision(make, rounds)
    return {p: len(rows) / s for p, s in best.items()}, out


def map_speed(lm: LoadedModel, pixels: list[np.ndarray], method: str, rounds: int, n_steps: int) -> tuple[dict, float]:
    """Seconds per map per precision, and the mean CC of bf16 maps with fp32 maps."""
    from eclip.evaluate.saliency import pearson_cc
    from eclip.explain import attribution_map

    def one(p, px):
        return attribution_map(lm, px, "left pleural effusion", method, use_cache=False,
                               n_steps=n_steps, precision=p)

    best = per_precision(lambda p: lambda: one(p, pixels[0]), rounds)
    cc = [pearson_cc(one("fp32", px), one("bf16", px)) for px in pixels]
    return best, float(np.mean(cc))


def train_step_speed(lm: LoadedModel, batch: int, rounds: int) -> dict:
    """Seconds per training step (eCLIP forward with an expert batch, backward, AdamW) on
    random inputs, per precision. A fresh copy of the model keeps the shared one untouched."""
    import copy

    model = copy.deepcopy(lm.model).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    s = lm.image_size
    images, experts = torch.randn(batch, 3, s, s), torch.randn(batch // 2, 3, s, s)
    heat = torch.rand(batch // 2, 1, s, s)
    tokens = lm.tokenizer(["no acute cardiopulmonary process"] * batch)

    def make(p):
        def run():
            opt.zero_grad(set_to_none=True)
            with P.autocast(model, p):
                out = model(images, tokens, experts, heat, tokens[: batch // 2], lam=0.5)
            out["loss"].backward()
            opt.step()
        return run

    return per_precision(make, rounds)


def neighbours(a, b, split_rows: np.ndarray) -> dict:
    """Top-10 image->report and report->image agreement of two indexes over ``split_rows``."""
    texts = np.unique(a.text_index[split_rows])
    scores = {p: np.asarray(idx.image_emb)[split_rows] @ np.asarray(idx.text_emb)[texts].T
              for p, idx in (("fp32", a), ("bf16", b))}
    return {"i2t": P.topk_overlap(scores["fp32"], scores["bf16"], 10),
            "t2i": P.topk_overlap(scores["fp32"].T, scores["bf16"].T, 10),
            "cos_img": P.min_cosine(a.image_emb, b.image_emb),
            "cos_txt": P.min_cosine(a.text_emb, b.text_emb)}


def eval_agreement(checkpoint: str, data: Path, n_boot: int) -> tuple[dict, dict]:
    """Both precisions' indexes and evaluation; each headline metric's bf16 value against
    fp32's 95 % interval, and the neighbour agreement."""
    from eclip.evaluate.run import Options, evaluate
    from eclip.evaluate.suite import select_rows
    from eclip.data.manifest import read_manifest
    from eclip.index import build_index

    results, indexes = {}, {}
    for p in PRECISIONS:
        t = time.perf_counter()
        indexes[p] = build_index(checkpoint, data, with_umap=False, precision=p, progress=False)
        results[p] = evaluate(checkpoint, data, Options(n_boot=n_boot, probe_seeds=(0,), progress=False,
                                                         precision=p))
        print(f"  {Path(checkpoint).name} {p}: index + evaluation {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
    rows = select_rows(read_manifest(data), "test")
    metrics = {}
    for name in HEADLINE:
        ref = results["fp32"]["subsets"]["all"]["metrics"].get(name)
        new = results["bf16"]["subsets"]["all"]["metrics"].get(name)
        if ref and new:
            inside = ref["ci_low"] <= new["value"] <= ref["ci_high"]
            metrics[name] = (ref["value"], new["value"], ref["ci_low"], ref["ci_high"], inside)
    return metrics, neighbours(indexes["fp32"], indexes["bf16"], rows)


# --------------------------------------------------------------------------- report
def speed_rows(name: str, lm: LoadedModel, data: Path, args) -> list[str]:
    from eclip.data.images import load_working

    rows = demo_rows(data, args.n_images)
    pixels = [load_working(data / r) for r in rows[: args.n_maps]]
    rate, emb = encode_speed(lm, data, rows, args.batch, args.rounds)
    cos = P.min_cosine(emb["fp32"], emb["bf16"])
    gc, gc_cc = map_speed(lm, pixels, "gradcam", args.rounds, args.ig_steps)
    ig, ig_cc = map_speed(lm, pixels[:1], "integrated_gradients", max(1, args.rounds - 1), args.ig_steps)
    step = train_step_speed(lm, args.train_batch, max(1, args.rounds - 1))
    auto = P.model_precision(lm, "auto")
    out = [f"| {name} | images/s (index) | {rate['fp32']:.1f} | {rate['bf16']:.1f} | "
           f"{rate['bf16'] / rate['fp32']:.2f}x | min cosine {cos:.5f} | {auto} |",
           f"| {name} | s per Grad-CAM map | {gc['fp32']:.3f} | {gc['bf16']:.3f} | "
           f"{gc['fp32'] / gc['bf16']:.2f}x | CC {gc_cc:.4f} ({len(pixels)} images) | |",
           f"| {name} | s per IG map ({args.ig_steps} steps) | {ig['fp32']:.2f} | {ig['bf16']:.2f} | "
           f"{ig['fp32'] / ig['bf16']:.2f}x | CC {ig_cc:.4f} (1 image) | |",
           f"| {name} | s per training step (batch {args.train_batch} + {args.train_batch // 2} expert) "
           f"| {step['fp32']:.2f} | {step['bf16']:.2f} | {step['fp32'] / step['bf16']:.2f}x | | |"]
    for method in ("rollout", "grad_rollout"):
        _, cc = map_speed(lm, pixels, method, 1, args.ig_steps)
        out.append(f"| {name} | {method} maps | | | | CC {cc:.4f} ({len(pixels)} images) | |")
    print("\n".join(out), file=sys.stderr)
    return out


def sweep(archs: list[str], batch: int, rounds: int) -> None:
    """Images/s of random-init image towers in fp32 and bf16: where bf16 starts to pay
    (the measurement behind ``P.BF16_MIN_TOWER_WEIGHTS``)."""
    from eclip.model import build_model

    print("| architecture | image-tower weights | fp32 images/s | bf16 images/s | bf16 / fp32 |")
    print("|---|---|---|---|---|")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model({"arch": arch}, {"expert": False}, pretrained_text=False).eval()
        x = torch.randn(batch, 3, model.image_size, model.image_size)

        def make(p):
            def run():
                with torch.inference_mode(), P.autocast(model, p):
                    model.clip.encode_image(x)
            return run

        best = per_precision(make, rounds)
        print(f"| {arch} | {P.tower_weights(model.clip.visual) / 1e6:.1f} M | {batch / best['fp32']:.2f} "
              f"| {batch / best['bf16']:.2f} | {best['fp32'] / best['bf16']:.2f}x |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/demo")
    ap.add_argument("--checkpoint", action="append", default=None,
                    help="shipped checkpoint(s) (default checkpoints/demo-eclip and, for the "
                         "evaluation, checkpoints/demo-clip)")
    ap.add_argument("--n-images", type=int, default=32, help="images per encoding round")
    ap.add_argument("--n-maps", type=int, default=4, help="images whose maps are compared")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--ig-steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--skip-eval", action="store_true", help="no index builds / evaluation")
    ap.add_argument("--skip-vitb", action="store_true", help="the shipped model only")
    ap.add_argument("--only-eval", action="store_true", help="only the index + evaluation agreement")
    ap.add_argument("--sweep", nargs="+", metavar="ARCH", help="only the tower-size sweep")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.sweep:
        sweep(args.sweep, args.batch, args.rounds)
        return 0
    ckpts = args.checkpoint or ["checkpoints/demo-eclip", "checkpoints/demo-clip"]
    if args.only_eval:
        print_eval(ckpts, Path(args.data), args.n_boot)
        return 0
    from eclip.model import load_model

    data = Path(args.data)
    print(f"CPU bf16 units: {P.has_bf16_units()} "
          f"({', '.join(f for f in P.BF16_UNITS if f in P.cpu_flags()) or 'none'}); "
          f"torch {torch.__version__}, {args.threads} threads", file=sys.stderr)
    table = ["| model | measure | fp32 | bf16 | bf16 gain | agreement with fp32 | auto picks |",
             "|---|---|---|---|---|---|---|"]
    table += speed_rows(Path(ckpts[0]).name, load_model(ckpts[0]), data, args)
    if not args.skip_vitb:
        with tempfile.TemporaryDirectory() as tmp:
            table += speed_rows("ViT-B-16 (random init)", random_vit_b16(Path(tmp)), data, args)
    print("\n".join(table))
    if not args.skip_eval:
        print_eval(ckpts, data, args.n_boot)
    return 0


def print_eval(ckpts: list[str], data: Path, n_boot: int) -> None:
    print("\n| model | metric (test split) | fp32 [95 % CI] | bf16 | inside fp32's CI |")
    print("|---|---|---|---|---|")
    agree = []
    for ckpt in ckpts:
        metrics, nb = eval_agreement(ckpt, data, n_boot)
        name = Path(ckpt).name
        for metric, (ref, new, lo, hi, inside) in metrics.items():
            print(f"| {name} | {metric} | {ref:.3f} [{lo:.3f}, {hi:.3f}] | {new:.3f} "
                  f"| {'yes' if inside else '**no**'} |")
        agree.append(f"| {name} | {nb['i2t']:.3f} | {nb['t2i']:.3f} | {nb['cos_img']:.5f} | {nb['cos_txt']:.5f} |")
    print("\n| model | top-10 image->report identical | top-10 report->image identical "
          "| min cosine, images | min cosine, reports |")
    print("|---|---|---|---|---|")
    print("\n".join(agree))


if __name__ == "__main__":
    raise SystemExit(main())
