"""Write evaluation results into a checkpoint's card.json (weights untouched)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from eclip.io import write_json
from eclip.errors import EvaluationError

HEADLINE = (
    "zs/chexpert5/accuracy",
    "zs/chexpert5/macro_f1",
    "zs/findings/accuracy",
    "zs/findings/macro_f1",
    "zs/binary/macro_auroc",
    "retrieval/i2t/R@1",
    "retrieval/i2t/R@5",
    "retrieval/i2t/R@10",
    "retrieval/t2i/R@1",
    "retrieval/t2i/R@5",
    "retrieval/t2i/R@10",
    "geometry/alignment",
    "geometry/uniformity_image",
    "geometry/modality_gap",
    "probe/1%/macro_auroc",
    "probe/10%/macro_auroc",
    "probe/100%/macro_auroc",
)


def headline_metrics(result: dict) -> dict:
    """The card-sized summary of one checkpoint's result (``evaluate()`` output)."""
    metrics = result["subsets"]["all"]["metrics"]
    picked = {}
    for k in HEADLINE:
        m = metrics.get(k)
        if m and all(math.isfinite(m[f]) for f in ("value", "ci_low", "ci_high")):
            picked[k] = [round(m["value"], 4), round(m["ci_low"], 4), round(m["ci_high"], 4)]
    return {
        "data_fingerprint": result["data"]["fingerprint"],
        "split": result["split"],
        "n_images": result["subsets"]["all"]["n_images"],
        "created_at": result["created_at"],
        "format": "metric: [value, ci95_low, ci95_high]",
        "values": picked,
    }


def update_card(checkpoint: str | Path, result: dict) -> Path:
    path = Path(checkpoint) / "card.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot update {path}: {exc}") from exc
    card.setdefault("metrics", {})
    card["metrics"][f"eval/{result['split']}"] = headline_metrics(result)
    write_json(path, card)
    return path
