"""Training throughput, measured side by side in one run on this machine.

(a) open_clip's own loop: ``python -m open_clip_train.main`` on its synthetic dataset;
(b) our loop in CLIP mode (``method.expert=false``); (c) our loop in eCLIP mode with a
constant p = 0.5 — all with the same open_clip model config, batch size, fp32 and threads.
Prints seconds/step, main-batch pairs/s, (b)/(a), (c)/(b), and the fraction of this
machine's fp32 matmul peak (measured in the same run) that the CLIP step achieves.

    python benchmarks/train_throughput.py --arch eclip-vit-tiny --batch 32 --steps 16
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from eclip.data.manifest import LABELS, save_array_npz, write_manifest
from eclip.model.factory import resolve_arch
from timing import matmul_peak_gflops  # benchmarks/timing.py, beside this script

REPO = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, n: int, size: int = 256, seed: int = 0) -> Path:
    """Grey PNGs at the working size, gaze heatmaps on every 2nd row (the contract format)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for i in range(n):
        img = np.clip(0.4 + 0.15 * rng.standard_normal((size, size)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8), mode="L").save(root / "images" / f"{i}.png")
        gaze = ""
        if i % 2 == 0:
            hm = np.exp(-((xx - rng.random()) ** 2 + (yy - rng.random()) ** 2) / 0.02)
            save_array_npz(root / f"{i}.npz", heatmap=hm.astype(np.float16))
            gaze = f"{i}.npz"
        rows.append({"id": str(i), "image_path": f"images/{i}.png", "findings": f"finding number {i % 7}",
                     "impression": "", "split": "train", "view": "PA", "gaze_path": gaze,
                     "patient_key": str(i), **{lab: np.nan for lab in LABELS}})
    write_manifest(pd.DataFrame(rows), root)
    return root


def _env(threads: int) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_open_clip(arch_cfg: dict, args, work: Path) -> list[float]:
    """open_clip_train.main on its synthetic data; returns per-step seconds from its log."""
    model_dir = work / "openclip_model"
    model_dir.mkdir()
    (model_dir / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": arch_cfg,
        "preprocess_cfg": {"mean": [0.58] * 3, "std": [0.26] * 3}}))
    cmd = [sys.executable, "-m", "open_clip_train.main", "--dataset-type", "synthetic",
           "--train-num-samples", str(args.batch * args.steps), "--batch-size", str(args.batch),
           "--epochs", "1", "--model", f"local-dir:{model_dir}", "--precision", "fp32",
           "--workers", str(args.workers), "--lr", "1e-4", "--wd", "1e-3", "--warmup", "2",
           "--grad-clip-norm", "1.0", "--save-frequency", "0", "--zeroshot-frequency", "0",
           "--val-frequency", "0", "--log-every-n-steps", "1", "--report-to", "",
           "--logs", str(work / "openclip_logs"), "--name", "bench", "--device", "cpu", "--seed", "0"]
    out = subprocess.run(cmd, cwd=work, env=_env(args.threads), capture_output=True, text=True)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise SystemExit(f"open_clip_train.main failed:\n{text[-3000:]}")
    times = [float(m) for m in re.findall(r"Batch \(t\): ([0-9.]+)", text)]
    if not times:
        raise SystemExit(f"could not parse open_clip's step times:\n{text[-3000:]}")
    return times


def run_ours(data: Path, args, work: Path, name: str, sets: list[str]) -> tuple[list[float], list[dict]]:
    run = work / name
    cmd = [sys.executable, "-m", "eclip.train", "--out", str(run), "--log-level", "WARNING"]
    base = [f"model.arch={args.arch}", f"data.root={data}", f"train.steps={args.steps}",
            f"train.batch_size={args.batch}", "train.log_every=1", f"train.ckpt_every={10 ** 9}",
            f"data.workers={args.workers}", f"model.processor.patch_size={args.patch}",
            "train.device=cpu"]
    for s in base + sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, cwd=REPO, env=_env(args.threads), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"eclip.train failed:\n{(out.stdout + out.stderr)[-3000:]}")
    rows = [json.loads(x) for x in (run / "progress.jsonl").read_text().splitlines()]
    walls = [0.0] + [r["wall_time_s"] for r in rows]
    return [b - a for a, b in zip(walls, walls[1:])], rows


def clip_step_flops(arch: str, batch: int) -> float:
    """FLOPs of one CLIP training step (forward + backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from eclip.config import MethodConfig, ModelConfig
    from eclip.model import build_model

    model = build_model(ModelConfig(arch=arch), MethodConfig(expert=False))
    size, ctx = model.image_size, model.arch_cfg["text_cfg"]["context_length"]
    images, tokens = torch.randn(batch, 3, size, size), torch.randint(1, 49000, (batch, ctx))
    with FlopCounterMode(display=False) as counter:
        model(images, tokens)["loss"].backward()
    return float(counter.get_total_flops())


def summarise(times: list[float], stat: str) -> float:
    """Seconds/step. On a shared machine other jobs only ever add time, so a low percentile of
    many steps estimates the unloaded cost better than the mean (both are reported)."""
    if stat == "mean":
        return statistics.fmean(times)
    return float(np.percentile(times, 25 if stat == "p25" else 0))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="eclip-vit-tiny", help="model config (ours or open_clip's)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=16, help="steps per measured run")
    p.add_argument("--skip", type=int, default=3, help="warm-up steps left out of the means")
    p.add_argument("--workers", type=int, default=1, help="data-loader workers for both loops")
    p.add_argument("--threads", type=int, default=0, help="OMP threads (0 = torch default)")
    p.add_argument("--patch", type=int, default=16, help="heatmap-processor patch size")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of (a), (b), (c)")
    p.add_argument("--stat", choices=("p25", "min", "mean"), default="p25",
                   help="per-step statistic (default p25: robust to other jobs on a shared machine)")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)

    arch_cfg = resolve_arch(args.arch)
    peak = matmul_peak_gflops()
    t_a, t_b, t_plain, t_expert = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="eclip-bench-") as tmp:
        work = Path(tmp)
        data = make_dataset(work / "data", n=max(64, 2 * args.batch))
        for r in range(args.rounds):  # alternate the three so load changes hit all of them
            rw = work / f"round{r}"
            rw.mkdir()
            t_a += run_open_clip(arch_cfg, args, rw)[args.skip:]
            t_b += run_ours(data, args, rw, "clip", ["method.expert=false"])[0][args.skip:]
            times, rows = run_ours(data, args, rw, "eclip", [
                "method.expert=true", "method.curriculum.enabled=false", "method.curriculum.constant_p=0.5"])
            for dt, row in list(zip(times, rows))[args.skip:]:
                (t_expert if row["expert"] else t_plain).append(dt)
            peak = max(peak, matmul_peak_gflops())
    if not t_expert or not t_plain:
        raise SystemExit("run (c) drew no expert (or no plain) step: use more --steps")
    a, b = summarise(t_a, args.stat), summarise(t_b, args.stat)
    s_plain, s_expert = summarise(t_plain, args.stat), summarise(t_expert, args.stat)
    c = 0.5 * s_plain + 0.5 * s_expert  # expected s/step at p = 0.5
    imgs_c = args.batch + 0.5 * (args.batch // 2)
    flops = clip_step_flops(args.arch, args.batch)
    result = {
        "arch": args.arch, "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
        "stat": args.stat, "threads": torch.get_num_threads(),
        "s_per_step": {"a_open_clip": a, "b_ours_clip": b, "c_ours_eclip_p05": c,
                       "c_plain_steps": s_plain, "c_expert_steps": s_expert},
        "s_per_step_mean": {"a": statistics.fmean(t_a), "b": statistics.fmean(t_b),
                            "c_plain": statistics.fmean(t_plain), "c_expert": statistics.fmean(t_expert)},
        "images_per_s": {"a": args.batch / a, "b": args.batch / b, "c": imgs_c / c},
        "main_pairs_per_s": {"a": args.batch / a, "b": args.batch / b, "c": args.batch / c},
        "ratio_b_over_a": a / b, "ratio_c_over_b": (imgs_c / c) / (args.batch / b),
        "ratio_c_over_b_main_pairs": b / c,
        "matmul_peak_gflops": peak, "clip_step_gflop": flops / 1e9,
        "fraction_of_peak_b": flops / b / 1e9 / peak, "fraction_of_peak_a": flops / a / 1e9 / peak,
        "n_steps": {"a": len(t_a), "b": len(t_b), "c_plain": len(t_plain), "c_expert": len(t_expert)},
    }
    n = result["n_steps"]
    print(f"model {args.arch}, batch {args.batch}, fp32, {result['threads']} threads; {args.rounds} rounds x "
          f"{args.steps} steps per loop (first {args.skip} of each left out); s/step = {args.stat} "
          f"(means: a {result['s_per_step_mean']['a']:.3f}, b {result['s_per_step_mean']['b']:.3f})")
    print(f"(a) open_clip_train.main, synthetic : {a:6.3f} s/step  {args.batch / a:7.1f} images/s  [{n['a']} steps]")
    print(f"(b) eclip.train, CLIP mode          : {b:6.3f} s/step  {args.batch / b:7.1f} images/s  [{n['b']} steps]")
    print(f"(c) eclip.train, eCLIP p=0.5        : {c:6.3f} s/step  {imgs_c / c:7.1f} images/s  "
          f"[plain {s_plain:.3f} s x {n['c_plain']}, +expert batch of {args.batch // 2} {s_expert:.3f} s x "
          f"{n['c_expert']}; {args.batch / c:.1f} main pairs/s]")
    print(f"(b)/(a) = {result['ratio_b_over_a']:.3f}   images/s (target >= 1.0)")
    print(f"(c)/(b) = {result['ratio_c_over_b']:.3f}   images/s (target >= 0.75); "
          f"main pairs/s: {result['ratio_c_over_b_main_pairs']:.3f}")
    print(f"fp32 matmul peak {peak:.0f} GFLOP/s (2048^2, best of the run); CLIP step {flops / 1e9:.1f} GFLOP; "
          f"achieved {100 * result['fraction_of_peak_b']:.1f} % of peak (b), "
          f"{100 * result['fraction_of_peak_a']:.1f} % (a)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
