"""When does gaze help? eCLIP - CLIP at gaze fractions 10 / 25 / 50 / 100 % (issue 14).

The from-scratch setup of the 3-seed experiment (configs/scratch-*.toml: eclip-vit-tiny6,
600 steps of batch 32, identical budget, init and data order per arm), trained on the demo
corpus built with gaze for every case (same seed as data/demo: the films, reports and masks
are byte-identical, only the gaze folder grows) and ``data.gaze_fraction`` keeping gaze for a
seeded, nested subset of the training cases. CLIP never reads gaze, so one CLIP run is the
baseline of every fraction. Every arm is evaluated on the same test split.

    python -m eclip.data build-demo --n 2000 --seed 0 --gaze-fraction 1.0 --out data/demo-gaze100
    python benchmarks/gaze_fraction.py train      # resumable: finished runs are skipped
    python benchmarks/gaze_fraction.py evaluate   # results/gaze-fraction.{json,md}
    python benchmarks/gaze_fraction.py plot       # results/gaze-fraction.png

``all`` does the three in a row. Runs go to ``runs/gf-s<seed>-<arm>``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = (0.10, 0.25, 0.50, 1.00)
# One thread per run and two runs at a time (--lane 0/2, --lane 1/2) on the shared 2-core
# machine: the same total threads as one 2-thread run, without the runs fighting over cores.
# Every arm uses the same count, so arms differ only in their gaze.
THREADS = 1


def arms(seed: int) -> dict[str, list[str]]:
    """Arm name -> the training command's arguments after the config (order = training order)."""
    out = {"clip": ["--config", "configs/scratch-clip.toml"]}
    for f in FRACTIONS:
        out[f"eclip-{round(f * 100)}"] = ["--config", "configs/scratch-eclip.toml",
                                           "--set", f"data.gaze_fraction={f}"]
    return out


def run_dir(runs: Path, seed: int, arm: str) -> Path:
    return runs / f"gf-s{seed}-{arm}"


def train_command(folder: Path, args: list[str], data: str, seed: int) -> list[str]:
    """Resume a started run (it has a config.json), else start it."""
    cmd = [sys.executable, "-m", "eclip.train"]
    if (folder / "config.json").is_file():
        return cmd + ["--resume", str(folder)]
    return cmd + args + ["--set", f"data.root={data}", "--set", f"train.seed={seed}",
                         "--set", f"train.threads={THREADS}", "--out", str(folder)]


def train(a) -> None:
    every = arms(a.seed)
    todo = [(k, every[k]) for k in a.only] if a.only else list(every.items())
    lane, lanes = (int(x) for x in a.lane.split("/"))
    for arm, args in todo[lane::lanes]:
        folder = run_dir(a.runs, a.seed, arm)
        if (folder / "final" / "model.safetensors").is_file():
            print(f"{arm}: finished, skipped ({folder})", flush=True)
            continue
        print(f"{arm}: training into {folder}", flush=True)
        subprocess.run(train_command(folder, args, a.data, a.seed), cwd=ROOT, check=True)


# the curve's metrics: (result key, label); each point is eCLIP at that fraction - CLIP
CURVE = (("zs/findings/accuracy", "9-finding accuracy"), ("zs/binary/macro_auroc", "prompt-pair AUROC"),
         ("probe/100%/macro_auroc", "linear probe AUROC (100 %)"), ("gradcam/cc", "Grad-CAM vs gaze CC"))


def finished(a) -> dict[str, list[str]]:
    """Arm -> [its final checkpoint] for every arm trained to the end."""
    done = {}
    for arm in arms(a.seed):
        final = run_dir(a.runs, a.seed, arm) / "final"
        if (final / "model.safetensors").is_file():
            done[arm] = [str(final)]
    return done


def gradcam_agreement(done: dict[str, list[str]], data: str, n_boot: int) -> dict:
    """Grad-CAM vs gaze CC per arm on the test images with gaze, and each eCLIP arm minus CLIP
    paired over the same images (95 % bootstrap intervals)."""
    import numpy as np

    from eclip.evaluate.metrics import bootstrap_ci
    from eclip.explain.agreement import gaze_agreement
    from eclip.model.checkpoint import load_model

    cc = {}
    for arm, (ckpt,) in done.items():
        _, per_image = gaze_agreement(load_model(ckpt), data, "test", "gradcam")
        cc[arm] = per_image["cc"].to_numpy(dtype=np.float64)
    out = {"groups": {}, "diff": {}}
    for arm, v in cc.items():
        out["groups"][arm] = bootstrap_ci(lambda i, v=v: float(np.nanmean(v[i])), len(v), n_boot)
        if arm != "clip":
            d = v - cc["clip"]
            out["diff"][arm] = bootstrap_ci(lambda i, d=d: float(np.nanmean(d[i])), len(d), n_boot)
    return out


def evaluate(a) -> None:
    sys.path.insert(0, str(ROOT))
    from eclip.evaluate.__main__ import write_outputs
    from eclip.evaluate.experiment import experiment_table, run_experiment
    from eclip.evaluate.run import Options

    done = finished(a)
    if "clip" not in done or len(done) < 2:
        raise SystemExit(f"evaluate: need the CLIP run and at least one eCLIP run finished under "
                         f"{a.runs} (finished: {sorted(done)}); run `train` first")
    opts = Options(split="test", n_boot=a.n_boot, progress=False)
    result = run_experiment(done, a.eval_data, opts, baseline="clip")
    result["gradcam"] = gradcam_agreement(done, a.eval_data, a.n_boot)
    result["not_finished"] = [arm for arm in arms(a.seed) if arm not in done]
    write_outputs(a.out, result, curve_table(result) + "\n" + experiment_table(result), quiet=True)


def curve_points(result: dict) -> list[dict]:
    """One point per finished eCLIP arm: its gaze fraction and, per metric, the paired
    difference to CLIP with its interval."""
    points = []
    for arm in result["diff"]:
        diffs = {key: result["diff"][arm]["all"].get(key) for key, _ in CURVE[:3]}
        diffs["gradcam/cc"] = result["gradcam"]["diff"][arm]
        points.append({"arm": arm, "fraction": int(arm.split("-")[1]) / 100, "diff": diffs})
    return sorted(points, key=lambda p: p["fraction"])


def _diff_text(d: dict | None) -> str:
    if not d:
        return "n/a"
    value = d.get("diff", d.get("value"))
    return f"{value:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def curve_table(result: dict) -> str:
    head = "| gaze fraction | " + " | ".join(f"eCLIP - CLIP, {name}" for _, name in CURVE) + " |"
    lines = [head, "|" + "---|" * (len(CURVE) + 1)]
    for p in curve_points(result):
        lines.append(f"| {p['fraction']:.0%} | " + " | ".join(_diff_text(p["diff"][k]) for k, _ in CURVE) + " |")
    missing = result.get("not_finished") or []
    note = f"\nNot finished (left out): {', '.join(missing)}\n" if missing else ""
    return "\n".join(lines) + "\n" + note


def plot(a) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = curve_points(json.loads(a.out.read_text()))
    fig, axes = plt.subplots(1, len(CURVE), figsize=(4 * len(CURVE), 3.4))
    x = [p["fraction"] * 100 for p in points]
    for ax, (key, name) in zip(axes, CURVE):
        ds = [p["diff"][key] for p in points]
        y = [d.get("diff", d.get("value")) for d in ds]
        err = [[v - d["ci_low"] for v, d in zip(y, ds)], [d["ci_high"] - v for v, d in zip(y, ds)]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g} %" for v in x])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training cases with gaze")
    axes[0].set_ylabel("eCLIP - CLIP (95 % CI)")
    fig.suptitle("Gaze-fraction curve, demo corpus (simulated), one training seed", fontsize=10)
    fig.tight_layout()
    png = a.out.with_suffix(".png")
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train", "evaluate", "plot", "all"])
    p.add_argument("--data", default="data/demo-gaze100", help="corpus the runs train on")
    p.add_argument("--eval-data", default="data/demo-gaze100",
                   help="corpus whose test split every arm is scored on")
    p.add_argument("--runs", type=Path, default=ROOT / "runs")
    p.add_argument("--seed", type=int, default=0, help="training seed (one per call)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--lane", default="0/1", help="I/N: train every N-th arm from the I-th (parallel lanes)")
    p.add_argument("--only", nargs="+", default=[], choices=list(arms(0)),
                   help="train just these arms, in this order")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "gaze-fraction.json")
    a = p.parse_args(argv)
    steps = {"train": [train], "evaluate": [evaluate], "plot": [plot], "all": [train, evaluate, plot]}[a.what]
    for step in steps:
        step(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
