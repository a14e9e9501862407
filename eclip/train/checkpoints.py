"""Resumable training checkpoints, without pickle.

``RUN/checkpoints/step_000120/`` holds the model folder (model.safetensors fp32, config.json,
card.json) plus ``train_state.safetensors`` (optimizer tensors, RNG states) and
``train_state.json`` (step, param groups, everything else). The folder is assembled under a
temp name and renamed; ``RUN/checkpoints/latest.json`` (written atomically afterwards)
names the newest complete one, so a kill at any moment leaves the last good checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from eclip.io import atomic_write_bytes
from eclip.errors import TrainingError
from eclip.model.checkpoint import apply_state, load_state, save_model
from eclip.train.runfolder import CHECKPOINTS

STATE_TENSORS, STATE_JSON, LATEST = "train_state.safetensors", "train_state.json", "latest.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for key, value in meta["plain_state"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_train_checkpoint(run_dir: Path, step: int, model, opt: torch.optim.Optimizer,
                          config: dict, card: dict, extra: dict, keep: int = 2) -> Path:
    """Write checkpoints/step_NNNNNN atomically, point latest.json at it, prune old ones."""
    from safetensors.torch import save_file

    ckdir = Path(run_dir) / CHECKPOINTS
    ckdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=ckdir, prefix=".tmp-"))
    try:
        save_model(tmp, model, config, card, dtype="float32")
        tensors, meta = optimizer_to_flat(opt)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        save_file(tensors, str(tmp / STATE_TENSORS))
        meta.update(extra, step=step)
        (tmp / STATE_JSON).write_text(json.dumps(meta, indent=1, default=float))
        final = ckdir / f"step_{step:06d}"
        if final.exists():  # re-saving the same step (e.g. SIGTERM right after a save)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_bytes(ckdir / LATEST, json.dumps({"step": step, "dir": final.name}).encode())
    _prune(ckdir, keep)
    return final


def _prune(ckdir: Path, keep: int) -> None:
    dirs = sorted((p for p in ckdir.iterdir() if _STEP_DIR.match(p.name)), key=lambda p: p.name)
    for old in dirs[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for stale in ckdir.glob(".tmp-*"):  # left by a kill mid-write
        shutil.rmtree(stale, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckdir = Path(run_dir) / CHECKPOINTS
    pointer = ckdir / LATEST
    if pointer.is_file():
        try:
            target = ckdir / json.loads(pointer.read_text())["dir"]
            if (target / STATE_JSON).is_file():
                return target
        except (json.JSONDecodeError, KeyError, OSError):
            pass
    # pointer missing or stale: the newest complete step folder
    dirs = sorted((p for p in ckdir.glob("step_*") if (p / STATE_JSON).is_file()), key=lambda p: p.name)
    return dirs[-1] if dirs else None


def load_train_checkpoint(run_dir: Path, model, opt: torch.optim.Optimizer) -> dict:
    """Restore weights, optimizer and RNG from the latest checkpoint; returns its JSON state."""
    from safetensors.torch import load_file

    ck = latest_checkpoint(run_dir)
    if ck is None:
        raise TrainingError(f"--resume {run_dir}: no checkpoint found under {run_dir}/{CHECKPOINTS}; "
                            "start a new run with --out instead")
    apply_state(model, load_state(ck / "model.safetensors"), ck)
    try:
        tensors = load_file(str(ck / STATE_TENSORS))
        meta = json.loads((ck / STATE_JSON).read_text())
    except Exception as exc:
        raise TrainingError(f"{ck}: train state unreadable ({exc}); delete this folder to resume "
                            "from the one before it") from exc
    optimizer_from_flat(opt, tensors, meta)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    meta["checkpoint_dir"] = str(ck)
    return meta
