"""Configuration: dataclasses with defaults, TOML files, ``--set a.b=value`` overrides.

Every knob of the eCLIP method is a field here, defaulting to the value of the public
reference code; where the paper reports a different value it is noted in a comment.
The resolved config (``to_dict``) is stored with every run and checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eclip.errors import ConfigError


@dataclass
class ProcessorConfig:
    """The heatmap processor (training only)."""

    patch_size: int = 16  # reference: Conv2d(3 -> 256, kernel 16, stride 16)
    width: int = 256
    heads: int = 8
    mode: str = "mha"  # "mha" (reference) | "mask" (ablation: expert image = heatmap * image)


@dataclass
class ModelConfig:
    # An open_clip config name (e.g. "ViT-B-16"), one of ours in eclip/model/configs
    # (e.g. "eclip-vit-tiny"), or a path to an open_clip-format JSON file.
    arch: str = "eclip-vit-tiny"
    image_size: int = 0  # 0 = the architecture's own size
    init_weights: str = ""  # optional local .safetensors with open_clip state-dict keys
    # Pretrained start (eclip/model/hub.py): an open_clip tag for `arch` (e.g. ViT-B-16 +
    # "laion2b_s34b_b88k"), "hf-hub:ORG/NAME" (an open_clip model on the HF hub), "timm:NAME"
    # (a timm image trunk, e.g. timm:swin_tiny_patch4_window7_224.ms_in1k) or a local file
    # (.safetensors; .bin/.pt converted once). Downloaded only online; "" = random init.
    pretrained: str = ""
    # A Hugging Face text tower replacing the arch's (id like emilyalsentzer/Bio_ClinicalBERT,
    # or a local folder), through open_clip's HFTextEncoder on any image tower. "" = the arch's.
    text_model: str = ""
    text_pooler: str = "cls_last_hidden_state_pooler"  # paper: CLS token | mean_pooler | max_pooler | cls_pooler
    text_proj: str = "linear"  # paper: one bias-free linear projection | mlp
    text_context_length: int = 128  # tokens; reference config default (its README command: 256)
    lock_text: bool = False  # freeze the text tower (LiT), e.g. a pretrained MiniLM
    processor: ProcessorConfig = field(default_factory=ProcessorConfig)


@dataclass
class CurriculumConfig:
    """p(step): probability that a step adds an expert batch. Fractions of total steps."""

    enabled: bool = True  # False = ablation "no curriculum": p = constant_p throughout
    cold_end: float = 0.10  # 0-10 %: p = 0, priming
    peak_at: float = 0.40  # 10-40 %: p rises p_start -> p_peak
    decay_end: float = 0.80  # 40-80 %: p falls p_peak -> p_floor
    p_start: float = 0.05
    p_peak: float = 0.5
    p_floor: float = 0.05  # paper: 0.1
    constant_p: float = 0.5  # [choice] used when enabled = False


@dataclass
class MethodConfig:
    """The eCLIP training method. expert = False gives the plain CLIP baseline."""

    expert: bool = True
    mixup: bool = True  # False = ablation "no mixup": lam = 0, the expert image I_E is used as is
    mixup_alpha: float = 0.2  # paper: 0.3
    naive: bool = False  # ablation: lam = 0 and an expert batch on every step
    naive_priming: bool = False  # True = the reference: naive keeps priming during the cold start
    random_heatmaps: bool = False  # ablation: random smooth heatmaps instead of gaze
    priming: bool = True
    priming_weight: float = 0.3  # paper: 0.1; total = (1 - w) * clip + w * mse during cold start
    expert_batch_fraction: float = 0.5  # expert batch = B/2
    # Beyond the paper: weight of KL(gaze || the tower's patch map for the paired report) on
    # the expert batch's images (eclip/model/gaze_prior.py); 0 = off. Needs average-pooled
    # patch tokens: a ViT with pool_type "avg" or a timm CNN with timm_pool "avg" (check_tower).
    gaze_prior_weight: float = 0.0
    # Which images the prior sees: "expert" = the expert batch's (mixed) images, only on the
    # curriculum's expert steps; "all" = also every main image that has gaze, on every step
    # (a much denser signal: the curriculum keeps expert steps at 5-50 %).
    gaze_prior_on: str = "expert"
    # Beyond the paper: weight of a label-grounded local loss (eclip/model/label_local.py): each
    # finding's prompt must be found somewhere (a soft maximum over the patch grid) on the films
    # whose report names it, above every film without it. 0 = off. Same towers as the prior.
    label_local_weight: float = 0.0
    temperature_init: float = 0.07
    # What the optimiser learns: "log_scale" = log(1/T) (CLIP/open_clip; ours, the default:
    # Adam then changes T by ~T*lr per step) or "tau" = T itself (the reference; ~lr per step,
    # ~14x faster at T = 0.07). Checkpoints store log(1/T) either way.
    temperature_param: str = "log_scale"
    temperature_min: float = 0.01
    temperature_max: float = 2.0
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)


@dataclass
class DataConfig:
    root: str = ""  # dataset folder with manifest.csv
    train_split: str = "train"
    crop_scale_min: float = 0.5  # RandomResizedCrop(scale 0.5-1), same crop for the heatmap
    crop_scale_max: float = 1.0
    clahe_p: float = 0.3
    mean: float = 0.58
    std: float = 0.26
    text_field: str = "findings"  # fallback: impression
    workers: int = 0
    cache_mb: float = 1024  # decoded images/heatmaps kept in memory, per data-loader process; 0 = off
    # Share of the training split's gaze rows the expert stream may use (the gaze-fraction
    # curve): a seeded subset, nested across fractions (10 % of cases is inside 25 %). 1 = all.
    gaze_fraction: float = 1.0
    gaze_seed: int = 0  # which subset; independent of train.seed so seeds compare the same cases


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6  # reference: torch's 1e-8; 1e-6 (open_clip's) kept for bf16 runs and the shipped runs
    # Which tensors skip weight decay: "shape" (ours: ndim <= 1, i.e. every bias, norm gain and
    # the temperature) or "reference" (its name match: "bias", "LayerNorm.weight", "BatchNorm";
    # this decays open_clip/timm norm gains such as ln_1.weight, not HF BERT's LayerNorm).
    no_decay: str = "shape"
    processor_lr_mult: float = 2.0
    warmup_frac: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 200  # steps between resumable checkpoints (and one at the end)
    keep_checkpoints: int = 2
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "bf16"  # autocast dtype on CUDA: bf16 | none (CPU: see precision)
    # CPU arithmetic: auto | fp32 | bf16. auto = bf16 where the processor has bf16 units and the
    # image tower is large enough to gain (eclip.model.precision, measured there); else fp32
    precision: str = "auto"
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    # Image batches in channels-last layout: convolution towers run faster on CPU (benchmarks/
    # channels_last.py); the same results up to float summation order. Off by default.
    channels_last: bool = False
    save_dtype: str = "float16"  # dtype of the exported final model weights


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from a (partial) nested dict; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or cls.__name__!r} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[_join(where, k) for k in unknown]}; "
            f"valid keys in {where or 'the top level'}: {sorted(names)}"
        )
    kwargs = {}
    for name, value in data.items():
        typ = hints[name]
        key = _join(where, name)
        if dataclasses.is_dataclass(typ):
            kwargs[name] = from_dict(typ, value, key)
        else:
            kwargs[name] = _coerce(value, typ, key)
    return cls(**kwargs)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _coerce(value: Any, typ: type, key: str) -> Any:
    """Coerce TOML values or --set strings to the field's type."""
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {key!r}: cannot use {value!r} as {typ.__name__}") from None
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- TOML file (optional) <- ``a.b=value`` overrides, validated."""
    data: dict = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found; pass an existing TOML file to --config")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for item in overrides:
        apply_override(data, item)
    return from_dict(Config, data)


def config_from_json(data: dict) -> Config:
    """Rebuild a Config stored with a run or checkpoint (keys must still exist)."""
    return from_dict(Config, data)


def apply_override(data: dict, item: str) -> None:
    """Apply one ``a.b=value`` to a nested dict; the key must name a Config field."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=20")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    cls: type = Config
    node = data
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(
                f"--set {key}: unknown key {part!r} in {where}; valid: {sorted(hints)}"
            )
        typ = hints[part]
        last = i == len(parts) - 1
        if dataclasses.is_dataclass(typ):
            if last:
                raise ConfigError(f"--set {key}: {key!r} is a section; set one of its fields")
            node = node.setdefault(part, {})
            cls = typ
        else:
            if not last:
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])!r} is not a section")
            node[part] = _coerce(value.strip(), typ, key)


def dumps(cfg: Config) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
