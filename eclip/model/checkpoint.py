"""Model checkpoints: a folder with model.safetensors, config.json and card.json.

Weights keys: the wrapped open_clip model's own state-dict keys (so the file loads into
open_clip after dropping the ``heatmap_processor.`` keys) plus ``heatmap_processor.*``.
Every file is written to a temp file and ``os.replace``d; nothing is ever unpickled.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from eclip.errors import ModelError
from eclip.io import sha256_file, write_json
from eclip.model.card import ModelCard
from eclip.model.eclip import build_model
from eclip.model.factory import get_tokenizer
from eclip.model.preprocess import Preprocess
from eclip.model.text_trunk import (META_KEY, ROUNDED_KEY, TRUNK_PREFIX, check_trunk, reference_metadata,
                                     round_trunk, without_trunk)

WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "card.json"
PROCESSOR_PREFIX = "heatmap_processor."
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@dataclass
class LoadedModel:
    model: Any  # ECLIP, eval mode
    tokenizer: Callable[[list[str]], torch.Tensor]
    preprocess: Callable  # np.float32 HxW [0,1] -> FloatTensor[3,S,S]
    image_size: int
    config: dict
    card: dict
    weights_sha256: str
    path: Path
    extra: dict = field(default_factory=dict)

    @property
    def model_card(self) -> ModelCard:
        """card.json as typed facts: training data, intended use, limitations, the caveat."""
        return ModelCard.from_dict(self.card)


def model_state(model) -> dict[str, torch.Tensor]:
    """Flat, contiguous, unshared tensors in the checkpoint's key scheme."""
    state = {k: v for k, v in model.clip.state_dict().items()}
    state.update({PROCESSOR_PREFIX + k: v for k, v in model.processor.state_dict().items()})
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_model(directory: str | os.PathLike, model, config: dict, card: dict | None = None,
               dtype: str | torch.dtype = "float16", text_trunk: str = "embed") -> Path:
    """Write weights (temp file + rename), config.json and card.json. Returns the folder.

    ``config`` is the resolved run config (``eclip.config.to_dict``); the architecture
    dict is stored with it under ``arch_cfg`` so the folder alone rebuilds the model.
    ``text_trunk="reference"`` leaves out a frozen pretrained text trunk and names it by
    digest (``eclip.model.text_trunk``); the default keeps every weight.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch_dtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype
    state = {k: (v.to(torch_dtype) if v.is_floating_point() else v) for k, v in model_state(model).items()}
    metadata = {"format": "pt", "eclip": "1"}
    if text_trunk == "reference":
        metadata.update(reference_metadata(model, torch_dtype))
        state = without_trunk(state)
    elif text_trunk != "embed":
        raise ValueError(f"text_trunk={text_trunk!r}: use 'embed' or 'reference'")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{WEIGHTS}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 (and save_file keeps it); shipped weights must be readable
        sha = sha256_file(Path(tmp))
        os.replace(tmp, directory / WEIGHTS)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    full_config = dict(config)
    full_config["arch_cfg"] = model.arch_cfg
    card = dict(card or {})
    card.update({
        "weights_sha256": sha,
        "weights_dtype": str(torch_dtype).replace("torch.", ""),
        "created_at": card.get("created_at") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "image_size": model.image_size,
        "arch": full_config.get("model", {}).get("arch", ""),
        "expert": bool(model.method.expert),
    })
    card.pop("text_trunk", None)
    if META_KEY in metadata:  # a reader of the card learns the file alone is not the whole model
        rounded = f", rounded to {metadata[ROUNDED_KEY]} as the model held it" if ROUNDED_KEY in metadata else ""
        card["text_trunk"] = f"by reference: the installed pretrained weights ({metadata[META_KEY][:12]}){rounded}"
    write_json(directory / CONFIG, full_config)
    write_json(directory / CARD, card)
    return directory


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ModelError(f"checkpoint {path.parent}: {path.name} is missing ({what}); "
                         "the folder must hold model.safetensors, config.json and card.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); re-export the checkpoint") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object")
    return data


def _check_folder(directory: Path) -> Path:
    if not directory.is_dir():
        raise ModelError(f"checkpoint folder {directory} not found; pass a folder holding "
                         "model.safetensors, config.json and card.json (e.g. checkpoints/demo-eclip)")
    weights = directory / WEIGHTS
    if not weights.is_file():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        if pickles:
            raise ModelError(
                f"checkpoint {directory} holds only pickle-based weights {pickles}, which are "
                "refused because unpickling can run arbitrary code. Convert them to "
                f"{WEIGHTS} with safetensors.torch.save_file."
            )
        raise ModelError(f"checkpoint {directory} has no {WEIGHTS}; train a model with "
                         "`python -m eclip.train` or pick another folder")
    return weights


def load_state(weights: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(weights))
    except Exception as exc:  # safetensors raises SafetensorError / OSError
        raise ModelError(f"{weights} is not a readable safetensors file ({exc}); the file is "
                         "corrupt or truncated: restore it or re-export the checkpoint") from exc


def trunk_reference(weights: Path) -> dict[str, str] | None:
    """How a file names the text trunk it does not hold (its digest, and the dtype the saved
    model held it rounded to, if any: ``eclip.model.text_trunk``), else None."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), "pt") as f:
            meta = f.metadata() or {}
            return {k: meta[k] for k in (META_KEY, ROUNDED_KEY) if k in meta} if META_KEY in meta else None
    except Exception as exc:
        raise ModelError(f"{weights} is not a readable safetensors file ({exc}); the file is "
                         "corrupt or truncated: restore it or re-export the checkpoint") from exc


def apply_state(model, state: dict[str, torch.Tensor], source: Path, trunk: dict[str, str] | None = None) -> None:
    """Load a checkpoint-scheme state dict into an ECLIP (casts fp16 -> the model's dtype).
    ``trunk``: how the file names a text trunk it holds by reference (``trunk_reference``); the
    model must already carry that trunk (built from the installed pretrained package)."""
    proc = {k[len(PROCESSOR_PREFIX):]: v for k, v in state.items() if k.startswith(PROCESSOR_PREFIX)}
    clip = {k: v for k, v in state.items() if not k.startswith(PROCESSOR_PREFIX)}
    problems = []
    for name, module, part in (("model", model.clip, clip), ("processor", model.processor, proc)):
        expected = module.state_dict()
        if trunk is not None and name == "model":
            check_trunk(model, trunk[META_KEY], source)
            if ROUNDED_KEY in trunk:  # as the saved model held it: the slim copy loads as its source
                round_trunk(model, trunk[ROUNDED_KEY])  # in place: ``expected`` shares its storage
            part = dict(part, **{k: v for k, v in expected.items() if k.startswith(TRUNK_PREFIX)})
        missing = sorted(set(expected) - set(part))
        unexpected = sorted(set(part) - set(expected))
        shapes = [f"{k}: {tuple(part[k].shape)} vs {tuple(expected[k].shape)}"
                  for k in expected if k in part and part[k].shape != expected[k].shape]
        if name == "processor" and not part:
            continue  # a plain open_clip file has no processor: keep its fresh init
        if missing or unexpected or shapes:
            problems.append(f"{name}: missing {missing[:3]}, unexpected {unexpected[:3]}, "
                            f"shape mismatch {shapes[:3]}")
        else:
            module.load_state_dict(part, strict=True)
    if problems:
        raise ModelError(f"{source} does not match the architecture in its config.json "
                         f"({'; '.join(problems)}); the config and weights come from different models")
    model.sync_temperature()  # method.temperature_param = "tau": T from the stored log(1/T)


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu",
               verify_sha: bool = True) -> LoadedModel:
    """Rebuild the model from config.json and load model.safetensors (fp32, eval mode)."""
    directory = Path(directory)
    weights = _check_folder(directory)
    config = _read_json(directory / CONFIG, "the model config")
    card = _read_json(directory / CARD, "the model card") if (directory / CARD).exists() else {}
    sha = sha256_file(weights)
    expected = ModelCard.from_dict(card).weights_sha256
    if verify_sha and expected and expected != sha:
        raise ModelError(f"{weights}: sha256 {sha[:12]}... differs from card.json's "
                         f"{expected[:12]}...; the weights were changed or corrupted "
                         "after the card was written: restore or re-export the checkpoint")
    if "arch_cfg" not in config or "model" not in config:
        raise ModelError(f"{directory / CONFIG} lacks 'model'/'arch_cfg'; it was not written "
                         "by eclip.model.checkpoint.save_model")
    try:
        # init_weights / pretrained were only the starting point of training: never re-read them.
        model_cfg = dict(config["model"], init_weights="", pretrained="")
        trunk = trunk_reference(weights)
        model = build_model(model_cfg, config.get("method"), arch_cfg=config["arch_cfg"],
                            pretrained_text=trunk is not None)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{directory / CONFIG}: the model could not be rebuilt ({exc})") from exc
    apply_state(model, load_state(weights), weights, trunk)
    model = model.float().to(device).eval()
    data = config.get("data", {})
    preprocess = Preprocess(model.image_size, data.get("mean", 0.58), data.get("std", 0.26))
    return LoadedModel(model=model, tokenizer=get_tokenizer(config["arch_cfg"]), preprocess=preprocess,
                       image_size=model.image_size, config=config, card=card,
                       weights_sha256=sha, path=directory)


def checkpoint_name(path: str | os.PathLike) -> str:
    """A short display name: the folder, or the run folder for a run's ``final/`` export."""
    p = Path(path)
    return p.parent.name if p.name == "final" else p.name
