"""The seeds experiment's answer to "does gaze help?" in words a clinician can read, for the
model cards and the Presenter tour.

``benchmarks/gaze_seeds.py report`` writes ``results/gaze-seeds.json`` (the plan:
results/gaze-seeds-plan.md): per metric, eCLIP minus CLIP and eCLIP minus the same training with
random heatmaps, paired by training seed, each with a t-interval over seeds and a two-level
bootstrap interval. This module reads that file, checks it, and says what it found by the
plan's claim rule:

* *better* on a metric only when ``gaze_helps`` says so (eCLIP above both controls, every
  interval above 0);
* *worse* only when both contrasts say worse;
* anything else: no detectable difference at this number of seeds.

    effect = load_effect("results/gaze-seeds.json")   # an eclip.model.card.GazeEffect
    effect.sentence  # "Across 6 paired training seeds on the simulated corpus, ..."
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from eclip.errors import EvaluationError
from eclip.model.card import GazeEffect

PLANNED_SEEDS = 6  # results/gaze-seeds-plan.md: seeds 0-5
CONTRASTS = {"eclip - clip": "CLIP", "eclip - random": "random heatmaps"}
NAMES = {  # metric -> how a clinician reads it
    "probe_auroc": "linear-probe AUROC at 10 % labels",
    "pointing": "pointing game",
    "zeroshot_auroc": "zero-shot prompt-pair AUROC",
    "pointing_report": "pointing game of the report-prompt map",
    "miou": "mIoU at half the map's peak",
}
BETTER, WORSE, NULL = "better", "worse", "no detectable difference"
RUN = ("run `python benchmarks/gaze_seeds.py report` once the seeds experiment's runs are trained "
       "and scored (`train`, then `evaluate`)")


# --------------------------------------------------------------------------- reading the report
def read_report(path: str | Path) -> dict:
    """The report JSON, checked; EvaluationError naming what is wrong and what to run."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file; {RUN}") from None
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path} is not a readable JSON file ({exc}); {RUN}") from exc
    problem = _problem(report)
    if problem:
        raise EvaluationError(f"{path} is not a seeds-experiment report: {problem}; {RUN}")
    return report


def _problem(report) -> str:
    """What is wrong with a report, or "" when nothing is."""
    if not isinstance(report, dict):
        return "it holds no JSON object"
    missing = [k for k in ("seeds", "contrasts", "gaze_helps", "primary") if k not in report]
    if missing:
        return f"no {', '.join(missing)}"
    seeds, primary = report["seeds"], report["primary"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        return "'seeds' is not a list of seed numbers"
    if not isinstance(primary, list) or not primary or any(m not in NAMES for m in primary):
        return f"'primary' is not a list of known metrics ({', '.join(NAMES)})"
    if not isinstance(report["contrasts"], dict) or not isinstance(report["gaze_helps"], dict):
        return "'contrasts' and 'gaze_helps' must be objects"
    for m in metrics_of(report):
        problem = _metric_problem(report, m)
        if problem:
            return problem
    return ""


def _metric_problem(report: dict, m: str) -> str:
    if not isinstance(report["gaze_helps"].get(m), bool):
        return f"'gaze_helps' has no true/false for {m}"
    for name in CONTRASTS:
        c = (report["contrasts"].get(name) or {}).get(m)
        if not isinstance(c, dict):
            return f"no {name!r} contrast for {m}"
        if not _numbers(c.get("per_seed"), len(report["seeds"])):
            return f"{name!r} {m}: 'per_seed' needs one difference per seed ({len(report['seeds'])})"
        if not _numbers([c.get("mean")], 1) or not _numbers(c.get("t_ci"), 2):
            return f"{name!r} {m}: 'mean' and 't_ci' [low, high] must be numbers"
        if c.get("verdict") not in (BETTER, WORSE, NULL):
            return f"{name!r} {m}: 'verdict' must be one of {BETTER!r}, {WORSE!r}, {NULL!r}"
    if report["gaze_helps"][m] != all(report["contrasts"][n][m]["verdict"] == BETTER for n in CONTRASTS):
        return f"'gaze_helps' for {m} disagrees with the two contrasts' verdicts"
    return ""


def _numbers(values, n: int) -> bool:
    """``values`` is a list of ``n`` numbers (a 2-seed t-interval may be NaN: not finite is fine)."""
    return (isinstance(values, list) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))


def metrics_of(report: dict) -> list[str]:
    """The primary metrics, then the secondary ones the report names."""
    secondary = report.get("secondary") if isinstance(report.get("secondary"), list) else []
    return list(report["primary"]) + [m for m in secondary if m in NAMES and m not in report["primary"]]


# --------------------------------------------------------------------------- the answer
def verdict(report: dict, m: str) -> str:
    """The plan's claim rule for one metric."""
    if report["gaze_helps"][m]:
        return BETTER
    if all(report["contrasts"][name][m]["verdict"] == WORSE for name in CONTRASTS):
        return WORSE
    return NULL


def signed(x: float) -> str:
    """+0.004, −0.010; a number that rounds to zero reads +0.000 (never −0.000)."""
    if not math.isfinite(x):
        return "n/a"
    return f"{round(x, 3) + 0.0:+.3f}".replace("-", "−")


def _difference(c: dict) -> str:
    lo, hi = c["t_ci"]
    return f"{signed(c['mean'])} [{signed(lo)}, {signed(hi)}]"


def _numbers_of(report: dict, m: str) -> str:
    """"pointing game: +0.010 [−0.020, +0.040] vs CLIP, −0.005 [...] vs random heatmaps"."""
    parts = [f"{_difference(report['contrasts'][name][m])} vs {who}" for name, who in CONTRASTS.items()]
    return f"{NAMES[m]}: {', '.join(parts)}"


def _which(group: list[str], primary: list[str], kind: str) -> str:
    """The measures a clause is about: "either primary measure", "both primary measures", or
    their names."""
    if len(group) == len(primary) > 1:
        n = len(primary)
        if kind == NULL:
            return "either primary measure" if n == 2 else f"any of the {n} primary measures"
        return "both primary measures" if n == 2 else f"all {n} primary measures"
    names = [("the " if m.startswith("pointing") else "") + NAMES[m] for m in group]
    return " or ".join(names) if kind == NULL else " and ".join(names)


_CLAUSE = {BETTER: "better than both on {}", WORSE: "worse than both on {}",
           NULL: "no detectable difference at this number of seeds on {}"}


def _groups(report: dict) -> list[tuple[str, list[str]]]:
    primary = list(report["primary"])
    by = {kind: [m for m in primary if verdict(report, m) == kind] for kind in (BETTER, WORSE, NULL)}
    return [(kind, group) for kind, group in by.items() if group]


def answer(report: dict) -> str:
    """The verdict on the primary measures in a phrase, without numbers."""
    primary = list(report["primary"])
    return "; ".join(_CLAUSE[kind].format(_which(group, primary, kind)) for kind, group in _groups(report))


def sentence(report: dict, corpus: str = "the simulated corpus", planned: int = PLANNED_SEEDS) -> str:
    """One sentence with the numbers, and one saying what the numbers are."""
    n, primary = len(report["seeds"]), list(report["primary"])
    provisional = f" (provisional: {n} of the {planned} planned seeds)" if n < planned else ""
    clauses = [f"{_CLAUSE[kind].format(_which(group, primary, kind))} "
               f"({'; '.join(_numbers_of(report, m) for m in group)})" for kind, group in _groups(report)]
    return (f"Across {n} paired training seeds{provisional} on {corpus}, eCLIP (trained with the "
            "radiologist's gaze) was compared with CLIP and with the same training on random heatmaps: "
            f"{'; '.join(clauses)}. Each difference is eCLIP minus the other model, with its 95 % "
            "t-interval over seeds.")


def _compact(report: dict, m: str) -> dict:
    out = {"name": NAMES[m], "primary": m in report["primary"], "verdict": verdict(report, m)}
    for name, who in CONTRASTS.items():
        c = report["contrasts"][name][m]
        key = "vs_clip" if who == "CLIP" else "vs_random"
        out[key] = [_rounded(c["mean"]), *map(_rounded, c["t_ci"])]
    return out


def _rounded(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def effect(report: dict, source: str = "", corpus: str = "the simulated corpus",
           planned: int = PLANNED_SEEDS) -> GazeEffect:
    """A checked report as the card's ``gaze_effect`` (``source``: the report's file name)."""
    return GazeEffect(
        sentence=sentence(report, corpus, planned), answer=answer(report), n_seeds=len(report["seeds"]),
        planned_seeds=planned, source=Path(source).name if source else "",
        metrics={m: _compact(report, m) for m in metrics_of(report)})


def load_effect(path: str | Path, corpus: str = "the simulated corpus") -> GazeEffect:
    """Read, check and phrase a seeds-experiment report (``--gaze-seeds JSON``)."""
    return effect(read_report(path), source=Path(path).name, corpus=corpus)
