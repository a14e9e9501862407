"""The expert-batch curriculum p(step), piecewise linear in the fraction of training done.

0 .. cold_end: p = 0 (cold start; the processor is primed);
cold_end .. peak_at: p rises p_start -> p_peak; peak_at .. decay_end: p falls p_peak -> p_floor;
after decay_end: p = p_floor.
"""

from __future__ import annotations

from eclip.config import CurriculumConfig


def expert_probability(step: int, total_steps: int, cfg: CurriculumConfig | None = None) -> float:
    cfg = cfg or CurriculumConfig()
    if not cfg.enabled:
        return float(cfg.constant_p)
    f = step / max(total_steps, 1)
    if f < cfg.cold_end:
        return 0.0
    if f < cfg.peak_at:
        return _lerp(cfg.p_start, cfg.p_peak, (f - cfg.cold_end) / (cfg.peak_at - cfg.cold_end))
    if f < cfg.decay_end:
        return _lerp(cfg.p_peak, cfg.p_floor, (f - cfg.peak_at) / (cfg.decay_end - cfg.peak_at))
    return float(cfg.p_floor)


def in_cold_start(step: int, total_steps: int, cfg: CurriculumConfig | None = None) -> bool:
    """True during the cold start, when main images prime the processor."""
    cfg = cfg or CurriculumConfig()
    return cfg.enabled and step / max(total_steps, 1) < cfg.cold_end


def _lerp(a: float, b: float, t: float) -> float:
    return float(a + (b - a) * t)
