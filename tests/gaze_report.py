"""Seeds-experiment reports in the shape ``benchmarks/gaze_seeds.py report`` writes
(``build_report``), made by hand for the tests of what reads them (eclip.evaluate.gaze_effect,
the card, the tour, the app)."""

from __future__ import annotations

NULL_PROBE = ((0.004, -0.010, 0.018), (0.002, -0.011, 0.015))
NULL_POINTING = ((0.010, -0.020, 0.040), (-0.005, -0.030, 0.020))


def contrast(mean: float, lo: float, hi: float, seeds: int = 6) -> dict:
    """One contrast as build_report writes it (the bootstrap interval the t-interval here)."""
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "no detectable difference"
    return {"per_seed": [mean] * seeds, "mean": mean, "t_ci": [lo, hi], "bootstrap_ci": [lo, hi],
            "verdict": verdict}


def report(probe=NULL_PROBE, pointing=NULL_POINTING, seeds: int = 6) -> dict:
    """Per primary metric, (eclip - clip, eclip - random) as (mean, low, high); the secondary
    metrics null."""
    null = ((0.0, -0.01, 0.01), (0.0, -0.01, 0.01))
    by_metric = {"probe_auroc": probe, "pointing": pointing, "zeroshot_auroc": null, "pointing_report": null,
                 "miou": null}
    contrasts = {name: {m: contrast(*pair[k], seeds=seeds) for m, pair in by_metric.items()}
                 for k, name in enumerate(("eclip - clip", "eclip - random"))}
    helps = {m: all(contrasts[n][m]["verdict"] == "better" for n in contrasts) for m in by_metric}
    arms = {arm: {m: [0.5] * seeds for m in by_metric} for arm in ("clip", "eclip", "random")}
    return {"seeds": list(range(seeds)), "arms": arms, "contrasts": contrasts, "gaze_helps": helps,
            "primary": ["probe_auroc", "pointing"], "secondary": ["zeroshot_auroc", "pointing_report", "miou"]}
