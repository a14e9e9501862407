"""ECLIP: an open_clip dual encoder plus the training-only expert path.

At inference ``encode_image`` / ``encode_text`` are the wrapped model's own (the processor is
bypassed), so an eCLIP checkpoint drops into any CLIP code. In training, ``forward`` builds
the expert images (processor + per-batch mixup), appends the expert pairs to the InfoNCE and
adds the priming reconstruction loss during the cold start.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from eclip.config import MethodConfig, ModelConfig, from_dict
from eclip.errors import ModelError
from eclip.model.factory import create_clip, load_init_weights, load_pretrained, model_arch_cfg
from eclip.model.gaze_prior import PRIOR_ON, check_tower, encode_with_tokens, prior_loss, token_grid
from eclip.model.hub import parse_pretrained, pretrained_path
from eclip.model.label_local import LOCAL_LABELS, label_embeddings, local_scores, ranking_loss
from eclip.model.loss import ClipLoss, clamp_logit_scale, logit_scale_bounds
from eclip.model.processor import HeatmapProcessor
from eclip.model.text_features import PooledTrunkCache, frozen_trunk, hf_text_tower


TEMPERATURE_PARAMS = ("log_scale", "tau")


def mix_images(images: torch.Tensor, expert: torch.Tensor, lam: float) -> torch.Tensor:
    """I_mix = lam * I + (1 - lam) * I_E (images are mixed, not embeddings)."""
    return lam * images + (1.0 - lam) * expert


class ECLIP(nn.Module):
    def __init__(self, clip: nn.Module, processor: HeatmapProcessor, method: MethodConfig,
                 arch_cfg: dict):
        super().__init__()
        self.clip = clip
        self.processor = processor
        self.method = method
        self.arch_cfg = arch_cfg
        self.loss_fn = ClipLoss()
        size = arch_cfg["vision_cfg"]["image_size"]
        self.image_size = int(size if isinstance(size, int) else size[0])
        with torch.no_grad():
            clip.logit_scale.fill_(math.log(1.0 / method.temperature_init))
        self.register_parameter("tau", self._tau_parameter(method))
        if method.gaze_prior_on not in PRIOR_ON:
            raise ModelError(f"method.gaze_prior_on={method.gaze_prior_on!r}: use one of {list(PRIOR_ON)}")
        if method.gaze_prior_weight > 0:
            check_tower(clip.visual)
        if method.label_local_weight > 0:
            check_tower(clip.visual, "method.label_local_weight")
        # the label prompts' tokens (attach_label_prompts); not weights: never in a checkpoint
        self.register_buffer("label_tokens", None, persistent=False)
        self.register_buffer("label_groups", None, persistent=False)
        self._trunk_cache = PooledTrunkCache()

    def attach_label_prompts(self, tokens: torch.Tensor, groups: list[int]) -> None:
        """The tokenised prompts of ``label_local.prompt_groups`` (the loop has the tokenizer)."""
        device = self.clip.logit_scale.device
        self.label_tokens = tokens.to(device)
        self.label_groups = torch.as_tensor(groups, dtype=torch.long, device=device)

    def _tau_parameter(self, method: MethodConfig) -> nn.Parameter | None:
        """Under "tau" the reference's parametrisation: T itself is learnt, and the wrapped
        model's logit_scale is frozen and kept equal to log(1/T) (clamp_temperature), so
        checkpoints and exports stay plain open_clip."""
        if method.temperature_param not in TEMPERATURE_PARAMS:
            raise ModelError(f"method.temperature_param={method.temperature_param!r}: use one of "
                             f"{list(TEMPERATURE_PARAMS)}")
        if method.temperature_param == "log_scale":
            return None
        self.clip.logit_scale.requires_grad_(False)
        return nn.Parameter(torch.tensor(float(method.temperature_init)))

    # -- inference: the wrapped model, unchanged -------------------------------------------
    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.clip.encode_image(images, normalize=normalize)

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.clip.encode_text(tokens, normalize=normalize)

    def _loss_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``encode_text(tokens)`` for the losses: with a frozen HF trunk, each distinct text's
        pooled trunk output comes from ``PooledTrunkCache`` and only the projection runs."""
        text = hf_text_tower(self.clip)
        if text is None or not frozen_trunk(text):
            return self.encode_text(tokens, normalize=True)
        return self._trunk_cache.encode(text, tokens)

    def warm_text_cache(self, tokens: torch.Tensor, progress: bool = False) -> int:
        """Before training: the pooled trunk outputs of ``tokens`` (every training text) computed
        in a few large batches; 0 where the trunk is not a frozen HF one (nothing is cached)."""
        text = hf_text_tower(self.clip)
        if text is None or not frozen_trunk(text):
            return 0
        return self._trunk_cache.warm(text, tokens, progress=progress)

    @property
    def temperature(self) -> float:
        if self.tau is not None:
            return float(self.tau.detach())
        return float(1.0 / self.clip.logit_scale.detach().exp())

    def logit_scale(self) -> torch.Tensor:
        m = self.method
        if self.tau is not None:
            return 1.0 / self.tau.clamp(m.temperature_min, m.temperature_max)
        lo, hi = logit_scale_bounds(m.temperature_min, m.temperature_max)
        return self.clip.logit_scale.clamp(lo, hi).exp()

    def clamp_temperature(self) -> None:
        """After each optimiser step: T back into [min, max]; under "tau" also copy log(1/T)
        into the wrapped model's logit_scale, which is what checkpoints store."""
        m = self.method
        if self.tau is None:
            clamp_logit_scale(self.clip.logit_scale, m.temperature_min, m.temperature_max)
            return
        with torch.no_grad():
            self.tau.clamp_(m.temperature_min, m.temperature_max)
            self.clip.logit_scale.copy_(-torch.log(self.tau))

    def sync_temperature(self) -> None:
        """After loading weights: under "tau", T from the stored log(1/T)."""
        if self.tau is not None:
            with torch.no_grad():
                self.tau.copy_(torch.exp(-self.clip.logit_scale))

    # -- training ------------------------------------------------------------------------
    def _encode_images(self, images: torch.Tensor, with_tokens: bool):
        """(normalised image embeddings, projected patch tokens or None)."""
        if not with_tokens:
            return self.encode_image(images, normalize=True), None
        pooled, patch = encode_with_tokens(self.clip.visual, images)
        return F.normalize(pooled, dim=-1), patch

    def _prior_heatmaps(self, n_main: int, heatmaps, expert_heatmaps) -> torch.Tensor | None:
        """The gaze the prior compares with, row-aligned with the rows it covers, or None."""
        m = self.method
        if m.gaze_prior_weight <= 0:
            return None
        if m.gaze_prior_on == "all" and heatmaps is not None:
            return heatmaps if expert_heatmaps is None else torch.cat([heatmaps, expert_heatmaps.to(heatmaps.dtype)])
        return expert_heatmaps

    def _local_loss(self, patch: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_tokens is None:
            raise ModelError("method.label_local_weight > 0 but no label prompts were attached "
                             "(ECLIP.attach_label_prompts)")
        prompts = self._loss_text(self.label_tokens)
        label_text = label_embeddings(prompts, self.label_groups, len(LOCAL_LABELS))
        return ranking_loss(local_scores(patch, label_text, self.logit_scale()), labels)

    def expert_images(self, images: torch.Tensor, heatmaps: torch.Tensor, lam: float) -> torch.Tensor:
        return mix_images(images, self.processor(images, heatmaps), lam)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor,
                expert_images: torch.Tensor | None = None,
                expert_heatmaps: torch.Tensor | None = None,
                expert_tokens: torch.Tensor | None = None,
                lam: float = 1.0, prime: bool = False,
                heatmaps: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, channels_last: bool = False) -> dict[str, torch.Tensor]:
        """One training step's losses: {'loss', 'clip', 'mse', 'prior', 'local'} (parts
        unweighted and detached; 0 when off). ``heatmaps``
        (the main images' gaze, zeros where none) feed the gaze prior under gaze_prior_on="all";
        ``labels`` ([B, K] 1 / 0 / NaN, label_local.label_targets) the label-grounded local loss.
        ``channels_last`` (train.channels_last): the image tower reads its input in that layout,
        faster for convolutions on CPU; the weights keep theirs."""
        n_main = images.shape[0]
        if expert_images is not None:
            mixed = self.expert_images(expert_images, expert_heatmaps, lam)
            images = torch.cat([images, mixed.to(images.dtype)])
            tokens = torch.cat([tokens, expert_tokens])
        if channels_last:  # after the cat: it returns contiguous unless all its inputs are not
            images = images.contiguous(memory_format=torch.channels_last)
        # One encoder call for main + expert pairs: every cross pair becomes a negative.
        gaze = self._prior_heatmaps(n_main, heatmaps, expert_heatmaps)
        local = labels is not None and self.method.label_local_weight > 0
        img, patch = self._encode_images(images, with_tokens=gaze is not None or local)
        txt = self._loss_text(tokens)
        clip_loss = self.loss_fn(img, txt, self.logit_scale())
        zero = torch.zeros((), device=clip_loss.device)
        loss, mse, kl, rank = clip_loss, zero, zero, zero
        if gaze is not None:  # each gazed row's own patch evidence for its report vs its gaze
            rows = slice(patch.shape[0] - gaze.shape[0], None)  # all rows, or the expert rows only
            kl = prior_loss(patch[rows], txt[rows], gaze, token_grid(self.clip.visual), self.logit_scale())
            loss = loss + self.method.gaze_prior_weight * kl
        if local:  # main rows only: an expert row's label is its report's, its image a blend
            rank = self._local_loss(patch[:n_main], labels)
            loss = loss + self.method.label_local_weight * rank
        if prime:
            main = images[:n_main]
            ones = torch.ones_like(main[:, :1])
            mse = F.mse_loss(self.processor(main, ones).float(), main.float())
            w = self.method.priming_weight
            loss = (1.0 - w) * clip_loss + w * mse
        return {"loss": loss, "clip": clip_loss.detach(), "mse": mse.detach(),
                "prior": kl.detach(), "local": rank.detach()}


def build_model(model_cfg: ModelConfig | dict | None = None,
                method_cfg: MethodConfig | dict | None = None,
                arch_cfg: dict | None = None, pretrained_text: bool = True) -> ECLIP:
    """ECLIP from random init, ``model_cfg.pretrained`` and/or ``model_cfg.init_weights``;
    ``arch_cfg`` skips the lookup.
    A local Hugging Face text tower starts from its shipped weights unless pretrained_text
    is False (load_model passes False: the checkpoint holds them)."""
    if model_cfg is None:
        model_cfg = ModelConfig()
    elif isinstance(model_cfg, dict):
        model_cfg = from_dict(ModelConfig, model_cfg, "model")
    if method_cfg is None:
        method_cfg = MethodConfig()
    elif isinstance(method_cfg, dict):
        method_cfg = from_dict(MethodConfig, method_cfg, "method")
    arch_cfg = arch_cfg or model_arch_cfg(model_cfg)  # a missing hub text model fails here, fast
    if model_cfg.pretrained:  # resolve (cache / download / fast error) before building anything
        pretrained_path(parse_pretrained(model_cfg.pretrained, model_cfg.arch))
    clip = create_clip(arch_cfg, pretrained_text=pretrained_text)
    load_pretrained(clip, model_cfg.pretrained, model_cfg.arch, image_only=bool(model_cfg.text_model))
    if model_cfg.init_weights:
        load_init_weights(clip, model_cfg.init_weights)
    if model_cfg.lock_text:  # LiT-style: keep a pretrained text tower frozen
        clip.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    p = model_cfg.processor
    processor = HeatmapProcessor(p.patch_size, p.width, p.heads, p.mode)
    return ECLIP(clip, processor, method_cfg, arch_cfg)


def describe(model: ECLIP) -> dict:
    """Parameter counts, for logs and cards."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"params_visual": count(model.clip.visual), "params_total": count(model.clip),
            "params_processor": count(model.processor), "method": asdict(model.method)}
