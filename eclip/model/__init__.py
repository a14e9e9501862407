"""eCLIP models: any open_clip dual encoder + the training-only heatmap processor."""

from eclip.model.checkpoint import LoadedModel, load_model, save_model
from eclip.model.eclip import ECLIP, build_model, mix_images
from eclip.model.factory import get_tokenizer, list_archs, register_arch, resolve_arch
from eclip.model.processor import HeatmapProcessor

__all__ = ["ECLIP", "HeatmapProcessor", "LoadedModel", "build_model", "get_tokenizer",
           "list_archs", "load_model", "mix_images", "register_arch", "resolve_arch", "save_model"]
