"""Agreement of attribution maps with radiologist gaze over a split's gaze subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eclip.errors import EvaluationError
from eclip.evaluate.saliency import AGREEMENT_METRICS, agreement_metrics, border_band, is_flat, mass_fraction

from .maps import attribution_map, resolve_prompt
from .regions import lung_region, placement

PLACEMENT_COLUMNS = ("border_mass", "outside_lungs")


def gaze_rows(data: str | Path, split: str = "test", limit: int | None = None):
    """(dataset root, manifest rows of ``split`` that carry a gaze heatmap)."""
    from eclip.data.manifest import read_manifest

    root = Path(data)
    df = read_manifest(root)
    rows = df[(df["split"].astype(str) == split) & (df["gaze_path"].astype(str).str.len() > 0)]
    if limit:
        rows = rows.iloc[:limit]
    if rows.empty:
        raise EvaluationError(f"{root}: no '{split}' rows with gaze (gaze_path); pick another split "
                              "or a dataset with gaze heatmaps.")
    return root, rows


def case_report(row) -> str:
    """The case's own report text: findings, else impression."""
    return str(row["findings"]).strip() or str(row["impression"]).strip()


def gaze_agreement(lm, data: str | Path, split: str = "test", method: str = "gradcam",
                   limit: int | None = None, progress: bool = False):
    """Per-image agreement of ``method`` maps with gaze over ``split`` rows that have gaze.
    The prompt is each image's own report. Returns (means dict, per-image DataFrame); the
    means include where the maps' mass sits (``where_mass_sits``)."""
    import pandas as pd
    from tqdm import tqdm

    from eclip.data.images import load_working

    root, rows = gaze_rows(data, split, limit)
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"{method} vs gaze", disable=not progress):
        pixels = load_working(root / row["image_path"])
        with np.load(root / row["gaze_path"]) as z:
            gaze = z["heatmap"].astype(np.float32)
        prompt, _ = resolve_prompt(case_report(row))
        sal = attribution_map(lm, pixels, prompt, method, image_id=str(row["id"]))
        records.append({"id": row["id"], **agreement_metrics(sal, gaze), "flat": is_flat(sal),
                        **where_mass_sits(sal, root, row)})
    per_image = pd.DataFrame(records)
    means = {k: float(np.nanmean(per_image[k])) for k in (*AGREEMENT_METRICS, *PLACEMENT_COLUMNS)}
    means["n"] = len(per_image)
    means["n_flat"] = int(per_image["flat"].sum())
    means["n_outside"] = int(per_image["flagged_outside"].sum())
    return means, per_image


def where_mass_sits(saliency: np.ndarray, root: Path, row) -> dict:
    """Share of the map's mass in the outer border band (one ViT patch wide at 8 x 8) and
    outside the case's lung fields, and whether the map earns the "outside" flag."""
    place = placement(saliency, lung_region(root, row, saliency.shape))
    return {"border_mass": mass_fraction(saliency, border_band(saliency.shape)),
            "outside_lungs": place.outside, "flagged_outside": place.flagged}
