"""Training: `python -m eclip.train --config FILE [--set k=v ...]` (also under torchrun)."""

from eclip.train.loop import RunResult, train

__all__ = ["RunResult", "train"]
