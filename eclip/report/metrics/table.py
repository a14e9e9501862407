"""The report metrics of several backends as one Markdown table (rows: metrics, columns:
backends)."""

from __future__ import annotations

import math


def markdown_table(results: dict[str, dict]) -> str:
    """The per-backend metrics as one Markdown table (rows: metrics, columns: backends)."""
    keys = [k for k in ("n", "finding_f1_micro", "finding_f1_macro", "bleu1", "bleu2", "bleu3", "bleu4",
                        "rouge_l", "embedding_cosine",
                        "evidence_agreement", "evidence_finding_agreement", "evidence_conflicts_per_draft",
                        "load_s", "first_token_s", "seconds_per_draft", "tokens_per_s")
            if any(k in m for m in results.values())]
    lines = ["| metric | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    for key in keys:
        cells = [_cell(m.get(key)) for m in results.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
