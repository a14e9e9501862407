import pytest

from eclip.config import CurriculumConfig
from eclip.model.curriculum import expert_probability, in_cold_start


@pytest.mark.parametrize("pct,expected", [(0, 0.0), (5, 0.0), (10, 0.05), (25, 0.275), (40, 0.5),
                                          (60, 0.275), (80, 0.05), (90, 0.05), (100, 0.05)])
def test_reference_schedule_at_phase_boundaries(pct, expected):
    assert expert_probability(pct * 10, 1000) == pytest.approx(expected)


def test_just_before_boundaries():
    assert expert_probability(99, 1000) == 0.0
    assert expert_probability(399, 1000) == pytest.approx(0.05 + 0.45 * 299 / 300)
    assert expert_probability(799, 1000) == pytest.approx(0.5 - 0.45 * 399 / 400)


def test_configurable_values_and_cold_start():
    cfg = CurriculumConfig(p_floor=0.1, p_peak=0.8)  # the paper's floor
    assert expert_probability(1000, 1000, cfg) == pytest.approx(0.1)
    assert expert_probability(400, 1000, cfg) == pytest.approx(0.8)
    assert in_cold_start(99, 1000) and not in_cold_start(100, 1000)


def test_no_curriculum_is_constant_without_cold_start():
    cfg = CurriculumConfig(enabled=False, constant_p=0.3)
    assert {expert_probability(s, 100, cfg) for s in range(100)} == {0.3}
    assert not in_cold_start(0, 100, cfg)
