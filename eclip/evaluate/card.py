"""Write evaluation results into a checkpoint's card.json (weights untouched)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from eclip.io import write_json
from eclip.errors import EvaluationError

HEADLINE = (
    "zs/chexpert5/balanced_accuracy",
    "zs/chexpert5/macro_f1",
    "zs/chexpert5/accuracy",
    "zs/findings/balanced_accuracy",
    "zs/findings/macro_f1",
    "zs/findings/accuracy",
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
    from eclip.evaluate.suite import baseline_values

    metrics = result["subsets"]["all"]["metrics"]
    picked = {}
    for k in HEADLINE:
        m = metrics.get(k)
        if m and all(math.isfinite(m[f]) for f in ("value", "ci_low", "ci_high")):
            picked[k] = [round(m["value"], 4), round(m["ci_low"], 4), round(m["ci_high"], 4)]
    base = baseline_values(result["subsets"]["all"].get("zero_shot", {}))
    baselines = {k: [round(base[k]["majority"], 4), round(base[k]["prior"], 4)] for k in picked if k in base}
    return {
        "data": _shown_path(result["data"].get("path", "")),
        "data_fingerprint": result["data"]["fingerprint"],
        "split": result["split"],
        "n_images": result["subsets"]["all"]["n_images"],
        "created_at": result["created_at"],
        "format": "metric: [value, ci95_low, ci95_high]",
        "values": picked,
        **({"baselines": baselines, "baselines_format": "metric: [majority class, train label prior]"}
           if baselines else {}),
    }


def _shown_path(path: str) -> str:
    """Relative to the working directory when inside it: a shipped card names data/demo, not
    the absolute path of the machine that evaluated it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def update_card(checkpoint: str | Path, result: dict, *, fresh: bool = False,
                selected_on: str = "") -> Path:
    """Numbers under ``metrics["eval/<split>"]``, or ``"eval/fresh-<split>"`` for a corpus no
    choice saw, which then becomes the card's ``headline``; ``selected_on`` records what the
    model was chosen on (a model picked by its test score has an optimistic test number)."""
    path = Path(checkpoint) / "card.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot update {path}: {exc}") from exc
    key = f"eval/{'fresh-' if fresh else ''}{result['split']}"
    card.setdefault("metrics", {})[key] = headline_metrics(result)
    if fresh:
        card["headline"] = {"metrics": key, "why": "scored on a freshly built corpus that no choice "
                            "(model, budget, prompt set) was made on"}
    if selected_on:
        card["selected_on"] = selected_on
    write_json(path, card)
    return path
