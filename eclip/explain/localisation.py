"""Does a model's map find the finding? The pointing game and mIoU against the ground-truth
finding masks on *every* abnormal case of a split, per finding, beside two references scored
the same way:

* ``centre``: the centre-bias map fitted on the train split's gaze (``floors.train_centre_bias``):
  a map that knows only "the middle of the film". A model must beat it to claim it localises.
* ``grid ceiling``: the finding's own mask averaged onto the model's token grid (8 x 8 for a
  ViT with 16 px patches at 128 px) and brought back to the image the way the app brings every
  map back (``resize_heatmap``): the best any map at that resolution can do.
* ``gaze at grid``: where the case has gaze, the reader's heatmap averaged onto the same grid:
  what a map that copied the gaze would score, so the most a gaze prior alone could teach
  (the gaze of a case is one map for all its findings; it is n/a on cases without gaze).

Two prompts are scored: ``finding`` (each drawn label's mask against the map of that label's
first positive prompt in the shipped binary prompt set) and ``report`` (the union of the case's
masks against the map of its own report, the Model vs gaze page's default map).

Intervals resample *report clusters* (cases sharing the same normalised report text), since a
corpus renders the same report several times and those cases are not independent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.data.gaze import load_heatmap, resize_heatmap
from eclip.data.images import load_working
from eclip.data.manifest import read_manifest
from eclip.data.reports import normalized_report
from eclip.errors import EvaluationError
from eclip.evaluate.saliency import pointing_game, threshold_iou
from eclip.model.checkpoint import LoadedModel
from eclip.model.gaze_prior import token_grid
from eclip.model.prompts import load_prompt_set

from .agreement import case_report
from .floors import train_centre_bias
from .maps import attribution_map, resolve_prompt
from .towers import tower_kind

SCORES = ("pointing", "miou")
WHO = ("model", "centre", "grid ceiling", "gaze at grid")


@dataclass(frozen=True)
class Target:
    """One scored (case, finding): the prompt whose map is scored and the truth it must hit."""
    case_id: str
    finding: str  # a CheXpert label, or "any finding (report prompt)"
    prompt: str
    truth: np.ndarray  # bool HxW on the stored image's grid
    cluster: str  # the normalised report text: cases rendered from one report share it


REPORT_ROW = "any finding (report prompt)"


@functools.lru_cache(maxsize=1)
def label_prompts() -> dict[str, str]:
    """CheXpert label -> the first positive prompt of the shipped binary prompt set (also the
    Model vs gaze page's default prompt for a case with that finding)."""
    out: dict[str, str] = {}
    for pair in load_prompt_set("binary").binary:
        for label in pair.labels:
            out.setdefault(label, pair.positive[0])
    return out


def abnormal_rows(data: str | Path, split: str = "test", limit: int | None = None):
    """(root, manifest rows of ``split`` that carry ground-truth finding masks)."""
    import pandas as pd

    root = Path(data)
    df = read_manifest(root)
    masks = df.get("mask_path", pd.Series("", index=df.index)).fillna("").astype(str)
    rows = df[(df["split"].astype(str) == split) & (masks.str.len() > 0) & (masks != "nan")]
    if limit:
        rows = rows.iloc[:limit]
    if rows.empty:
        raise EvaluationError(f"no '{split}' rows with finding masks (mask_path) in this dataset; "
                              "localisation needs ground-truth masks (a demo corpus, or an import "
                              "with bounding boxes / ellipses).")
    return root, rows


def case_targets(root: Path, row, shape: tuple[int, int], prompts: dict[str, str]) -> list[Target]:
    """The case's per-finding targets, then its report target (the union of its masks)."""
    cluster = normalized_report(str(row["findings"]), str(row["impression"]))
    targets = []
    with np.load(root / str(row["mask_path"])) as z:
        masks = {k: z[k].astype(bool) for k in z.files}
    for label, mask in sorted(masks.items()):
        if mask.shape != shape:
            mask = resize_heatmap(mask.astype(np.float32), shape) >= 0.5
        if mask.any():
            prompt = prompts.get(label, f"{label}.")
            targets.append(Target(str(row["id"]), label, prompt, mask, cluster))
    if targets:
        union = np.any([t.truth for t in targets], axis=0)
        prompt, _ = resolve_prompt(case_report(row))
        targets.append(Target(str(row["id"]), REPORT_ROW, prompt, union, cluster))
    return targets


def grid_limited(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The mask area-averaged onto ``grid`` and brought back the way every map is: the best
    any map at that resolution can do."""
    return resize_heatmap(resize_heatmap(mask.astype(np.float32), grid), mask.shape)


def model_grid(lm: LoadedModel) -> tuple[int, int]:
    """The resolution of the model's own maps: its token grid (ViT) or last feature map."""
    visual = lm.model.clip.visual
    if tower_kind(lm) in ("vit", "cnn"):
        return token_grid(visual)
    size = visual.image_size if isinstance(visual.image_size, (tuple, list)) else (visual.image_size,) * 2
    return size[0] // 32, size[1] // 32


def scores(saliency: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"pointing": pointing_game(saliency, truth), "miou": threshold_iou(saliency, truth)}


def localisation(lm: LoadedModel, data: str | Path, split: str = "test", method: str = "gradcam",
                 limit: int | None = None, progress: bool = False, precision: str | None = None):
    """Per-target scores of the model's maps and of both references (a long DataFrame with
    columns case_id, finding, cluster, who, pointing, miou)."""
    import pandas as pd
    from tqdm import tqdm

    root, rows = abnormal_rows(data, split, limit)
    bias = train_centre_bias(root, read_manifest(root))
    prompts, grid = label_prompts(), model_grid(lm)
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"{method} localisation", disable=not progress):
        pixels = load_working(root / row["image_path"])
        centre = bias.map(pixels.shape)
        gaze = case_gaze(root, row, pixels.shape, grid)
        for t in case_targets(root, row, pixels.shape, prompts):
            sal = attribution_map(lm, pixels, t.prompt, method, image_id=t.case_id, precision=precision)
            base = {"case_id": t.case_id, "finding": t.finding, "cluster": t.cluster}
            records.append({**base, "who": "model", **scores(sal, t.truth)})
            records.append({**base, "who": "centre", **scores(centre, t.truth)})
            records.append({**base, "who": "grid ceiling", **scores(grid_limited(t.truth, grid), t.truth)})
            if gaze is not None:
                records.append({**base, "who": "gaze at grid", **scores(gaze, t.truth)})
    return pd.DataFrame(records)


def case_gaze(root: Path, row, shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray | None:
    """The case's gaze heatmap at the model's grid, back on the image grid; None without gaze."""
    path = str(row.get("gaze_path", "") or "")
    if not path or path == "nan":
        return None
    heat = load_heatmap(root / path)
    if heat.shape != shape:
        heat = resize_heatmap(heat, shape)
    return grid_limited(heat, grid)


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of ``values`` with a 95 % percentile interval from resampling clusters."""
    values = np.asarray(values, np.float64)
    keep = ~np.isnan(values)
    values, clusters = values[keep], np.asarray(clusters)[keep]
    if values.size == 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0, "clusters": 0}
    _, ids = np.unique(clusters, return_inverse=True)
    k = ids.max() + 1
    sums, counts = np.bincount(ids, values, k), np.bincount(ids, minlength=k).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    boot = sums[draws].sum(1) / counts[draws].sum(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"value": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "n": int(values.size), "clusters": int(k)}


def summarise(per_target, n_boot: int = 1000) -> list[dict]:
    """One row per (finding, who) plus an ``all findings`` row per who (the finding prompts'
    targets pooled; the report-prompt row stays its own)."""
    rows = []
    findings = sorted(f for f in per_target["finding"].unique() if f != REPORT_ROW)
    pooled = per_target[per_target["finding"] != REPORT_ROW]
    groups = [("all findings", pooled), (REPORT_ROW, per_target[per_target["finding"] == REPORT_ROW])]
    groups += [(f, per_target[per_target["finding"] == f]) for f in findings]
    for name, frame in groups:
        for who in WHO:
            part = frame[frame["who"] == who]
            if part.empty:
                continue
            rows.append({"finding": name, "who": who,
                         **{s: cluster_bootstrap(part[s].to_numpy(), part["cluster"].to_numpy(), n_boot)
                            for s in SCORES}})
    return rows


def markdown_table(summary: list[dict], model_name: str) -> str:
    """Finding x (model, centre, ceiling) pointing game and mIoU, with intervals and counts."""
    by = {(r["finding"], r["who"]): r for r in summary}
    findings = list(dict.fromkeys(r["finding"] for r in summary))
    who = [w for w in WHO if w != "gaze at grid"]
    head = (f"| finding | n (reports) | {model_name} pointing | centre pointing | grid ceiling pointing "
            f"| {model_name} mIoU | centre mIoU | grid ceiling mIoU | gaze at grid pointing (n) |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for f in findings:
        m, g = by.get((f, "model")), by.get((f, "gaze at grid"))
        cells = [_cell(by.get((f, w), {}).get(s)) for s in SCORES for w in who]
        cells.append(f"{_cell(g['pointing'])} ({g['pointing']['n']})" if g else "n/a (no gaze)")
        count = f"{m['pointing']['n']} ({m['pointing']['clusters']})" if m else "0"
        lines.append(f"| {f} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(ci: dict | None) -> str:
    if not ci or np.isnan(ci["value"]):
        return "n/a"
    return f"{ci['value']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"
