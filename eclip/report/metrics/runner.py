"""Drafting a split and scoring it: every image of a split drafted by each backend from one
shared retrieval context, the drafts scored against the images' own reports
(:mod:`eclip.report.metrics.text`) and against their zero-shot evidence
(:mod:`eclip.report.evidence`: share of drafts with no finding that contradicts the image's
own zero-shot probabilities, and share of agreeing positions), and timed (model load,
seconds to the first token, seconds per draft, tokens/s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eclip.data.images import load_working
from eclip.data.manifest import read_manifest
from eclip.data.reports import report_text
from eclip.errors import EvaluationError
from eclip.index.store import EmbeddingIndex
from eclip.model.checkpoint import LoadedModel, load_model
from eclip.report.api import draft_for_pixels, open_index
from eclip.report.backends import select_backend
from eclip.report.context import build_context
from eclip.report.evidence import agreement_summary, check_draft
from eclip.report.metrics.text import report_metrics


def parse_backend(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:model`` -> (backend name, options): ``embedded:gemma3-270m``
    picks a shipped embedded model, ``ollama:llama3.2:1b`` an Ollama model."""
    name, _, model = spec.partition(":")
    if not model:
        return name, {}
    return name, ({"embedded_model": model} if name == "embedded" else {"model": model})


def _draft(lm: LoadedModel, index: EmbeddingIndex, manifest, pixels, context, selection):
    """(draft stream, seconds to the first piece, seconds in all) for one image."""
    stream = draft_for_pixels(lm, index, manifest, pixels, context=context, selection=selection)
    t0, first = time.perf_counter(), None
    for _ in stream:
        if first is None and stream.pieces:  # the backend's first piece (not the header)
            first = time.perf_counter() - t0
    return stream, first or 0.0, time.perf_counter() - t0


def _timing(backend, load_s: float, rows: list[dict]) -> dict:
    out = {"load_s": load_s, "seconds_per_draft": float(np.mean([r["seconds"] for r in rows])),
           "first_token_s": float(np.mean([r["first_token_s"] for r in rows]))}
    tokens = [backend.count_tokens(r["generated"]) for r in rows]
    if None not in tokens:  # decoding speed after the first token, over all drafts
        busy = sum(r["seconds"] - r["first_token_s"] for r in rows)
        out["tokens_per_s"] = (sum(tokens) - len(rows)) / busy if busy > 0 else math.nan
    return out


def evaluate_backends(checkpoint: str | Path, data: str | Path, split: str = "test", *,
                      backends: Sequence[str] = ("retrieval",), limit: int | None = None,
                      options: dict | None = None, k: int = 100, seed: int = 0,
                      embeddings: bool = True, progress: bool = True,
                      cache_root: str | Path | None = None):
    """Draft every ``split`` image (retrieving from the training split) with each backend
    spec (see :func:`parse_backend`) from one shared retrieval context per image, and score
    the drafts against the images' own reports and against their zero-shot evidence. The
    index is opened (or built) under ``cache_root`` (None: the settings' index folder).
    Returns ({spec: metrics}, per-draft DataFrame)."""
    lm = load_model(checkpoint)
    manifest = read_manifest(data)
    index = open_index(checkpoint, data, lm=lm, progress=progress, cache_root=cache_root)
    rows = manifest[manifest["split"].astype(str) == split]
    rows = rows.iloc[:limit] if limit else rows
    if rows.empty:
        raise EvaluationError(f"{data}: no '{split}' rows to draft reports for.")
    selections, load_s = {}, {}
    for spec in backends:  # once per backend: no health check per image; loads timed apart
        name, extra = parse_backend(spec)
        selections[spec] = select_backend(name, **dict(options or {}, seed=seed, **extra))
        load_s[spec] = selections[spec].backend.prepare()
    records, checks = [], {spec: [] for spec in backends}
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc="drafts", disable=not progress):
        pixels = load_working(Path(data) / row["image_path"])
        context = build_context(lm, index, manifest, pixels, k=k, seed=seed)
        for spec, selection in selections.items():
            stream, first, seconds = _draft(lm, index, manifest, pixels, context, selection)
            check = check_draft(stream.text, context.zero_shot)
            checks[spec].append(check)
            records.append({"id": row["id"], "backend": spec, "model": stream.provenance.model,
                            "reference": report_text(row["findings"], row["impression"]),
                            "generated": stream.text, "seconds": seconds, "first_token_s": first,
                            "conflicts": [c.message() for c in check.conflicts]})
    table = pd.DataFrame(records)
    results = {}
    for spec, selection in selections.items():
        part = table[table["backend"] == spec]
        metrics = report_metrics(list(part["reference"]), list(part["generated"]), embeddings=embeddings)
        metrics.update(agreement_summary(checks[spec]))
        metrics.update(_timing(selection.backend, load_s[spec], part.to_dict("records")))
        metrics.update(backend=selection.backend.name, model=part["model"].iloc[0], split=split)
        results[spec] = metrics
    return results, table


def evaluate_reports(checkpoint: str | Path, data: str | Path, split: str = "test", *,
                     backend: str = "retrieval", **kwargs):
    """One backend's metrics and per-draft table (see :func:`evaluate_backends`)."""
    results, table = evaluate_backends(checkpoint, data, split, backends=[backend], **kwargs)
    return results[backend], table
