"""Training: `python -m eclip.train --config FILE [--set k=v ...]` (also under torchrun)."""

from __future__ import annotations

__all__ = ["RunResult", "train"]


def __getattr__(name: str):
    # Lazy, so `import eclip.train.runfolder` (the app, on every page load) stays free of
    # torch and the model code that the loop pulls in.
    if name in __all__:
        from importlib import import_module

        return getattr(import_module("eclip.train.loop"), name)
    raise AttributeError(f"module 'eclip.train' has no attribute {name!r}")
