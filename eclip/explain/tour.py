"""The presenter's tour, chosen by measurement and written as a whole file:

    python -m eclip.explain.tour --checkpoint checkpoints/demo-eclip \\
        --compare checkpoints/demo-clip --data data/demo --out app/assets/tour.toml

Five roles over the ``split`` (default test), each a case picked by one number:

* ``gaze``: a case with gaze and a finding where the model's Grad-CAM agrees with the gaze
  most beyond the compare model's (largest CC difference, model - compare; without a compare
  model, the model's highest CC);
* ``normal``: the "No Finding" film with gaze the model calls normal most surely;
* ``device``: the "Support Devices" film with gaze the model finds its device in most surely;
* ``localise``: a finding with a ground-truth mask where the model's map of the finding's
  prompt peaks inside the mask (a pointing-game hit), the hit nearest the median share of the
  map's weight inside the mask: a typical hit, not the best;
* ``miss``: the positive finding the model scores lowest (zero-shot probability of its pair).

A pick is an extreme, so every stop carries the same number over the split beside the case's:
``chosen`` says how the case was picked, ``typical`` what the split looks like (mean CC of both
models over the same cases; the share of normal / device films called so; the pointing game of
both models beside a centre-only map; how many positive findings score below their finding's
validate base rate, or below 0.5 for uncalibrated probabilities). The titles
and talking points are templates filled with these numbers, so a re-chosen tour claims no more
than its numbers. A role whose pool is empty (no device film with gaze, no finding masks) is
left out, and the command says so. A case already on the tour is not picked twice.

``--out`` writes the whole tour file (header comment included; app/assets/tour.toml is this
command's output); without it the file goes to stdout. ``--gaze-seeds results/gaze-seeds.json``
adds the seeds experiment's answer to "does gaze help?" (eclip.evaluate.gaze_effect) to the gaze
stop, so the room hears what the training seeds say beside the one case.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.cli import run_command
from eclip.data.gaze.heatmaps import load_heatmap
from eclip.data.images import load_working
from eclip.data.labeller import DOUBT_NEGATION, POST_NEGATION, PRE_NEGATION
from eclip.data.manifest import LABELS, read_manifest
from eclip.data.reports import normalized_report
from eclip.errors import EvaluationError
from eclip.evaluate.gaze_effect import difference, load_effect
from eclip.evaluate.saliency import agreement_metrics
from eclip.index.store import IndexMissing, StaleIndex, load_index
from eclip.index.zero_shot_calibration import ZeroShotCalibration
from eclip.model import load_model
from eclip.model.card import GazeEffect
from eclip.model.checkpoint import LoadedModel, checkpoint_name
from eclip.model.encode import encode_pixels
from eclip.report.context import calibration_of, zero_shot_evidence

from .agreement import case_report
from .localisation import (REPORT_ROW, abnormal_rows, case_targets, cluster_bootstrap, label_prompts, localisation,
                           summarise)
from .maps import attribution_map

ROLES = ("gaze", "normal", "device", "localise", "miss")
METHOD = "gradcam"  # the presenter's maps
_NEGATION = re.compile("|".join((PRE_NEGATION, POST_NEGATION, DOUBT_NEGATION)))
CALLED = 0.5  # a zero-shot probability at or above this "calls" the finding


class EmptyPool(EvaluationError):
    """A role the data cannot fill: the tour goes without it."""


@dataclass(frozen=True)
class Pick:
    role: str
    case: str
    prompt: str
    title: str
    point: str  # the talking point, filled in from the numbers
    chosen: str  # how the case was picked
    typical: str  # the same number over the split, beside the case's
    why: str  # the numbers in full, for the file's comment
    outline: str = ""  # a finding whose ground-truth mask the presenter outlines


@dataclass(frozen=True)
class Tour:
    picks: list[Pick]
    left_out: dict[str, str] = field(default_factory=dict)  # role -> why its pool is empty
    split: str = "test"
    data: str = ""
    models: tuple[tuple[str, str], ...] = ()  # (name, weights sha256) of the model, then the compare model


@dataclass(frozen=True)
class Names:
    model: str
    compare: str | None


def default_prompt(row) -> str:
    """The first positive finding (not "No Finding") in the words the localisation table and
    the Model vs gaze page use (the prompt pairs' first positive prompt), else the report's
    first sentence that says what is there (not "No pneumothorax.": a map of a negation shows
    where the model finds pneumothorax), else the "No Finding" prompt: the prompt the Model vs
    gaze page opens a case with."""
    labels = [c for c in LABELS if c != "No Finding" and c in row.index and _positive(row[c])]
    if labels:
        return label_prompts().get(labels[0], f"{labels[0]}.")
    for sentence in case_report(row).split("."):
        if (sentence := sentence.strip()) and not _NEGATION.search(sentence.lower()):
            return f"{sentence}."
    return label_prompts().get("No Finding", "")


def _positive(value) -> bool:
    try:
        return float(value) == 1.0
    except (TypeError, ValueError):
        return False


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _all(n: int, noun: str) -> str:
    return f"the 1 {noun}" if n == 1 else f"all {n} {noun}s"


def probabilities(lm: LoadedModel, root: Path, rows: pd.DataFrame,
                  calibration: ZeroShotCalibration | None = None) -> tuple[list, np.ndarray]:
    """(the binary set's findings, [N, L] their zero-shot probabilities for ``rows``): the
    numbers the app's draft, presenter and case report show (eclip.report's
    sigmoid(scale * (s_pos - s_neg)) at the model's learned temperature, through the
    validate-split calibration kept with the index when there is one)."""
    per_row = [zero_shot_evidence(lm, encode_pixels(lm, load_working(root / p)), calibration=calibration)
               for p in rows["image_path"]]
    findings = sorted(per_row[0], key=lambda z: z.name)
    probs = [[{z.name: z.probability for z in zs}[f.name] for f in findings] for zs in per_row]
    return findings, np.asarray(probs, dtype=float)


def kept_calibration(lm: LoadedModel, root: Path, manifest: pd.DataFrame) -> ZeroShotCalibration | None:
    """The validate-split calibration the app shows beside the tour (kept with the model's
    index over this dataset), so a talking point's P is the P on the same screen; None (raw
    probabilities) when no index is built."""
    try:
        index = load_index(lm.path, root)
    except (IndexMissing, StaleIndex):
        return None
    return calibration_of(lm, index, manifest)


def gaze_cc(lm: LoadedModel, root: Path, rows: pd.DataFrame, method: str = METHOD) -> np.ndarray:
    """[N] Pearson CC of each row's map (its default prompt) with its gaze heatmap."""
    out = []
    for _, row in rows.iterrows():
        pixels = load_working(root / row["image_path"])
        sal = attribution_map(lm, pixels, default_prompt(row), method, image_id=f"{root}:{row['id']}")
        out.append(agreement_metrics(sal, load_heatmap(root / row["gaze_path"]))["cc"])
    return np.asarray(out, dtype=float)


def _has_finding(row) -> bool:
    return any(_positive(row[c]) for c in LABELS if c != "No Finding" and c in row.index)


def _has_gaze(rows: pd.DataFrame) -> np.ndarray:
    gaze = rows["gaze_path"].fillna("").astype(str) if "gaze_path" in rows else pd.Series("", index=rows.index)
    return ((gaze.str.len() > 0) & (gaze != "nan")).to_numpy()


def _labelled(rows: pd.DataFrame, name: str) -> np.ndarray:
    return (rows[name].astype(float).to_numpy() == 1.0) if name in rows else np.zeros(len(rows), bool)


def _prob_of(labels: list, probs: np.ndarray, name: str) -> np.ndarray:
    j = next(i for i, lab in enumerate(labels) if lab.name == name)
    return probs[:, j]


def _clusters(rows: pd.DataFrame) -> np.ndarray:
    return np.asarray([normalized_report(str(r["findings"]), str(r["impression"])) for _, r in rows.iterrows()])


def _ahead(ci: dict) -> int | None:
    """Which side a paired difference (first - second, 95 % interval over report clusters)
    puts ahead: 1 the first, -1 the second, 0 neither, None too few clusters to say."""
    if ci["clusters"] < 2:
        return None
    return 1 if ci["ci_low"] > 0 else -1 if ci["ci_high"] < 0 else 0


_GAP = {1: "{0} is ahead on average", -1: "{1} is ahead on average", 0: "there is no clear difference",
        None: "too few cases to tell the two apart"}
_BEYOND_CENTRE = {1: "{0} does better than the middle alone", -1: "the middle alone does better",
                  0: "{0} is not clearly better than the middle alone",
                  None: "too few findings to tell them apart"}


def _first_free(order, ids, taken: set) -> int | None:
    return next((int(i) for i in order if ids[int(i)] not in taken), None)


def _not_first(skipped: bool) -> str:
    return " not already on the tour" if skipped else ""


# --------------------------------------------------------------------------- the roles
def gaze_pick(lm: LoadedModel, other, root: Path, rows: pd.DataFrame, names: Names, split: str, taken: set) -> Pick:
    """The case of the largest CC difference (model - compare) among ``rows`` with gaze and a
    finding; without a compare model, the model's highest CC."""
    pool = rows[_has_gaze(rows)]
    pool = pool[[_has_finding(r) for _, r in pool.iterrows()]]
    if pool.empty:
        raise EmptyPool(f"no {split} case with gaze has a positive finding")
    n, m = len(pool), names.model
    cc = gaze_cc(lm, root, pool)
    cc_other = gaze_cc(other, root, pool) if other is not None else None
    score = cc - cc_other if cc_other is not None else cc
    ids = pool["id"].to_numpy()
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    i = _first_free(order, ids, taken)
    if i is None:
        raise EmptyPool("every case with gaze and a finding is already on the tour")
    skipped = i != int(order[0])
    where = f"among {_count(n, f'{split} case')} with gaze and a finding"
    if cc_other is None:
        chosen = f"Chosen as {m}'s highest Grad-CAM vs gaze CC{_not_first(skipped)} {where}."
        typical = f"CC with the gaze, this case: {cc[i]:.2f} · mean over the {n}: {np.nanmean(cc):.2f}."
        point = (f"Same film, map and gaze side by side: this is the {split} case where {m}'s Grad-CAM "
                 f"follows the radiologist's gaze most (CC {cc[i]:.2f}). The best case, not a typical "
                 f"one: over the {_count(n, 'case')} with gaze and a finding its mean CC is {np.nanmean(cc):.2f}.")
        why = f"Grad-CAM CC with the gaze {cc[i]:.3f}, mean {np.nanmean(cc):.3f} over the {n}"
        return Pick("gaze", ids[i], default_prompt(pool.iloc[i]), "The map and the radiologist's gaze",
                    point, chosen, typical, why)
    c = names.compare
    diff = cluster_bootstrap(cc - cc_other, _clusters(pool))
    ma, mb = np.nanmean(cc), np.nanmean(cc_other)
    chosen = f"Chosen as the largest {m} − {c} gap in Grad-CAM vs gaze CC{_not_first(skipped)} {where}."
    typical = (f"CC with the gaze, this case: {m} {cc[i]:.2f}, {c} {cc_other[i]:.2f} · "
               f"mean over the {n}: {m} {ma:.2f}, {c} {mb:.2f}.")
    point = (f"Same film, same prompt: this is the {split} case where {m}'s Grad-CAM follows the "
             f"radiologist's gaze most beyond {c}'s (CC {cc[i]:.2f} against {cc_other[i]:.2f}). The best "
             f"case, not a typical one: over {_all(n, 'case')} with gaze and a finding, "
             f"{_GAP[_ahead(diff)].format(m, c)} (mean CC {ma:.2f} against {mb:.2f}).")
    why = (f"Grad-CAM CC with the gaze {cc[i]:.3f} under {m}, {cc_other[i]:.3f} under {c} "
           f"({score[i]:+.3f}); over the {n}: {ma:.3f} against {mb:.3f}, difference {diff['value']:+.3f} "
           f"[{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] (95 %, {diff['clusters']} report clusters)")
    return Pick("gaze", ids[i], default_prompt(pool.iloc[i]), "The map and the radiologist's gaze",
                point, chosen, typical, why)


# role -> (label, what the films are called, title, the talking point's opening, what a call
# is, its closing)
SUREST = {
    "normal": ("No Finding", "normal", "A normal film", "No finding.", "calls {} of {} normal", ""),
    "device": ("Support Devices", "device", "A support device", "Support devices.", "finds the device in {} of {}",
               " Where does each map put the device, and where did the reader look?"),
}


def surest_pick(role: str, rows: pd.DataFrame, labels: list, probs: np.ndarray, names: Names,
                split: str, taken: set) -> Pick:
    """The film labelled with the role's label, with gaze, that the model gives the highest
    probability of it; beside it, that probability over every film of ``rows`` so labelled."""
    name, kind, title, opening, calls, closing = SUREST[role]
    labelled = _labelled(rows, name)
    pool = labelled & _has_gaze(rows)
    if not pool.any():
        raise EmptyPool(f"no {split} film labelled {name} has gaze")
    if not any(lab.name == name for lab in labels):
        raise EmptyPool(f"the binary prompt set has no {name} pair")
    p = _prob_of(labels, probs, name)
    ids = rows["id"].to_numpy()
    order = np.argsort(np.where(pool, -p, np.inf), kind="stable")[: int(pool.sum())]
    i = _first_free(order, ids, taken)
    if i is None:
        raise EmptyPool(f"every {kind} film with gaze is already on the tour")
    k, n = int(pool.sum()), int(labelled.sum())
    called, mean = int((p[labelled] >= CALLED).sum()), float(p[labelled].mean())
    m, skipped = names.model, _not_first(i != int(order[0]))
    chosen = f"Chosen as {m}'s highest P({name}){skipped} among the {_count(k, f'{kind} {split} film')} with gaze."
    typical = (f"P({name}), this film: {p[i]:.2f} · over {_all(n, f'{kind} {split} film')}: "
               f"mean {mean:.2f}, {called} of {n} at {CALLED} or more.")
    point = (f"{opening} Of the {_count(k, f'{kind} film')} with gaze{skipped}, this is the one {m} is "
             f"surest of (P = {p[i]:.2f}). Over {_all(n, f'{kind} {split} film')} it {calls.format(called, n)} "
             f"(P {CALLED} or more; mean {mean:.2f}).{closing}")
    why = f"zero-shot P({name}) {p[i]:.3f}; over the {n} {kind} films: mean {mean:.3f}, {called} at >= {CALLED}"
    prompt = label_prompts().get(name, "") if role != "normal" else default_prompt(rows.iloc[i])
    return Pick(role, ids[i], prompt, title, point, chosen, typical, why)


def localise_pick(lm: LoadedModel, other, root: Path, names: Names, split: str, taken: set) -> Pick:
    """A pointing-game hit of the model's map (finding prompts, ground-truth masks), the one
    nearest the median share of the map's weight inside the mask among the hits."""
    try:
        per = localisation(lm, root, split, METHOD)
    except EvaluationError as exc:
        raise EmptyPool(str(exc)) from exc
    per = per[per["finding"] != REPORT_ROW]
    if per.empty:
        raise EmptyPool(f"no {split} finding mask has any pixel")
    key = ["case_id", "finding"]
    model = per[per["who"] == "model"].reset_index(drop=True)
    centre = model[key].merge(per[per["who"] == "centre"], on=key, how="left")
    hits = model[model["pointing"] == 1.0]
    m, n = names.model, len(model)
    if hits.empty:
        raise EmptyPool(f"{m}'s map peaks inside none of the {n} finding masks")
    _, masked = abnormal_rows(root, split)
    by_id = {str(r["id"]): r for _, r in masked.iterrows()}
    inside = np.asarray([_mass_inside(lm, root, by_id[r.case_id], r.finding) for r in hits.itertuples()])
    median = float(np.median(inside))
    order = np.lexsort((hits["finding"].to_numpy(), hits["case_id"].to_numpy(), np.abs(inside - median)))
    j = _first_free(order, hits["case_id"].to_numpy(), taken)
    if j is None:
        raise EmptyPool("every hit is already on the tour")
    hit, share = hits.iloc[j], float(inside[j])
    pm, pc = float(model["pointing"].mean()), float(centre["pointing"].mean())
    vs_centre = cluster_bootstrap(model["pointing"].to_numpy() - centre["pointing"].to_numpy(),
                                  model["cluster"].to_numpy())
    if other is not None:
        rows_o = localisation(other, root, split, METHOD)
        po = float(rows_o[(rows_o["finding"] != REPORT_ROW) & (rows_o["who"] == "model")]["pointing"].mean())
        others, in_words = f", {names.compare} {po:.2f}", f", {names.compare}'s {po:.0%}"
    else:
        others = in_words = ""
    verdict = _BEYOND_CENTRE[_ahead(vs_centre)].format(m)
    where = f"{_count(n, f'{split} finding')} with an outline"
    chosen = (f"Chosen as a typical hit{_not_first(j != int(order[0]))}: of the {len(hits)} of {where} "
              f"where {m}'s map peaks inside the outline, the one nearest the median share of the "
              f"map inside it ({share:.0%}; median {median:.0%}).")
    typical = f"Pointing game over the {where}: {m} {pm:.2f}{others}, a centre-only map {pc:.2f}."
    point = (f"Does {m}'s map find the {hit.finding}? Here its peak falls inside the outline, with "
             f"{share:.0%} of the map's weight inside: an ordinary hit, not the best. Over the "
             f"{where} its peak lands inside {pm:.0%} of the time{in_words}; a map of the film's middle "
             f"alone, {pc:.0%}: {verdict}.")
    summary = {(r["finding"], r["who"]): r["pointing"] for r in summarise(per, n_boot=200)}
    ci = summary.get(("all findings", "model"), {"ci_low": np.nan, "ci_high": np.nan})
    why = (f"pointing-game hit, {share:.3f} of the map inside the {hit.finding} mask (median of the "
           f"{len(hits)} hits {median:.3f}); pointing game over the {n}: {pm:.3f} [{ci['ci_low']:.3f}, "
           f"{ci['ci_high']:.3f}]{others}, centre {pc:.3f}, {m} - centre {vs_centre['value']:+.3f} "
           f"[{vs_centre['ci_low']:+.3f}, {vs_centre['ci_high']:+.3f}]")
    return Pick("localise", str(hit.case_id), label_prompts().get(hit.finding, f"{hit.finding}."),
                "Does the map find the finding?", point, chosen, typical, why, outline=str(hit.finding))


def _mass_inside(lm: LoadedModel, root: Path, row, finding: str) -> float:
    """The share of the model's map (the finding's prompt) inside the finding's mask (the map
    is the one ``localisation`` scored: same prompt and image id, from the map cache)."""
    case_id = str(row["id"])
    pixels = load_working(root / row["image_path"])
    target = next(t for t in case_targets(root, row, pixels.shape, label_prompts()) if t.finding == finding)
    sal = np.asarray(attribution_map(lm, pixels, target.prompt, METHOD, image_id=case_id), np.float64)
    total = sal.sum()
    return float(sal[target.truth].sum() / total) if total > 0 else 0.0


def miss_pick(rows: pd.DataFrame, labels: list, probs: np.ndarray, names: Names, split: str,
              taken: set, base_rates: dict[str, float] | None = None) -> Pick:
    """The (case, finding) among the positive findings of ``rows`` the model scores lowest;
    beside it, how many positive findings score below their bar: the finding's validate base
    rate when ``base_rates`` (of calibrated probabilities) has every finding, else CALLED.
    Calibrated probabilities sit near the base rate, so 0.5 would call a 9 % finding's good
    score a miss."""
    scored = []  # (probability, row, pair, the label the row carries)
    for j, lab in enumerate(labels):
        if lab.name == "No Finding":
            continue
        cols = [c for c in lab.labels if c in rows]
        for i in np.flatnonzero(rows[cols].astype(float).eq(1.0).any(axis=1).to_numpy()) if cols else []:
            carried = next(c for c in cols if _positive(rows[c].iloc[i]))
            scored.append((float(probs[i, j]), int(i), lab, carried))
    if not scored:
        raise EmptyPool(f"no {split} case has a positive finding")
    rates = base_rates or {}
    by_rate = all(s[2].name in rates for s in scored)

    def bar(lab) -> float:
        return rates[lab.name] if by_rate else CALLED

    ids = rows["id"].to_numpy()
    ranked = sorted(scored, key=lambda s: (s[0], str(ids[s[1]])))
    pick = next((s for s in ranked if ids[s[1]] not in taken), None)
    if pick is None:
        raise EmptyPool("every case with a positive finding is already on the tour")
    p, i, lab, finding = pick
    n, below = len(scored), sum(s[0] < bar(s[2]) for s in scored)
    under = "their finding's base rate" if by_rate else str(CALLED)
    m, skipped = names.model, _not_first(pick is not ranked[0])
    chosen = (f"Chosen as the lowest-scored{skipped} of the {n} positive findings in the "
              f"{_count(len(rows), f'{split} case')}.")
    rate = f" (base rate {rates[lab.name]:.0%})" if by_rate else ""
    typical = (f"P({lab.name}), this film: {p:.2f}{rate} · over the {split} split: {below} of {n} positive "
               f"findings below {under}.")
    lowest = f"the lowest score of any positive finding{skipped} in the {split} split"
    if p >= bar(lab):  # the weakest call is no miss: say so
        title = "The weakest call"
        point = (f"Labelled {finding}; {m} gives it P = {p:.2f}, {lowest}, and still at or above "
                 f"{'its base rate' if by_rate else CALLED}: none of the {n} positive findings scores "
                 f"below {under}.")
    else:
        title = "A miss"
        rest = (f"It is the only positive finding below {under}." if below == 1 else
                f"It is the extreme, not the only one: {below} of {n} positive findings score below {under}.")
        point = (f"Labelled {finding}, yet {m} gives it P = {p:.2f}{rate}: {lowest}. {rest} A demonstration "
                 "model misses things: it drafts, it does not diagnose.")
    why = (f"labelled {finding}, zero-shot P({lab.name}) {p:.3f}; {below} of the {n} positive findings "
           f"of the {len(rows)} {split} cases score below {under}")
    return Pick("miss", ids[i], label_prompts().get(finding, f"{finding}."), title, point, chosen,
                typical, why)


def base_rates_of(calibration: ZeroShotCalibration | None) -> dict[str, float]:
    """Finding -> validate base rate, for the findings whose probability is calibrated or pooled
    (empty without a calibration: the raw probabilities have no base-rate scale)."""
    if calibration is None:
        return {}
    return {f.name: f.base_rate for f in calibration.findings
            if f.fitted and f.base_rate is not None}


def pick_tour(lm: LoadedModel, other, data: str | Path, split: str = "test", roles=ROLES) -> Tour:
    """The picks (see the module doc), in ROLES order; a role whose pool is empty is left out
    (``Tour.left_out`` says why). ``other`` is the compare model, or None."""
    root = Path(data)
    df = read_manifest(root)
    rows = df[df["split"].astype(str) == split].reset_index(drop=True)
    if rows.empty:
        raise EvaluationError(f"{root}: no '{split}' rows; pick another split.")
    names = Names(checkpoint_name(lm.path), checkpoint_name(other.path) if other is not None else None)
    calibration = kept_calibration(lm, root, df)
    labels, probs = probabilities(lm, root, rows, calibration)
    rates = base_rates_of(calibration)
    make = {
        "gaze": lambda taken: gaze_pick(lm, other, root, rows, names, split, taken),
        "normal": lambda taken: surest_pick("normal", rows, labels, probs, names, split, taken),
        "device": lambda taken: surest_pick("device", rows, labels, probs, names, split, taken),
        "localise": lambda taken: localise_pick(lm, other, root, names, split, taken),
        "miss": lambda taken: miss_pick(rows, labels, probs, names, split, taken, rates),
    }
    picks, left_out = [], {}
    for role in roles:
        try:
            picks.append(make[role]({p.case for p in picks}))
        except EmptyPool as exc:
            left_out[role] = str(exc)
    if not picks:
        raise EvaluationError(f"{root}: no role of the tour can be filled from the '{split}' split "
                              f"({'; '.join(f'{r}: {w}' for r, w in left_out.items())}).")
    models = tuple((checkpoint_name(x.path), x.weights_sha256) for x in (lm, other) if x is not None)
    return Tour(picks, left_out, split, str(data), models)


def with_gaze_effect(tour: Tour, effect: GazeEffect) -> Tour:
    """The tour with the seeds experiment's answer on its gaze stop: the verdict closes the
    talking point and the primary measures' differences join ``typical`` (one case is an
    extreme; the seeds say what the training does on average). A tour without a gaze stop is
    returned as it is."""
    return replace(tour, picks=[_with_seeds(p, effect) if p.role == "gaze" else p for p in tour.picks])


def _with_seeds(pick: Pick, effect: GazeEffect) -> Pick:
    """The verdict is spoken (the point: one sentence a room can take in at 1280 x 720); its
    numbers stand in ``typical``'s caption; the whole sentence is on the model card."""
    seeds = f"{effect.n_seeds} paired training seeds" + (
        f" (provisional: {effect.n_seeds} of the {effect.planned_seeds} planned)" if effect.provisional else "")
    point = (f"{pick.point} Does gaze help? Across {seeds}, eCLIP against CLIP and against random "
             f"heatmaps: {effect.answer}.")
    numbers = _primary_differences(effect)
    typical = pick.typical.removesuffix(".") + (
        f" · eCLIP minus CLIP / minus random heatmaps over the seeds (95 % t-interval): {numbers}." if numbers else "")
    return replace(pick, point=point, typical=typical,
                   why=f"{pick.why}; seeds experiment ({effect.source or 'report'}): {effect.answer}")


def _primary_differences(effect: GazeEffect) -> str:
    """"pointing game +0.238 [+0.210, +0.266] / +0.208 [...]; ..." for the primary measures
    (a card from before the measures were kept: "")."""
    def diff(c) -> str:  # a card keeps [mean, low, high], None for a non-finite value
        return difference(*(float("nan") if x is None else x for x in c))

    try:
        return "; ".join(f"{m['name']} {diff(m['vs_clip'])} / {diff(m['vs_random'])}"
                         for m in effect.metrics.values() if m.get("primary"))
    except (KeyError, TypeError, ValueError):
        return ""


# --------------------------------------------------------------------------- the file
def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width - 2, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False) or ["#"]


def render(tour: Tour, command: str) -> str:
    """The whole tour file: a header (what it is, the command that wrote it), then one
    [[stop]] per pick with the numbers that chose it in a comment above it."""
    models = " against ".join(f"{name} (weights {sha[:12]})" for name, sha in tour.models)
    lines = [
        "# The Presenter page's tour (app/views/presenter.py; format in app/core/tour.py), written by",
        f"#   {command}",
        "# Rerun that command after a new model pair or dataset instead of editing this file: it",
        "# chooses the stops, fills in the talking points from the numbers and writes it all.",
        *_comment(f"Cases of {tour.data}, {tour.split} split, chosen by measurement with {models}. "
                  "Each stop's `chosen` says how it was picked and `typical` gives the same number "
                  "over the split; maps are Grad-CAM, probabilities the zero-shot scores the app's "
                  "draft, presenter and case report show (binary prompt set)."),
    ]
    lines += [line for role, reason in tour.left_out.items()
              for line in _comment(f"No {role} stop: {reason}.")]
    lines.append("# Point $ECLIP_TOUR at another file for your own dataset.")
    # the models the talking points name: the Presenter says so when it shows others
    lines.append(f"models = [{', '.join(_toml(name) for name, _ in tour.models)}]")
    for pick in tour.picks:
        lines += ["", *_comment(f"{pick.role}: {pick.why}."), "[[stop]]"]
        for key in ("case", "title", "point", "chosen", "typical", "prompt", "outline"):
            if getattr(pick, key):
                lines.append(f"{key} = {_toml(getattr(pick, key))}")
    return "\n".join(lines) + "\n"


def command_line(args: argparse.Namespace) -> str:
    parts = ["python -m eclip.explain.tour", "--checkpoint", args.checkpoint]
    parts += ["--compare", args.compare] if args.compare else []
    parts += ["--data", args.data] + (["--split", args.split] if args.split != "test" else [])
    parts += ["--gaze-seeds", args.gaze_seeds] if args.gaze_seeds else []
    parts += ["--out", args.out] if args.out else []
    return " ".join(p if p.startswith("python -m") else shlex.quote(p) for p in parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eclip.explain.tour", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--compare", default=None, help="the model to compare with (the gaze stop's other map)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", default=None, help="write the tour file here (app/assets/tour.toml "
                    "for the shipped tour); default: print it")
    ap.add_argument("--gaze-seeds", metavar="JSON", default=None,
                    help="the seeds experiment's report (results/gaze-seeds.json): its answer to "
                         "'does gaze help?' joins the gaze stop")
    args = ap.parse_args(argv)
    return run_command(lambda: _write_tour(args))


def _write_tour(args: argparse.Namespace) -> int:
    effect = load_effect(args.gaze_seeds) if args.gaze_seeds else None  # a bad file fails before the picking
    other = load_model(args.compare) if args.compare else None
    tour = pick_tour(load_model(args.checkpoint), other, args.data, args.split)
    if effect is not None:
        tour = with_gaze_effect(tour, effect)
        if not any(p.role == "gaze" for p in tour.picks):
            print("--gaze-seeds: no gaze stop to carry the seeds' answer", file=sys.stderr)
    for role, reason in tour.left_out.items():
        print(f"left out {role}: {reason}", file=sys.stderr)
    text = render(tour, command_line(args))
    if not args.out:
        sys.stdout.write(text)
        return 0
    Path(args.out).write_text(text, encoding="utf-8")
    for pick in tour.picks:
        print(f"{pick.role:8s} {pick.case}  {pick.chosen}\n         {pick.typical}")
    print(f"wrote {args.out} ({len(tour.picks)} stops)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
