"""Seeds-experiment reports in the shape ``benchmarks/gaze_seeds.py report`` writes
(``build_report``), made by hand for the tests of what reads them (eclip.evaluate.gaze_effect,
the card, the tour, the app); ``prior_section`` the fourth arm's sub-report (``report["prior"]``)."""

from __future__ import annotations

NULL_PROBE = ((0.004, -0.010, 0.018), (0.002, -0.011, 0.015))
NULL_POINTING = ((0.010, -0.020, 0.040), (-0.005, -0.030, 0.020))
# (prior - clip, prior - random, eclip - prior)
NULL_PRIOR_PROBE = ((0.003, -0.012, 0.018), (0.001, -0.014, 0.016), (0.001, -0.009, 0.011))
NULL_PRIOR_POINTING = ((0.020, -0.010, 0.050), (0.008, -0.022, 0.038), (-0.010, -0.040, 0.020))
PRIMARY, SECONDARY = ("probe_auroc", "pointing"), ("zeroshot_auroc", "pointing_report", "miou")


def contrast(mean: float, lo: float, hi: float, seeds: int = 6) -> dict:
    """One contrast as build_report writes it (the bootstrap interval the t-interval here)."""
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "no detectable difference"
    return {"per_seed": [mean] * seeds, "mean": mean, "t_ci": [lo, hi], "bootstrap_ci": [lo, hi],
            "verdict": verdict}


def section(by_primary: dict, names: tuple[str, ...], arms: tuple[str, ...], seeds: int) -> dict:
    """A (sub-)report: per primary metric one (mean, low, high) per contrast name, the secondary
    metrics null; a benefit claimed where the first two contrasts are better (build_report's rule)."""
    null = ((0.0, -0.01, 0.01),) * len(names)
    by_metric = {**by_primary, **{m: null for m in SECONDARY}}
    contrasts = {name: {m: contrast(*per[k], seeds=seeds) for m, per in by_metric.items()}
                 for k, name in enumerate(names)}
    helps = {m: all(contrasts[n][m]["verdict"] == "better" for n in names[:2]) for m in by_metric}
    return {"seeds": list(range(seeds)), "arms": {arm: {m: [0.5] * seeds for m in by_metric} for arm in arms},
            "contrasts": contrasts, "gaze_helps": helps, "primary": list(PRIMARY), "secondary": list(SECONDARY)}


def prior_section(probe=NULL_PRIOR_PROBE, pointing=NULL_PRIOR_POINTING, seeds: int = 6) -> dict:
    """The prior arm's sub-report: per primary metric (prior - clip, prior - random,
    eclip - prior) as (mean, low, high)."""
    return section({"probe_auroc": probe, "pointing": pointing}, ("prior - clip", "prior - random", "eclip - prior"),
                   ("clip", "eclip", "random", "prior"), seeds)


def report(probe=NULL_PROBE, pointing=NULL_POINTING, seeds: int = 6, prior: dict | None = None) -> dict:
    """Per primary metric, (eclip - clip, eclip - random) as (mean, low, high); the secondary
    metrics null; ``prior`` (a ``prior_section``) as its "prior" section, if given."""
    out = section({"probe_auroc": probe, "pointing": pointing}, ("eclip - clip", "eclip - random"),
                  ("clip", "eclip", "random"), seeds)
    return out if prior is None else {**out, "prior": prior}
