"""Zero-shot targets, re-exported: their core lives in ``eclip.model.targets`` so that the
index (which calibrates zero-shot probabilities on the validate split when it is built) can
read them without importing upward. Evaluation imports them from here."""

from __future__ import annotations

from eclip.model.targets import MISSING, binary_target_matrix, binary_targets, multiclass_targets, target_text

__all__ = ["MISSING", "binary_target_matrix", "binary_targets", "multiclass_targets", "target_text"]
