"""Training sets torch's process-wide thread count for its run only: an in-process run (the
app, the resume tests) must hand the caller back the count it had."""

from __future__ import annotations

import pytest
import torch

from eclip.train.loop import torch_threads, train

from .helpers import TINY


@pytest.fixture
def three_threads():
    """A count no run here asks for, so a leak shows; the suite's own count back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def test_the_count_holds_inside_and_comes_back_after(three_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == three_threads
    with torch_threads(0):  # 0: torch's count left alone
        assert torch.get_num_threads() == three_threads


def test_the_count_comes_back_when_the_block_raises(three_threads):
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a failed step")
    assert torch.get_num_threads() == three_threads


def test_an_in_process_run_leaves_the_callers_count(tiny_dataset, tmp_path, three_threads):
    from eclip.config import load_config

    cfg = load_config(TINY, [f"data.root={tiny_dataset}", "train.steps=1", "train.ckpt_every=1",
                             "train.threads=1"])
    assert train(cfg, tmp_path / "run").steps_done == 1
    assert torch.get_num_threads() == three_threads
