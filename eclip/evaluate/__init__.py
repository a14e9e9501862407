"""Evaluation: metrics, prompt sets, the suite, and the `python -m eclip.evaluate` CLI."""
