"""Channels-last image batches (``train.channels_last``) against the default layout, measured
side by side in one run: the real training loop (``python -m eclip.train``) on one config and
corpus, the two layouts alternated round by round so that other load on the machine reaches
both. Prints seconds/step of each (a low percentile: other jobs only ever add time), their
ratio, and the final loss of each run (the same training up to float summation order).

    python benchmarks/channels_last.py --config configs/demo20k-eclip-rn-local.toml --data data/demo --steps 24
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LAYOUTS = {"default": "false", "channels_last": "true"}


def run(config: str, data: str, out: Path, steps: int, threads: int, channels_last: str) -> list[dict]:
    """One short training run; its progress rows (wall time and loss per step)."""
    sets = [f"data.root={data}", f"train.steps={steps}", "train.log_every=1", f"train.ckpt_every={10 ** 9}",
            f"train.threads={threads}", "train.device=cpu", f"train.channels_last={channels_last}"]
    cmd = [sys.executable, "-m", "eclip.train", "--config", config, "--out", str(out), "--log-level", "WARNING"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS=str(threads))
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"eclip.train failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]


def step_times(rows: list[dict], skip: int) -> list[float]:
    walls = [0.0] + [r["wall_time_s"] for r in rows]
    return [b - a for a, b in zip(walls, walls[1:])][skip:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--config", default="configs/demo20k-eclip-rn-local.toml", help="a training config")
    p.add_argument("--data", default="data/demo", help="the corpus to train on")
    p.add_argument("--steps", type=int, default=24, help="steps per run")
    p.add_argument("--skip", type=int, default=4, help="warm-up steps left out")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two layouts")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the result to this JSON file")
    a = p.parse_args(argv)
    times: dict[str, list[float]] = {k: [] for k in LAYOUTS}
    losses: dict[str, list[float]] = {k: [] for k in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="eclip-cl-") as tmp:
        for r in range(a.rounds):
            for name, flag in (LAYOUTS.items() if r % 2 == 0 else reversed(LAYOUTS.items())):
                rows = run(a.config, a.data, Path(tmp) / f"{name}-{r}", a.steps, a.threads, flag)
                times[name] += step_times(rows, a.skip)
                losses[name].append(rows[-1]["loss"])
    p25 = {k: float(np.percentile(v, 25)) for k, v in times.items()}
    result = {"config": a.config, "data": a.data, "steps": a.steps, "rounds": a.rounds, "threads": a.threads,
              "s_per_step_p25": p25, "s_per_step_mean": {k: float(np.mean(v)) for k, v in times.items()},
              "speedup": p25["default"] / p25["channels_last"], "final_loss": losses,
              "n_steps": {k: len(v) for k, v in times.items()}}
    print(f"{a.config} on {a.data}: {a.rounds} rounds x {a.steps} steps per layout (first {a.skip} left out), "
          f"{a.threads} thread(s)")
    for name in LAYOUTS:
        print(f"  {name:<14} {p25[name]:.3f} s/step (p25; mean {result['s_per_step_mean'][name]:.3f}); "
              f"final loss per round {', '.join(f'{x:.4f}' for x in losses[name])}")
    print(f"  channels-last speedup: {result['speedup']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
