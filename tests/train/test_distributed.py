"""Two CPU processes with gloo under torchrun == one process with the same global batch."""

import json
import sys

import pytest

from eclip.train.__main__ import main

from .helpers import cli_args, finish, popen, state
from floats import assert_close

SETS = ("train.steps=12", "train.batch_size=8", "train.ckpt_every=12", "train.log_every=1")


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process(tiny_dataset, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    proc = popen(["--standalone", "--nproc_per_node", "2", "-m", "eclip.train",
                  *cli_args(tiny_dataset, ddp, *SETS)],
                 module="torch.distributed.run", prefix=[sys.executable, "-m"])
    out = finish(proc, timeout=180)
    assert proc.returncode == 0, out  # includes the loop's check that both ranks agree
    assert main(cli_args(tiny_dataset, single, *SETS)) == 0
    rows = lambda r: [json.loads(x) for x in (r / "progress.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = rows(single), rows(ddp)
    assert [r["expert"] for r in a] == [r["expert"] for r in b] and any(r["expert"] for r in a)
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], abs=1e-4)
    sa, sb = state(single / "checkpoints/step_000012"), state(ddp / "checkpoints/step_000012")
    for k in sa:
        if not k.startswith("rng."):
            assert_close(sa[k], sb[k], atol=1e-5, err_msg=str(k))
    assert json.loads((ddp / "checkpoints/step_000012/card.json").read_text())["world_size"] == 2
