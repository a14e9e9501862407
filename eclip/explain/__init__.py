"""Why the model looks where it looks: attribution maps and their agreement with gaze.

Maps explain the cosine similarity between one image and one text prompt (methods.py:
Grad-CAM, attention rollout, gradient-weighted rollout, integrated gradients). Every map is
float32, >= 0, max 1, and aligned with the *stored* image (same HxW): the model's resize +
centre crop is undone, and the cropped-off margins get 0 (geometry.py).

The app shares one model between sessions, so an attribution leaves it untouched: input
gradients come from ``torch.autograd.grad`` (no parameter ``.grad`` is ever written), the
train/eval mode is never changed, and the forward hooks we need are removed on exit and
act only for the thread that registered them (towers.py).

Also here: where a map's mass sits (regions.py: border band, lung fields), the sanity
checks of Adebayo et al. 2018 (sanity.py), gaze agreement over a split (agreement.py) and
the command line ``python -m eclip.explain`` (cli.py).
"""

from . import regions, sanity
from .agreement import case_report, gaze_agreement, gaze_rows
from .cli import main
from .geometry import crop_geometry, to_image_grid
from .maps import (DEFAULT_PROMPT, MAP_CACHE, attribution_map, clear_cache, image_key, raw_map,
                   resolve_prompt, text_embedding)
from .methods import FAST_METHODS, METHODS, PROMPT_FREE, TITLES, supported_methods, uses_prompt
from .overlay import overlay_rgb
from .towers import tower_kind

__all__ = ["DEFAULT_PROMPT", "FAST_METHODS", "MAP_CACHE", "METHODS", "PROMPT_FREE", "TITLES",
           "attribution_map", "case_report", "clear_cache", "crop_geometry", "gaze_agreement",
           "gaze_rows", "image_key", "main", "overlay_rgb", "raw_map", "regions", "resolve_prompt",
           "sanity", "supported_methods", "text_embedding", "to_image_grid", "tower_kind", "uses_prompt"]
