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

A report with the plan's fourth arm (Addendum 2: gaze only as a prior on where the model looks,
no expert images) has a ``prior`` section of the same shape. ``PRIOR`` phrases its answer by the
same rule (the prior-only model against CLIP and against random heatmaps), with what the expert
images add beyond the prior (``eclip - prior``) described, never claimed. A gaze-prior model's
card carries that answer, every other card the eCLIP one (``ECLIP``; ``section_for``), which
then also describes what the expert images add beyond the prior (same seeds only).

    effect = load_effect("results/gaze-seeds.json")   # an eclip.model.card.GazeEffect
    effect.sentence  # "Across 6 paired training seeds on the simulated corpus, ..."
    load_effect("results/gaze-seeds-rn-local.json", section=PRIOR)  # the prior-only model's
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from eclip.errors import EvaluationError
from eclip.model.card import GazeEffect

PLANNED_SEEDS = 6  # results/gaze-seeds-plan.md: seeds 0-5
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
VS = {"CLIP": "vs_clip", "random heatmaps": "vs_random"}  # who -> the card's compact key


@dataclass(frozen=True)
class Section:
    """One answer a report gives: where it sits in the report, the two contrasts that carry the
    claim (name -> who), the contrasts only described (name -> compact key), and its words."""

    key: str  # "" for the report itself, else the name of its sub-report
    subject: str  # who was compared, in the sentence
    controls: str  # what with
    minus: str  # "Each difference is <minus> minus the other model"
    contrasts: dict[str, str]
    described: dict[str, str] = field(default_factory=dict)
    described_words: str = ""  # leads the sentence of the described contrasts
    missing: str = ""  # why a report may lack the section, and what to run


ECLIP = Section("", "eCLIP (trained with the radiologist's gaze)",
                "CLIP and with the same training on random heatmaps", "eCLIP",
                {"eclip - clip": "CLIP", "eclip - random": "random heatmaps"})
# The random arm is eCLIP's config on random heatmaps: random for the expert images and the prior
# alike (benchmarks/gaze_seeds.py), so the prior-only model's sentence says so.
PRIOR = Section(
    "prior", "the model trained with gaze only as a prior on where it looks (no expert images)",
    "CLIP and with eCLIP's training on random heatmaps in place of gaze (expert images and prior alike)",
    "the prior-only model", {"prior - clip": "CLIP", "prior - random": "random heatmaps"},
    described={"eclip - prior": "eclip_vs_prior"},
    described_words="What the expert images add beyond the prior (eCLIP minus the prior-only model, "
                    "described only, no claim)",
    missing="fewer than 2 seeds of the prior arm were scored beside the other three arms; train and "
            "score them (`python benchmarks/gaze_seeds.py train --pair rn-local`, then `evaluate "
            "--pair rn-local`), then rerun `python benchmarks/gaze_seeds.py report --pair rn-local`")
CONTRASTS = ECLIP.contrasts  # the three-arm answer's, the only one before sections


def section_for(mode: str) -> Section:
    """The answer a model's card carries, by its training mode (eclip.model.card.training_mode):
    a gaze-prior model's is the prior arm's; an eCLIP or CLIP model's the eCLIP one."""
    return PRIOR if mode == "gaze-prior" else ECLIP


def part(report: dict, section: Section = ECLIP, source: str = "the report") -> dict:
    """The (sub-)report a section reads; EvaluationError when the report has none."""
    if not section.key:
        return report
    if not isinstance(report.get(section.key), dict):
        raise EvaluationError(f"{source} has no {section.key!r} section: {section.missing}")
    return report[section.key]


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
    """What is wrong with a report, its prior section included when it has one, or "" when
    nothing is."""
    problem = _section_problem(report, ECLIP)
    if problem or PRIOR.key not in report:
        return problem
    problem = _section_problem(report[PRIOR.key], PRIOR)
    return f"its {PRIOR.key!r} section: {problem}" if problem else ""


def _section_problem(report, section: Section) -> str:
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
        problem = _metric_problem(report, m, section)
        if problem:
            return problem
    return ""


def _metric_problem(report: dict, m: str, section: Section = ECLIP) -> str:
    if not isinstance(report["gaze_helps"].get(m), bool):
        return f"'gaze_helps' has no true/false for {m}"
    for name in (*section.contrasts, *section.described):  # a described one is shown: checked too
        problem = _contrast_problem(report, name, m)
        if problem:
            return problem
    if report["gaze_helps"][m] != all(report["contrasts"][n][m]["verdict"] == BETTER for n in section.contrasts):
        return f"'gaze_helps' for {m} disagrees with the two contrasts' verdicts"
    return ""


def _contrast_problem(report: dict, name: str, m: str) -> str:
    c = (report["contrasts"].get(name) or {}).get(m)
    if not isinstance(c, dict):
        return f"no {name!r} contrast for {m}"
    if not _numbers(c.get("per_seed"), len(report["seeds"])):
        return f"{name!r} {m}: 'per_seed' needs one difference per seed ({len(report['seeds'])})"
    if not _numbers([c.get("mean")], 1) or not _numbers(c.get("t_ci"), 2):
        return f"{name!r} {m}: 'mean' and 't_ci' [low, high] must be numbers"
    if c.get("verdict") not in (BETTER, WORSE, NULL):
        return f"{name!r} {m}: 'verdict' must be one of {BETTER!r}, {WORSE!r}, {NULL!r}"
    return ""


def _numbers(values, n: int) -> bool:
    """``values`` is a list of ``n`` numbers (a 2-seed t-interval may be NaN: not finite is fine)."""
    return (isinstance(values, list) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))


def metrics_of(report: dict) -> list[str]:
    """The primary metrics, then the secondary ones the (sub-)report names."""
    secondary = report.get("secondary") if isinstance(report.get("secondary"), list) else []
    return list(report["primary"]) + [m for m in secondary if m in NAMES and m not in report["primary"]]


# --------------------------------------------------------------------------- the answer
# The public functions take the whole report and a section; the helpers below them the
# section's (sub-)report, ``r``.
def verdict(report: dict, m: str, section: Section = ECLIP) -> str:
    """The plan's claim rule for one metric."""
    return _verdict(part(report, section), m, section)


def _verdict(r: dict, m: str, section: Section) -> str:
    if r["gaze_helps"][m]:
        return BETTER
    if all(r["contrasts"][name][m]["verdict"] == WORSE for name in section.contrasts):
        return WORSE
    return NULL


def signed(x: float) -> str:
    """+0.004, −0.010; a number that rounds to zero reads +0.000 (never −0.000)."""
    if not math.isfinite(x):
        return "n/a"
    return f"{round(x, 3) + 0.0:+.3f}".replace("-", "−")


def difference(mean: float, lo: float, hi: float) -> str:
    """"+0.238 [+0.210, +0.266]": a difference with its interval."""
    return f"{signed(mean)} [{signed(lo)}, {signed(hi)}]"


def _difference(c: dict) -> str:
    return difference(c["mean"], *c["t_ci"])


def _numbers_of(r: dict, m: str, section: Section) -> str:
    """"pointing game: +0.010 [−0.020, +0.040] vs CLIP, −0.005 [...] vs random heatmaps"."""
    parts = [f"{_difference(r['contrasts'][name][m])} vs {who}" for name, who in section.contrasts.items()]
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


def _groups(r: dict, section: Section) -> list[tuple[str, list[str]]]:
    primary = list(r["primary"])
    by = {kind: [m for m in primary if _verdict(r, m, section) == kind] for kind in (BETTER, WORSE, NULL)}
    return [(kind, group) for kind, group in by.items() if group]


def answer(report: dict, section: Section = ECLIP) -> str:
    """The verdict on the primary measures in a phrase, without numbers."""
    r = part(report, section)
    return "; ".join(_CLAUSE[kind].format(_which(group, list(r["primary"]), kind))
                     for kind, group in _groups(r, section))


def sentence(report: dict, corpus: str = "the simulated corpus", planned: int = PLANNED_SEEDS,
             section: Section = ECLIP) -> str:
    """One sentence with the numbers, one saying what the numbers are, and the described
    contrasts' sentence where the section has one."""
    r = part(report, section)
    n, primary = len(r["seeds"]), list(r["primary"])
    provisional = f" (provisional: {n} of the {planned} planned seeds)" if n < planned else ""
    clauses = [f"{_CLAUSE[kind].format(_which(group, primary, kind))} "
               f"({'; '.join(_numbers_of(r, m, section) for m in group)})" for kind, group in _groups(r, section)]
    return (f"Across {n} paired training seeds{provisional} on {corpus}, {section.subject} was compared with "
            f"{section.controls}: {'; '.join(clauses)}. Each difference is {section.minus} minus the other "
            f"model, with its 95 % t-interval over seeds.{_described(r, section)}{_beyond_prior(report, r, section)}")


def _beyond_prior(report: dict, r: dict, section: Section) -> str:
    """The eCLIP answer also says what its expert images add beyond the prior (described, no
    claim), once the prior arm is in on the same seeds: a reader of eCLIP's card learns whether
    its own mechanism mattered. "" otherwise."""
    prior = report.get(PRIOR.key)
    if section is not ECLIP or not isinstance(prior, dict) or list(prior.get("seeds", [])) != list(r["seeds"]):
        return ""
    return _described(prior, PRIOR)


def _described(r: dict, section: Section) -> str:
    """" What the expert images add ...: linear-probe AUROC at 10 % labels +0.010 [...]; ...", on
    the primary measures, with no verdict word: the plan makes no claim on it ("" for none)."""
    parts = [f"{NAMES[m]} {_difference(r['contrasts'][name][m])}" for name in section.described for m in r["primary"]]
    return f" {section.described_words}: {'; '.join(parts)}." if parts else ""


def _compact(r: dict, m: str, section: Section) -> dict:
    out = {"name": NAMES[m], "primary": m in r["primary"], "verdict": _verdict(r, m, section)}
    keys = {**{name: VS[who] for name, who in section.contrasts.items()}, **section.described}
    for name, key in keys.items():
        c = r["contrasts"][name][m]
        out[key] = [_rounded(c["mean"]), *map(_rounded, c["t_ci"])]
    return out


def _rounded(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def effect(report: dict, source: str = "", corpus: str = "the simulated corpus",
           planned: int = PLANNED_SEEDS, section: Section = ECLIP) -> GazeEffect:
    """A checked report's answer for one section as the card's ``gaze_effect`` (``source``: the
    report's file name)."""
    r = part(report, section, source or "the report")
    return GazeEffect(
        sentence=sentence(report, corpus, planned, section), answer=answer(report, section),
        n_seeds=len(r["seeds"]), planned_seeds=planned, source=Path(source).name if source else "",
        metrics={m: _compact(r, m, section) for m in metrics_of(r)})


def load_effect(path: str | Path, corpus: str = "the simulated corpus", section: Section = ECLIP) -> GazeEffect:
    """Read, check and phrase a seeds-experiment report (``--gaze-seeds JSON``)."""
    return effect(read_report(path), source=Path(path).name, corpus=corpus, section=section)
