"""The report labeller, re-exported: its core lives in ``eclip.data.labeller`` so that the
data layer (``import-folder --labels-from-text``, ``python -m eclip.data label``) can use it
without importing upward. Drafts, evidence checks and report metrics import it from here."""

from __future__ import annotations

from eclip.data.labeller import (DOUBT_NEGATION, MENTIONS, NEGATIVE_MENTIONS, PATHOLOGIES,
                                 POST_NEGATION, PRE_NEGATION, UNCERTAIN, Mention, clauses,
                                 combine, label_report, mention_value, mentions)

__all__ = ["DOUBT_NEGATION", "MENTIONS", "NEGATIVE_MENTIONS", "PATHOLOGIES", "POST_NEGATION",
           "PRE_NEGATION", "UNCERTAIN", "Mention", "clauses", "combine", "label_report",
           "mention_value", "mentions"]
