"""High-level entry points: draft a report for one image under a checkpoint + dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from eclip.index import IndexMissing, build_index, load_index
from eclip.index.store import EmbeddingIndex
from eclip.index.typicality import describe
from eclip.model.card import ModelCard
from eclip.model.checkpoint import LoadedModel, checkpoint_name
from eclip.model.encode import encode_pixels
from eclip.report.backends import Selection, select_backend
from eclip.report.context import ReportContext, build_context
from eclip.report.draft import DraftStream
from eclip.report.prompt import render_prompt

log = logging.getLogger(__name__)


def draft_for_pixels(lm: LoadedModel, index: EmbeddingIndex, manifest, pixels: np.ndarray, *, backend: str = "auto",
                     fallback: str | None = None, k: int = 100, n_clusters: int = 5,
                     seed: int = 0, options: dict | None = None,
                     context: ReportContext | None = None,
                     selection: Selection | None = None) -> DraftStream:
    """Retrieve context for ``pixels`` (a stored-resolution grey image) and return a
    not-yet-started :class:`DraftStream`. ``options`` configure the backend (host, model,
    timeouts, max_new_tokens...). Pass a ``selection`` from :func:`select_backend` to draft
    many images without re-running the health check each time."""
    options = dict(options or {})
    options.setdefault("seed", seed)
    if context is None:
        context = build_context(lm, index, manifest, pixels, k=k, n_clusters=n_clusters, seed=seed)
    prompt = render_prompt(context.texts, list(context.findings))
    selection = selection or select_backend(backend, fallback=fallback, **options)
    # checkpoint: its name, not the server's folder
    return DraftStream(prompt, selection, checkpoint=checkpoint_name(getattr(lm, "path", "")),
                       weights_sha256=getattr(lm, "weights_sha256", ""),
                       retrieved_ids=context.case_ids, model_caveat=model_caveat(lm),
                       typicality=image_typicality(lm, context, pixels))


def model_caveat(lm: LoadedModel) -> str:
    """The card's caveat of a model trained on simulated films ("" for any other)."""
    return ModelCard.from_dict(getattr(lm, "card", {})).caveat


def image_typicality(lm: LoadedModel, context: ReportContext, pixels: np.ndarray) -> str:
    """The drafted image against the model's own training images, as one line."""
    if not hasattr(lm, "path"):
        return ""  # not a loaded checkpoint (a test double): no training images to compare with
    emb = context.image_emb if context.image_emb is not None else encode_pixels(lm, pixels)
    return describe(lm, emb)


def open_index(checkpoint: str | Path, data: str | Path, lm: LoadedModel | None = None, progress: bool = True,
               cache_root: str | Path | None = None):
    """The checkpoint's embedding index over ``data`` under ``cache_root`` (None: the
    settings' index folder), built (without UMAP) if missing."""
    try:
        return load_index(checkpoint, data, cache_root)
    except IndexMissing:
        log.info("no embedding index for this checkpoint and dataset yet: building it once")
        return build_index(checkpoint, data, cache_root=cache_root, with_umap=False, device="cpu",
                           lm=lm, progress=progress)
