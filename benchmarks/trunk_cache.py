"""A training step with the frozen text trunk's pooled outputs cached, against the same step
through the trunk every time, side by side in one run (interleaved rounds, best of each).

    python benchmarks/trunk_cache.py --config configs/demo20k-eclip-rn-local.toml --steps 6 --rounds 3

The batch is real: `--batch` reports of the config's corpus (train split), repeated every step
as an epoch repeats them, with random images and heatmaps; the step is forward, backward and an
optimiser step of the eCLIP loss (expert pairs, gaze prior and label-local loss as configured).
The cache is filled by the first step of each cached round (a whole run fills it once per text).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from eclip.config import load_config
from eclip.model import get_tokenizer
from eclip.model.eclip import build_model
from eclip.model.label_local import LOCAL_LABELS, prompt_groups


def step_time(model, opt, batch: dict, steps: int) -> float:
    """Seconds per step, the mean of ``steps`` steps after one warm-up step."""
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        model(**batch)["loss"].backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo20k-eclip-rn-local.toml")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.method)
    tok = get_tokenizer(model.arch_cfg)
    if cfg.method.label_local_weight > 0:
        texts, groups = prompt_groups()
        model.attach_label_prompts(tok(texts), groups)
    df = pd.read_csv(f"{cfg.data.root}/manifest.csv", nrows=4000)
    df = df[df["split"] == "train"].head(a.batch)
    tokens = tok((df["findings"].fillna("") + " " + df["impression"].fillna("")).tolist())
    size, n = model.image_size, len(tokens)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, size, size, generator=g)
    heat = torch.rand(n, 1, size, size, generator=g)
    batch = {"images": images, "tokens": tokens, "heatmaps": heat,
             "labels": torch.randint(0, 2, (n, len(LOCAL_LABELS)), generator=g).float()}
    if cfg.method.expert:
        batch.update(expert_images=images, expert_heatmaps=heat, expert_tokens=tokens, lam=0.5)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    cached = model._loss_text
    through = lambda t: model.encode_text(t, normalize=True)  # noqa: E731
    best = {"cached": np.inf, "through the trunk": np.inf}
    for r in range(a.rounds):
        for name, fn in (("through the trunk", through), ("cached", cached)):
            model._loss_text = fn
            best[name] = min(best[name], step_time(model, opt, batch, a.steps))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.3f} s/step" for k, v in best.items()), flush=True)
    print(f"{a.config}, batch {n} (+{n if cfg.method.expert else 0} expert), {a.threads} thread(s): "
          f"through the trunk {best['through the trunk']:.3f} s/step, cached {best['cached']:.3f} s/step, "
          f"{best['through the trunk'] / best['cached']:.2f}x")


if __name__ == "__main__":
    main()
