"""benchmarks/channels_last.py's pure parts: per-step times from a run's progress rows, and
the flag it passes to the training loop."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def cl():
    from benchmark_script import load

    return load("channels_last")


def test_step_times_are_differences_of_wall_times_after_the_warm_up(cl):
    rows = [{"wall_time_s": w} for w in (2.0, 3.5, 4.0, 6.0)]
    assert cl.step_times(rows, skip=0) == [2.0, 1.5, 0.5, 2.0]
    assert cl.step_times(rows, skip=2) == [0.5, 2.0]


def test_the_two_layouts_are_the_config_flag_off_and_on(cl):
    from eclip.config import Config, from_dict, to_dict

    for flag in cl.LAYOUTS.values():  # what --set writes must be a valid value of the key
        cfg = from_dict(Config, {**to_dict(Config()), "train": {**to_dict(Config())["train"],
                                                                 "channels_last": flag == "true"}})
        assert cfg.train.channels_last is (flag == "true")
    assert Config().train.channels_last is False  # off unless asked: runs under way keep their layout
