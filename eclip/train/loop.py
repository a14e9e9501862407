"""The training loop, top to bottom: build, (resume), then step until done or told to stop.

One step: decide (from the curriculum) whether an expert batch joins, set the lr, forward
main (+ expert) pairs through ECLIP, check the loss is finite, backward, clip, AdamW step,
clamp the temperature, log, checkpoint. Every random decision is a pure function of
(seed, step), which is what makes ``--resume`` and multi-process runs exact.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from eclip.config import Config, MethodConfig, TrainConfig, to_dict
from eclip.data.manifest import fingerprint
from eclip.io import write_json
from eclip.errors import TrainingError
from eclip.model import build_model, get_tokenizer, save_model
from eclip.model.label_local import prompt_groups
from eclip.model.card import gaze_use, training_mode
from eclip.model.curriculum import expert_probability, in_cold_start
from eclip.model.mixup import mixup_lambda, step_rng
from eclip.model.precision import autocast, model_precision
from eclip.train import distributed as D
from eclip.train import runfolder as RF
from eclip.train.checkpoints import latest_checkpoint, load_train_checkpoint, save_train_checkpoint
from eclip.train.dataset import Collate, StepSampler, TrainDataset, worker_init

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    steps_done: int
    stopped_early: bool
    final_dir: Path | None
    wall_time_s: float
    last_loss: float
    stopped_by: str = ""  # the signal that stopped it (SIGTERM, SIGINT)


# -- optimisation ---------------------------------------------------------------------------
REFERENCE_NO_DECAY = ("bias", "LayerNorm.weight", "BatchNorm")  # the reference's name match
NO_DECAY_RULES = ("shape", "reference")


def decays(p: torch.nn.Parameter, name: str = "", rule: str = "shape") -> bool:
    """"shape" (default): matrices and kernels decay; biases, norm gains, embeddings' 1-d
    vectors and the temperature (ndim <= 1) do not, as open_clip's optimiser decides: a name
    rule misses tensors whose module naming differs between towers. "reference": the
    reference's substring match, which decays open_clip/timm norm gains (ln_1.weight, norm1.weight)
    but not HF BERT's LayerNorm.weight; the temperature never decays (its own group there)."""
    if rule == "reference":
        return not any(s in name for s in REFERENCE_NO_DECAY) and name not in ("logit_scale", "tau")
    return p.ndim > 1


def _named_trainable(model, part: str):
    module = model.clip if part == "clip" else model.processor
    yield from ((n, p) for n, p in module.named_parameters() if p.requires_grad)
    if part == "clip" and getattr(model, "tau", None) is not None:  # temperature_param = "tau"
        yield "tau", model.tau


def _param_groups(model, t: TrainConfig) -> list[dict]:
    """Four groups, sorted by name (clip, clip_no_decay, processor, processor_no_decay): a
    checkpoint's optimizer state is matched to them by position."""
    if t.no_decay not in NO_DECAY_RULES:
        raise TrainingError(f"train.no_decay={t.no_decay!r}: use one of {list(NO_DECAY_RULES)}")
    groups: dict[tuple[str, bool], list] = {}
    for part in ("clip", "processor"):
        for name, p in _named_trainable(model, part):
            groups.setdefault((part, not decays(p, name, t.no_decay)), []).append(p)
    param_groups = []
    for (part, no_wd), params in sorted(groups.items()):
        mult = t.processor_lr_mult if part == "processor" else 1.0
        param_groups.append({"params": params, "name": f"{part}{'_no_decay' if no_wd else ''}",
                             "lr_mult": mult, "weight_decay": 0.0 if no_wd else t.weight_decay,
                             "lr": t.lr * mult})
    return param_groups


def _log_decay_split(param_groups: list[dict]) -> None:
    for wd in (True, False):
        params = [p for g in param_groups if (g["weight_decay"] > 0) == wd for p in g["params"]]
        log.info("%s parameter tensors: %d, with %s parameters", "decayed" if wd else "non-decayed",
                 len(params), f"{sum(p.numel() for p in params):,}")


def make_optimizer(model, t: TrainConfig) -> torch.optim.AdamW:
    param_groups = _param_groups(model, t)
    _log_decay_split(param_groups)
    kwargs = dict(lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps)
    try:  # the fused kernel is markedly faster on CPU and GPU; plain AdamW where unsupported
        return torch.optim.AdamW(param_groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(param_groups, **kwargs)


def lr_factor(step: int, total: int, warmup_frac: float) -> float:
    """Linear warm-up over the first warmup_frac of steps, then cosine to 0."""
    warm = max(1, int(round(total * warmup_frac)))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def set_lr(opt: torch.optim.Optimizer, step: int, t: TrainConfig) -> float:
    base = t.lr * lr_factor(step, t.steps, t.warmup_frac)
    for g in opt.param_groups:
        g["lr"] = base * g["lr_mult"]
    return base


def p_expert(method: MethodConfig, step: int, total: int) -> float:
    """The chance that ``step`` adds an expert batch: 0 without experts, 1 for the naive
    variant (every step), else the curriculum's value. Logged as it is used."""
    if not method.expert:
        return 0.0
    return 1.0 if method.naive else expert_probability(step, total, method.curriculum)


def priming_on(method: MethodConfig, step: int, total: int) -> bool:
    """Does ``step`` add the priming loss? In the cold start, with the expert path on; the naive
    ablation drops it unless method.naive_priming (the reference keeps it there)."""
    if not (method.expert and method.priming) or (method.naive and not method.naive_priming):
        return False
    return in_cold_start(step, total, method.curriculum)


def expert_decider(cfg: Config):
    """step -> bool: does this step add an expert batch? Pure, so every rank agrees
    (random() < 1 always holds, so p = 1 needs no special case)."""
    method, total, seed = cfg.method, cfg.train.steps, cfg.train.seed

    def use_expert(step: int) -> bool:
        p = p_expert(method, step, total)
        return p > 0 and step_rng(seed, 1, step).random() < p

    return use_expert


# -- signals --------------------------------------------------------------------------------
class StopFlag:
    """The first SIGTERM or SIGINT sets a flag: the loop finishes its step, saves a
    checkpoint and exits 0. A second SIGINT (Ctrl-C again) raises KeyboardInterrupt at once,
    the way out when a step or a save is slow; the CLI exits 130 and the last checkpoint
    stays. More SIGTERMs change nothing (the app's Stop may be pressed twice)."""

    def __init__(self):
        self.set = False
        self.signal_name = ""
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread (e.g. an app worker): no handler
                pass
        return self

    def _handle(self, signum, frame):
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt("interrupted twice")
        if self.set:
            return
        # set before logging: a second signal can run this handler again inside the log call
        self.set, self.signal_name = True, signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint at the end of this step, then stopping "
                    "(Ctrl-C again aborts without saving)", self.signal_name)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


# -- the loop -------------------------------------------------------------------------------
def train(cfg: Config, run_dir: str | Path, resume: bool = False) -> RunResult:
    # The stop handlers go up first: a stop while the model is built is kept for the loop
    # (one step, a checkpoint, exit 0) instead of killing the process half-way.
    with StopFlag() as stop, torch_threads(cfg.train.threads):
        ctx = D.init_distributed(cfg.train.device)
        try:
            return Trainer(cfg, Path(run_dir), resume, ctx).run(stop)
        finally:
            D.cleanup(ctx)


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to ``n`` (0: left alone) while the block runs, the
    previous count back afterwards: the count is process-wide, and a caller that trains
    in-process (the app, a test) must not be left with the run's setting."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class Trainer:
    """Holds what one run needs; ``run`` is the loop, ``step`` one optimisation step."""

    def __init__(self, cfg: Config, run_dir: Path, resume: bool, ctx: D.DistContext):
        t = cfg.train
        self.cfg, self.t, self.method, self.run_dir, self.ctx = cfg, t, cfg.method, run_dir, ctx
        torch.manual_seed(t.seed)  # same seed -> same init for eCLIP and its CLIP baseline
        self.model = build_model(cfg.model, cfg.method).to(ctx.device)
        self.model.loss_fn.rank, self.model.loss_fn.world_size = ctx.rank, ctx.world_size
        if cfg.method.label_local_weight > 0:
            texts, groups = prompt_groups()
            self.model.attach_label_prompts(get_tokenizer(self.model.arch_cfg)(texts), groups)
        self.opt = make_optimizer(self.model, t)
        self.config = to_dict(cfg)
        self.start, self.wall_before = 0, 0.0
        if resume:
            meta = load_train_checkpoint(run_dir, self.model, self.opt)
            self.start, self.wall_before = int(meta["step"]), float(meta.get("wall_time_s", 0.0))
            log.info("resuming %s from step %d (%s)", run_dir, self.start, meta["checkpoint_dir"])
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            RF.write_trainer_record(run_dir)  # first: the app tells a live run from a dead one by it
            RF.clear_exit(run_dir)  # how an earlier process ended no longer describes the run
            write_json(run_dir / RF.CONFIG, self.config)
            RF.truncate_progress(run_dir, self.start)  # rows past the checkpoint would repeat
        self.ddp = D.wrap_ddp(self.model, ctx)
        self._make_data()
        self.card = {"data_fingerprint": fingerprint(cfg.data.root), "dataset": str(cfg.data.root),
                     "mode": training_mode(to_dict(cfg.method)), "gaze": gaze_use(to_dict(cfg.method)),
                     "total_steps": t.steps,
                     "world_size": ctx.world_size, "metrics": {}}
        self.amp = self._autocast()
        # the unweighted parts a run has (older runs' rows keep their three keys)
        self.logged_losses = ("loss", "loss_clip", "loss_mse") + (
            ("loss_prior",) if cfg.method.gaze_prior_weight > 0 else ()) + (
            ("loss_local",) if cfg.method.label_local_weight > 0 else ())

    def _autocast(self):
        """() -> the context of a step's forward: bf16 autocast on CUDA with ``train.amp``;
        on CPU whatever ``train.precision`` resolves to for this image tower."""
        if self.ctx.device.type == "cuda":
            on = self.t.amp == "bf16"
            return lambda: torch.autocast("cuda", dtype=torch.bfloat16) if on else contextlib.nullcontext()
        precision = model_precision(self.model, self.t.precision, self.ctx.device)
        self.card["precision"] = precision
        log.info("CPU training in %s (train.precision=%s)", precision, self.t.precision)
        return lambda: autocast(self.model, precision, self.ctx.device)

    def _make_data(self) -> None:
        cfg, t, ctx = self.cfg, self.t, self.ctx
        m = cfg.method
        dataset = TrainDataset(cfg.data.root, cfg.data, self.model.image_size, t.seed, m.random_heatmaps,
                               main_heatmaps=m.gaze_prior_weight > 0 and m.gaze_prior_on == "all",
                               labels=m.label_local_weight > 0)
        self.expert_b = max(ctx.world_size, int(round(t.batch_size * cfg.method.expert_batch_fraction)))
        self.sampler = StepSampler(
            n_rows=len(dataset), expert_rows=dataset.expert_rows, batch=t.batch_size,
            expert_batch=self.expert_b, seed=t.seed, start_step=self.start, total_steps=t.steps,
            use_expert=expert_decider(cfg), rank=ctx.rank, world_size=ctx.world_size)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=cfg.data.workers,
            collate_fn=Collate(get_tokenizer(self.model.arch_cfg)), worker_init_fn=worker_init)
        self._warm_text(dataset.texts)

    def _warm_text(self, texts: list[str]) -> None:
        """A frozen text trunk's outputs for every training text, once, before the first step."""
        t0 = time.time()
        tokens = get_tokenizer(self.model.arch_cfg)(sorted(set(texts)))
        n = self.model.warm_text_cache(tokens, progress=self.ctx.is_main)
        if n:
            log.info("frozen text trunk: %d distinct training texts encoded once (%.0f s)", n, time.time() - t0)

    # -- one step -----------------------------------------------------------------------
    def step(self, step: int, batch: dict, stop_requested: bool) -> dict:
        t, m = self.t, self.method
        info = {"lr": set_lr(self.opt, step, t), "expert": "expert_images" in batch,
                "priming": priming_on(m, step, t.steps)}
        info["lam"] = mixup_lambda(m, step_rng(t.seed, 2, step)) if info["expert"] else 1.0
        self.opt.zero_grad(set_to_none=True)
        with self.amp():
            out = self.ddp(**_to(batch, self.ctx.device), lam=info["lam"], prime=info["priming"],
                           channels_last=t.channels_last)
        # one all-reduce carries the logged losses and the stop / non-finite flags (mean > 0:
        # some rank raised it, and every rank then acts alike)
        loss = out["loss"].detach().float()
        reduced = D.all_reduce_named(
            {"loss": loss, "loss_clip": out["clip"], "loss_mse": out["mse"],
             "loss_prior": out["prior"], "loss_local": out["local"],
             "nonfinite": ~torch.isfinite(loss), "stop": float(stop_requested)}, self.ctx, loss.device)
        if reduced["nonfinite"] > 0:
            raise self._non_finite(step, "loss", reduced)
        out["loss"].backward()
        if not (info["expert"] or info["priming"]):  # processor unused: grads None, as in 1 process
            for p in self.model.processor.parameters():
                p.grad = None
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        if not torch.isfinite(grad_norm):
            raise self._non_finite(step, "gradient norm", reduced)
        self.opt.step()
        self.model.clamp_temperature()
        info.update(loss=reduced["loss"], loss_clip=reduced["loss_clip"], loss_mse=reduced["loss_mse"],
                    loss_prior=reduced["loss_prior"], loss_local=reduced["loss_local"],
                    stop=reduced["stop"] > 0)
        return info

    def _non_finite(self, step: int, what: str, reduced: dict[str, float]) -> TrainingError:
        last = latest_checkpoint(self.run_dir)
        keep = f"the last good checkpoint {last} is kept" if last else "no checkpoint had been written yet"
        return TrainingError(
            f"training stopped at step {step + 1}: the {what} is not finite (loss {reduced['loss']:.4g}, "
            f"clip {reduced['loss_clip']:.4g}, mse {reduced['loss_mse']:.4g}); {keep}. Lower train.lr "
            f"(now {self.t.lr:g}) or check the data for broken images, then resume with "
            f"--resume {self.run_dir}.")

    # -- the loop -------------------------------------------------------------------------
    def run(self, stop: StopFlag) -> RunResult:
        t, ctx = self.t, self.ctx
        done, info, stopped = self.start, {"loss": float("nan")}, False
        self.t0 = time.time()
        meter = RateMeter()
        bar = tqdm(total=t.steps, initial=self.start, disable=not ctx.is_main, desc="train", unit="step",
                   dynamic_ncols=True, mininterval=1.0)
        for step, batch in zip(range(self.start, t.steps), self.loader):
            info = self.step(step, batch, stop.set)
            done = step + 1
            meter.add(t.batch_size + (self.expert_b if info["expert"] else 0))
            bar.update(1)
            if ctx.is_main and (done % t.log_every == 0 or done == t.steps or info["stop"]):
                row = self.progress_row(step, info, meter)
                bar.set_postfix(loss=f"{info['loss']:.3f}", p=f"{row.p_expert:.2f}", refresh=False)
            if info["stop"] or done % t.ckpt_every == 0 or done == t.steps:
                self.checkpoint(done)
                meter.restart_if_empty()  # keep checkpoint time out of images/s
            if info["stop"]:
                stopped = True
                break
        bar.close()
        check_ranks_agree(self.model, ctx)
        wall = self.wall_time()
        final = None
        if not stopped and ctx.is_main:
            card = dict(self.card, steps=done, wall_time_s=round(wall, 1), final_loss=info["loss"])
            final = save_model(self.run_dir / RF.FINAL, self.model, self.config, card, t.save_dtype)
        D.barrier(ctx)
        return RunResult(self.run_dir, done, stopped, final, wall, info["loss"],
                         stop.signal_name if stopped else "")

    def wall_time(self) -> float:
        return self.wall_before + time.time() - self.t0

    def progress_row(self, step: int, info: dict, meter: "RateMeter") -> RF.ProgressRow:
        done = step + 1
        images_per_s, sec_per_step = meter.take()
        row = RF.ProgressRow(
            step=done, epoch=self.sampler.epoch_of(step), lr=info["lr"],
            losses={k: info[k] for k in self.logged_losses},
            p_expert=p_expert(self.method, step, self.t.steps), expert=info["expert"], lam=info["lam"],
            priming=info["priming"], temperature=self.model.temperature, images_per_s=images_per_s,
            eta_s=sec_per_step * (self.t.steps - done), wall_time_s=self.wall_time())
        RF.append_row(self.run_dir, row)
        return row

    def checkpoint(self, done: int) -> None:
        if self.ctx.is_main:
            wall = self.wall_time()
            extra = {"wall_time_s": wall, "epoch": self.sampler.epoch_of(done), "world_size": self.ctx.world_size}
            save_train_checkpoint(self.run_dir, done, self.model, self.opt, self.config,
                                  dict(self.card, steps=done, wall_time_s=wall), extra, self.t.keep_checkpoints)
        D.barrier(self.ctx)


class RateMeter:
    """Images/s and s/step over the steps since the last log line."""

    def __init__(self):
        self.t, self.images, self.steps = time.perf_counter(), 0, 0

    def add(self, images: int) -> None:
        self.images += images
        self.steps += 1

    def take(self) -> tuple[float, float]:
        now = time.perf_counter()
        elapsed = max(now - self.t, 1e-9)
        rate, per_step = self.images / elapsed, elapsed / max(1, self.steps)
        self.t, self.images, self.steps = now, 0, 0
        return rate, per_step

    def restart_if_empty(self) -> None:
        if self.steps == 0:
            self.t = time.perf_counter()


def param_checksum(model) -> torch.Tensor:
    """A position-weighted float64 sum of all weights: equal iff ranks hold equal weights
    (to any practical degree)."""
    total = torch.zeros((), dtype=torch.float64)
    for i, p in enumerate(model.parameters()):
        total += (p.detach().double().cpu().flatten() * (1.0 + 1e-3 * i)).sum()
    return total


def check_ranks_agree(model, ctx: D.DistContext) -> None:
    if not ctx.enabled:
        return
    c = param_checksum(model).reshape(1).to(ctx.device)
    hi, lo = D.all_reduce(c, ctx, "max"), D.all_reduce(c, ctx, "min")
    if float(hi) != float(lo):
        raise TrainingError(f"the {ctx.world_size} ranks hold different weights after training "
                            f"(checksums {float(lo)!r} .. {float(hi)!r}); this is a bug, please report it")
