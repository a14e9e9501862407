"""A tiny timm CNN image tower for tests: timm's own test_resnet at output stride 16 (a 4 x 4
feature grid at 64 px) beside the micro ViT's text tower, written as a JSON arch file."""

from __future__ import annotations

import json
from pathlib import Path

from eclip.model.factory import resolve_arch


def cnn_spec(**vision) -> dict:
    spec = resolve_arch("eclip-vit-micro")
    spec["vision_cfg"] = {"timm_model_name": "test_resnet", "timm_model_pretrained": False, "timm_pool": "avg",
                          "timm_proj": "linear", "timm_output_stride": 16, "image_size": 64, **vision}
    return spec


def cnn_arch(folder, **vision) -> str:
    path = Path(folder) / "cnn-micro.json"
    path.write_text(json.dumps(cnn_spec(**vision)))
    return str(path)
