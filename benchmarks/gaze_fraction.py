"""When does gaze help? eCLIP - CLIP at gaze fractions 10 / 25 / 50 / 100 %.

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

More seeds: ``train --seed 1 --only clip eclip-25 eclip-100`` (and 2), then
``evaluate --seeds 0 1 2``: an arm is averaged over the seeds it finished, against CLIP over the
same seeds, so arms with one seed and arms with three sit in one table with their seed counts.
``--tower minilm`` runs the same arms with the shipped pair's tower (eclip-vit-tiny-minilm: a
6x128 ViT from scratch and the pretrained MiniLM-L6 text tower, frozen; configs/demo-*.toml cut
to the same 600 steps) into ``runs/gf-minilm-s<seed>-<arm>`` and
``results/gaze-fraction-minilm.json``.
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


# tower -> (config prefix, extra settings); every tower trains 600 steps of batch 32
TOWERS = {"vit6": ("configs/scratch", []),
          "minilm": ("configs/demo", ["--set", "train.steps=600", "--set", "train.ckpt_every=100"])}


def arms(seed: int, tower: str = "vit6") -> dict[str, list[str]]:
    """Arm name -> the training command's arguments after the config (order = training order)."""
    prefix, extra = TOWERS[tower]
    out = {"clip": ["--config", f"{prefix}-clip.toml", *extra]}
    for f in FRACTIONS:
        out[f"eclip-{round(f * 100)}"] = ["--config", f"{prefix}-eclip.toml", *extra,
                                           "--set", f"data.gaze_fraction={f}"]
    return out


def run_dir(runs: Path, seed: int, arm: str, tower: str = "vit6") -> Path:
    return runs / (f"gf-s{seed}-{arm}" if tower == "vit6" else f"gf-{tower}-s{seed}-{arm}")


def train_command(folder: Path, args: list[str], data: str, seed: int) -> list[str]:
    """Resume a started run (it has a config.json), else start it."""
    cmd = [sys.executable, "-m", "eclip.train"]
    if (folder / "config.json").is_file():
        return cmd + ["--resume", str(folder)]
    return cmd + args + ["--set", f"data.root={data}", "--set", f"train.seed={seed}",
                         "--set", f"train.threads={THREADS}", "--out", str(folder)]


def train(a) -> None:
    every = arms(a.seed, a.tower)
    todo = [(k, every[k]) for k in a.only] if a.only else list(every.items())
    lane, lanes = (int(x) for x in a.lane.split("/"))
    for arm, args in todo[lane::lanes]:
        folder = run_dir(a.runs, a.seed, arm, a.tower)
        if (folder / "final" / "model.safetensors").is_file():
            print(f"{arm}: finished, skipped ({folder})", flush=True)
            continue
        print(f"{arm}: training into {folder}", flush=True)
        subprocess.run(train_command(folder, args, a.data, a.seed), cwd=ROOT, check=True)


# the curve's metrics: (result key, label); each point is eCLIP at that fraction - CLIP
CURVE = (("zs/findings/accuracy", "9-finding accuracy"), ("zs/binary/macro_auroc", "prompt-pair AUROC"),
         ("probe/100%/macro_auroc", "linear probe AUROC (100 %)"), ("gradcam/cc", "Grad-CAM vs gaze CC"))


def finished(a) -> dict[str, dict[int, str]]:
    """Arm -> {seed: its final checkpoint} for every seed of ``--seeds`` the arm finished."""
    done: dict[str, dict[int, str]] = {}
    for arm in arms(0, a.tower):
        for seed in a.seeds:
            final = run_dir(a.runs, seed, arm, a.tower) / "final"
            if (final / "model.safetensors").is_file():
                done.setdefault(arm, {})[seed] = str(final)
    return done


def seed_sets(done: dict[str, dict[int, str]]) -> dict[tuple[int, ...], list[str]]:
    """Seed set -> the eCLIP arms scored on it: each arm's finished seeds that CLIP also
    finished, so every difference is paired seed by seed."""
    sets: dict[tuple[int, ...], list[str]] = {}
    for arm, by_seed in done.items():
        common = tuple(sorted(set(by_seed) & set(done.get("clip", {}))))
        if arm != "clip" and common:
            sets.setdefault(common, []).append(arm)
    return sets


def gradcam_agreement(done: dict[str, dict[int, str]], seeds: tuple[int, ...], eclip_arms: list[str],
                      data: str, n_boot: int, cache: dict) -> dict:
    """Grad-CAM vs gaze CC per arm on the test images with gaze (per image, the mean over
    ``seeds``), and each eCLIP arm minus CLIP paired over the same images and seeds (95 %
    bootstrap intervals over images)."""
    import numpy as np

    from eclip.evaluate.metrics import bootstrap_ci
    from eclip.explain.agreement import gaze_agreement
    from eclip.model.checkpoint import load_model

    def per_image(ckpt: str):
        if ckpt not in cache:  # CLIP's seeds serve every seed set
            _, table = gaze_agreement(load_model(ckpt), data, "test", "gradcam")
            cache[ckpt] = table["cc"].to_numpy(dtype=np.float64)
        return cache[ckpt]

    by_seed = {arm: [per_image(done[arm][s]) for s in seeds] for arm in ["clip", *eclip_arms]}
    cc = {arm: np.mean(v, axis=0) for arm, v in by_seed.items()}
    out = {"groups": {}, "diff": {},  # and each seed's own mean CC, arm - CLIP
           "per_seed_diff": {arm: [float(np.nanmean(a - c)) for a, c in zip(by_seed[arm], by_seed["clip"])]
                             for arm in eclip_arms}}
    for arm, v in cc.items():
        out["groups"][arm] = bootstrap_ci(lambda i, v=v: float(np.nanmean(v[i])), len(v), n_boot)
        if arm != "clip":
            d = v - cc["clip"]
            out["diff"][arm] = bootstrap_ci(lambda i, d=d: float(np.nanmean(d[i])), len(d), n_boot)
    return out


def evaluate(a) -> None:
    from eclip.evaluate.tables import write_outputs
    from eclip.evaluate.experiment import experiment_table, run_experiment
    from eclip.evaluate.run import Options

    done = finished(a)
    sets = seed_sets(done)
    if not sets:
        raise SystemExit(f"evaluate: need the CLIP run and at least one eCLIP run finished at the "
                         f"same seed under {a.runs} (seeds {a.seeds}, tower {a.tower}; finished: "
                         f"{ {arm: sorted(s) for arm, s in done.items()} }); run `train` first")
    opts = Options(split="test", n_boot=a.n_boot, progress=False)
    result = {"tower": a.tower, "seeds": list(a.seeds), "experiments": []}
    cache: dict = {}
    tables = []
    for seeds, eclip_arms in sorted(sets.items(), key=lambda kv: (-len(kv[0]), kv[0])):
        groups = {arm: [done[arm][s] for s in seeds] for arm in ["clip", *eclip_arms]}
        exp = run_experiment(groups, a.eval_data, opts, baseline="clip")
        exp["seeds"] = list(seeds)
        exp["gradcam"] = gradcam_agreement(done, seeds, eclip_arms, a.eval_data, a.n_boot, cache)
        result["experiments"].append(exp)
        tables.append(f"### Seeds {', '.join(map(str, seeds))}\n\n{experiment_table(exp)}")
    scored = {"clip", *(arm for e in sets.values() for arm in e)}
    result["not_finished"] = [arm for arm in arms(0, a.tower) if arm not in scored]
    write_outputs(a.out, result, curve_table(result) + "\n" + "\n".join(tables), quiet=True)


def curve_points(result: dict) -> list[dict]:
    """One point per finished eCLIP arm: its gaze fraction and, per metric, the paired
    difference to CLIP with its interval."""
    points = []
    for exp in result["experiments"]:
        for arm in exp["diff"]:
            diffs = {key: exp["diff"][arm]["all"].get(key) for key, _ in CURVE[:3]}
            diffs["gradcam/cc"] = exp["gradcam"]["diff"][arm]
            seeds = {key: _per_seed_diff(exp, arm, key) for key, _ in CURVE[:3]}
            seeds["gradcam/cc"] = exp["gradcam"].get("per_seed_diff", {}).get(arm)
            points.append({"arm": arm, "fraction": int(arm.split("-")[1]) / 100,
                           "seeds": exp["seeds"], "diff": diffs, "per_seed": seeds})
    return sorted(points, key=lambda p: p["fraction"])


def _per_seed_diff(exp: dict, arm: str, key: str) -> list[float] | None:
    """Each seed's own arm - CLIP (the same seed's runs), or None when not recorded."""
    try:
        a = exp["groups"][arm]["subsets"]["all"]["metrics"][key]["per_seed"]
        c = exp["groups"]["clip"]["subsets"]["all"]["metrics"][key]["per_seed"]
    except KeyError:
        return None
    return [x - y for x, y in zip(a, c)]


def _diff_text(d: dict | None, per_seed: list[float] | None = None) -> str:
    if not d:
        return "n/a"
    value = d.get("diff", d.get("value"))
    text = f"{value:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
    if per_seed and len(per_seed) > 1:  # the interval resamples images; seeds vary on top
        text += " (by seed " + " / ".join(f"{v:+.2f}" for v in per_seed) + ")"
    return text


def curve_table(result: dict) -> str:
    head = ("| gaze fraction | seeds | " + " | ".join(f"eCLIP - CLIP, {name}" for _, name in CURVE)
            + " |")
    lines = [head, "|" + "---|" * (len(CURVE) + 2)]
    for p in curve_points(result):
        lines.append(f"| {p['fraction']:.0%} | {len(p['seeds'])} | "
                     + " | ".join(_diff_text(p["diff"][k], p["per_seed"].get(k)) for k, _ in CURVE) + " |")
    missing = result.get("not_finished") or []
    note = f"\nNot finished (left out): {', '.join(missing)}\n" if missing else ""
    return "\n".join(lines) + "\n" + note


def plot(a) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = json.loads(a.out.read_text())
    points = curve_points(result)
    fig, axes = plt.subplots(1, len(CURVE), figsize=(4 * len(CURVE), 3.4))
    x = [p["fraction"] * 100 for p in points]
    n_seeds = [len(p["seeds"]) for p in points]
    for ax, (key, name) in zip(axes, CURVE):
        # a metric can be undefined (e.g. no prompt pair with enough positives): a gap, not a point
        nan = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
        ds = [p["diff"].get(key) or nan for p in points]
        y = [d.get("diff", d.get("value")) for d in ds]
        err = [[v - d["ci_low"] for v, d in zip(y, ds)], [d["ci_high"] - v for v, d in zip(y, ds)]]
        ax.plot(x, y, color="C0", lw=1)
        for n in sorted(set(n_seeds)):  # filled: averaged over several seeds; hollow: one seed
            idx = [i for i, k in enumerate(n_seeds) if k == n]
            ax.errorbar([x[i] for i in idx], [y[i] for i in idx], capsize=3, ls="none", color="C0",
                        yerr=[[err[0][i] for i in idx], [err[1][i] for i in idx]], marker="o",
                        mfc="C0" if n > 1 else "white", label=f"{n} seed{'s' if n > 1 else ''}")
        for xi, p in zip(x, points):  # each seed's own difference: the spread the CI leaves out
            seeds = p.get("per_seed", {}).get(key) or []
            if len(seeds) > 1:
                ax.scatter([xi * 1.04] * len(seeds), seeds, s=10, color="grey", zorder=3,
                           label="one seed" if xi == x[0] and key == CURVE[0][0] else None)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.minorticks_off()  # the log axis's own minor labels (3x10^1 ...) crowded the fractions
        ax.set_xticks(x, [f"{v:g} %" for v in x])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training cases with gaze")
    axes[0].set_ylabel("eCLIP - CLIP (95 % CI)")
    axes[0].legend(fontsize=8, loc="best")
    tower = {"vit6": "ViT 6x192 + text transformer, both from scratch",
             "minilm": "ViT 6x128 from scratch + frozen MiniLM-L6"}[result.get("tower", "vit6")]
    seeds = result["seeds"]
    fig.suptitle(f"Gaze-fraction curve, demo corpus (SIMULATED), {tower}; seed{'s' if len(seeds) > 1 else ''} "
                 f"{', '.join(map(str, seeds))}", fontsize=10)
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
    p.add_argument("--seed", type=int, default=0, help="training seed (train: one per call)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="evaluate: the seeds to average over (default: --seed)")
    p.add_argument("--tower", choices=list(TOWERS), default="vit6",
                   help="vit6: the 3-seed experiment's from-scratch towers; minilm: the shipped "
                        "pair's (frozen pretrained MiniLM-L6 text tower)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--lane", default="0/1", help="I/N: train every N-th arm from the I-th (parallel lanes)")
    p.add_argument("--only", nargs="+", default=[], choices=list(arms(0)),
                   help="train just these arms, in this order")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default results/gaze-fraction[-TOWER].json)")
    a = p.parse_args(argv)
    a.seeds = tuple(a.seeds if a.seeds is not None else [a.seed])
    if a.out is None:
        a.out = ROOT / "results" / ("gaze-fraction.json" if a.tower == "vit6"
                                    else f"gaze-fraction-{a.tower}.json")
    steps = {"train": [train], "evaluate": [evaluate], "plot": [plot], "all": [train, evaluate, plot]}[a.what]
    for step in steps:
        step(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
