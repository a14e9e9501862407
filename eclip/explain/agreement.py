"""Agreement of attribution maps with radiologist gaze over a split's gaze subset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eclip.data.demo_info import outdated_demo
from eclip.data.gaze import load_heatmap
from eclip.data.gaze.regions import lungs_path
from eclip.data.images import load_working
from eclip.data.manifest import read_manifest
from eclip.errors import EvaluationError
from eclip.evaluate.metrics import bootstrap_ci
from eclip.evaluate.saliency import (AGREEMENT_METRICS, FixationPool, agreement_metrics, border_band, is_flat,
                                     mass_fraction, pointing_game, shuffled_auc, threshold_iou)

from .floors import READINGS, ceiling_pairs, floor_maps, missing_readings, train_centre_bias
from .maps import attribution_map, resolve_prompt
from .regions import GET_LUNGS, LUNGS, lung_region, placement, truth_region

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

PLACEMENT_COLUMNS = ("border_mass", "outside_lungs")
# CC, NSS, KL, AUC-Judd, then shuffled AUC and the localisation pair (CheXlocalize style)
SCORE_COLUMNS = (*AGREEMENT_METRICS, "sauc", "pointing", "miou")


def gaze_rows(data: str | Path, split: str = "test", limit: int | None = None):
    """(dataset root, manifest rows of ``split`` that carry a gaze heatmap)."""
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


def gaze_agreement(lm: LoadedModel, data: str | Path, split: str = "test", method: str = "gradcam",
                   limit: int | None = None, progress: bool = False, precision: str | None = None):
    """Per-image agreement of ``method`` maps with gaze over ``split`` rows that have gaze.
    The prompt is each image's own report. Returns (means dict, per-image DataFrame); the
    means include where the maps' mass sits (``where_mass_sits``)."""
    import pandas as pd
    from tqdm import tqdm

    root, rows = gaze_rows(data, split, limit)
    split_gaze = SplitGaze(root, rows)
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"{method} vs gaze", disable=not progress):
        pixels = load_working(root / row["image_path"])
        prompt, _ = resolve_prompt(case_report(row))
        sal = attribution_map(lm, pixels, prompt, method, image_id=str(row["id"]), precision=precision)
        records.append({"id": row["id"], **split_gaze.scores(sal, row), "flat": is_flat(sal),
                        **where_mass_sits(sal, root, row)})
    per_image = pd.DataFrame(records)
    means = {k: _mean_defined(per_image[k].tolist()) for k in (*SCORE_COLUMNS, *PLACEMENT_COLUMNS)}
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


class SplitGaze:
    """The gaze maps of a split's gaze rows (and their fixated pixels, the shuffled AUC's
    negatives) and each case's ground-truth region: everything a map is scored against."""

    def __init__(self, root: Path, rows):
        self.root = Path(root)
        self.gaze = {str(r["id"]): load_heatmap(self.root / r["gaze_path"]) for _, r in rows.iterrows()}
        self.pool = FixationPool(self.gaze)
        self._truth: dict = {}

    def truth(self, row) -> np.ndarray | None:
        key = str(row["id"])
        if key not in self._truth:
            self._truth[key] = truth_region(self.root, row, self.gaze[key].shape)
        return self._truth[key]

    def scores(self, saliency: np.ndarray, row, reference: np.ndarray | None = None) -> dict[str, float]:
        """Every score of ``saliency`` for the case: against its gaze map (or ``reference``,
        another reading), its ground-truth region and the other images' fixations."""
        key = str(row["id"])
        gaze = self.gaze[key] if reference is None else reference
        truth = self.truth(row)
        return {**agreement_metrics(saliency, gaze), "sauc": shuffled_auc(saliency, gaze, self.pool.others(key)),
                "pointing": pointing_game(saliency, truth) if truth is not None else float("nan"),
                "miou": threshold_iou(saliency, truth) if truth is not None else float("nan")}


# --------------------------------------------------------------------------- floors and ceiling
METRIC_LABELS = {"cc": "CC", "nss": "NSS", "kl": "KL", "auc_judd": "AUC-Judd", "sauc": "sAUC",
                 "pointing": "pointing game", "miou": "mIoU"}
REFERENCE_NAMES = {"uniform": "floor: uniform map", "centre": "floor: centre bias",
                   "readers": "ceiling: another reader"}
# Why a score is n/a (defined on no image), said wherever it is printed.
UNDEFINED = {
    "cc": "every map or gaze map is flat", "nss": "every map is flat",
    "kl": "undefined on every image", "auc_judd": "no gaze map has a fixated pixel",
    "sauc": "needs other images' fixations: only one image has gaze",
    "pointing": "no case has a finding mask (mask_path)", "miou": "no case has a finding mask (mask_path)",
}
NO_CEILING = "only one reading per image"  # no case has a second reading to score against


def reference_agreement(data: str | Path, split: str = "test", limit: int | None = None,
                        progress: bool = False):
    """Per-image scores of the floors (uniform, centre bias fitted on the train split's gaze)
    and of the ceiling (another reading of the same image, where the case has one), scored
    exactly like a model's map. Returns (DataFrame with a ``reference`` column, centre bias)."""
    import pandas as pd
    from tqdm import tqdm

    root, rows = gaze_rows(data, split, limit)
    split_gaze = SplitGaze(root, rows)
    bias = train_centre_bias(root, read_manifest(root))
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc="floors and ceiling", disable=not progress):
        gaze = split_gaze.gaze[str(row["id"])]
        for name, floor in floor_maps(bias, gaze.shape).items():
            records.append({"reference": name, "id": row["id"], **split_gaze.scores(floor, row)})
        pairs = ceiling_pairs(root, row, gaze)
        if pairs:
            scored = [split_gaze.scores(m, row, reference=ref) for m, ref in pairs]
            records.append({"reference": "readers", "id": row["id"],
                            **{k: _mean_defined([s[k] for s in scored]) for k in SCORE_COLUMNS}})
    return pd.DataFrame(records), bias


def require_current_demo(data: str | Path) -> None:
    """Refuse a demo corpus built before build-demo stored the lung fields and second readers
    these scores read (its numbers would silently fall back to a heuristic and lose the
    ceiling); the error names the command that rebuilds it. Any other folder passes."""
    stale = outdated_demo(data, f"{LUNGS} and {READINGS}")
    if stale:
        raise EvaluationError(stale)


def dataset_notes(root: str | Path, rows, references=None) -> list[str]:
    """What the split's folder lacks for these scores and what to do: lung fields
    (``outside_lungs`` then uses the central-region heuristic), and, when ``references`` were
    scored, second readings (no ceiling)."""
    ids = [str(i) for i in rows["id"]]
    with_lungs = sum(lungs_path(root, i).is_file() for i in ids)
    notes = []
    if with_lungs == 0:
        notes.append(f"no {LUNGS} in {root}: 'mass outside lungs' is measured against a central-region "
                     f"heuristic, not real lung fields; {GET_LUNGS}.")
    elif with_lungs < len(ids):
        notes.append(f"{LUNGS} for {with_lungs} of {len(ids)} images; the others are measured against "
                     "a central-region heuristic.")
    if references is not None and not (references["reference"] == "readers").any():
        notes.append(f"no ceiling: {missing_readings(root)}.")
    return notes


def _mean_defined(values: list[float]) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def with_intervals(per_image, columns=SCORE_COLUMNS, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of each column over images with a 95 % percentile bootstrap interval (images
    resampled; NaNs, e.g. a case without ground-truth region, left out of each mean)."""
    out = {}
    for col in columns:
        values = per_image[col].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size == 0:
            out[col] = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
            continue
        out[col] = bootstrap_ci(lambda idx, v=values: float(v[idx].mean()), values.size, n_boot, seed)
    return out


SEPARATOR = " · "


def headline(name: str, summaries: dict[str, dict], metric: str = "cc") -> str:
    """One line a reader can weigh: the model's mean ``metric`` with its interval, beside the
    stronger floor (centre bias) and the ceiling (another reader), e.g.
    "eCLIP CC 0.11 [0.08, 0.14] · floor 0.42 [...] · ceiling 0.55 [...]" (a middle dot, never a
    hyphen: "CC -0.09 - floor 0.53" read as minus signs). ``summaries`` maps "model", "centre"
    and "readers" to ``with_intervals`` results; a missing one is left out."""
    label = METRIC_LABELS.get(metric, metric)
    parts = [f"{name} {label} {ci_text(summaries['model'][metric], why=UNDEFINED.get(metric, ''))}"]
    for key, word in (("centre", "floor (centre bias)"), ("readers", "ceiling (another reader)")):
        if key in summaries and summaries[key][metric]["n"]:
            parts.append(f"{word} {ci_text(summaries[key][metric])}")
    return SEPARATOR.join(parts)


def ci_text(ci: dict, digits: int = 2, why: str = "") -> str:
    """'0.11 [0.08, 0.14]'; a value alone without an interval; '0.15 (one image: no interval)'
    for a mean over one image (its bootstrap interval would be [0.15, 0.15]); 'n/a: <why>'
    when the score is defined on no image."""
    if not ci.get("n") or np.isnan(ci["value"]):
        return f"n/a: {why}" if why else "n/a"
    if np.isnan(ci.get("ci_low", float("nan"))):
        return f"{ci['value']:.{digits}f}"
    if ci["n"] == 1:
        return f"{ci['value']:.{digits}f} (one image: no interval)"
    return f"{ci['value']:.{digits}f} [{ci['ci_low']:.{digits}f}, {ci['ci_high']:.{digits}f}]"


def case_references(root: str | Path, row, gaze: np.ndarray, bias) -> dict[str, dict[str, float]]:
    """CC / NSS / KL / AUC-Judd of this case's centre-bias floor and, where the case has
    another reading, of the ceiling (the Model vs gaze page's per-case line)."""
    refs = {"centre": agreement_metrics(bias.map(gaze.shape), gaze)}
    pairs = ceiling_pairs(root, row, gaze)
    if pairs:
        scored = [agreement_metrics(m, ref) for m, ref in pairs]
        refs["readers"] = {k: _mean_defined([s[k] for s in scored]) for k in AGREEMENT_METRICS}
    return refs


def split_summary(lm: LoadedModel, data: str | Path, split: str = "test", method: str = "gradcam",
                  limit: int | None = None, n_boot: int = 1000) -> dict[str, dict]:
    """``with_intervals`` of the model's maps ("model") and of each floor and the ceiling
    that the split has ("uniform", "centre", "readers") over ``split``'s gaze subset."""
    _, per_image = gaze_agreement(lm, data, split, method, limit)
    references, _ = reference_agreement(data, split, limit)
    return {"model": with_intervals(per_image, n_boot=n_boot), **reference_summaries(references, n_boot)}


def reference_summaries(references, n_boot: int = 1000) -> dict[str, dict]:
    """``with_intervals`` of each floor and of the ceiling present in ``reference_agreement``'s table."""
    chosen = {name: references[references["reference"] == name] for name in REFERENCE_NAMES}
    return {name: with_intervals(rows, n_boot=n_boot) for name, rows in chosen.items() if len(rows)}


def case_line(name: str, model: dict[str, float], refs: dict[str, dict[str, float]], metric: str = "cc") -> str:
    """"demo-eclip CC 0.07 · floor (centre bias) 0.42 · ceiling (another reader) 0.55" for one case."""
    point = {key: {metric: {"value": scores[metric], "n": 1}} for key, scores in {"model": model, **refs}.items()}
    return headline(name, point, metric)
