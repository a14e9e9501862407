"""The registry of report backends and the choice between them.

Backends (the interface is :mod:`eclip.report.base`) are built by name from :data:`BACKENDS`
(a name -> constructor registry, as in timm). The embedded backend loads transformers only
when it first drafts, and the Ollama backend is imported only when chosen, so choosing
``ollama`` never loads transformers and choosing ``embedded`` never needs the ollama package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from eclip.errors import ReportGenerationError
from eclip.report.base import Backend
from eclip.report.embedded import EmbeddedBackend
from eclip.report.retrieval_backend import RetrievalBackend

log = logging.getLogger(__name__)


def _ollama(**kw) -> Backend:
    # lazy: ollama is an optional package (the app and llm extras): imported only when chosen
    from eclip.report.ollama_backend import OllamaBackend
    return OllamaBackend(**kw)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "ollama": _ollama,
    "embedded": EmbeddedBackend,
    "retrieval": RetrievalBackend,
}
CHOICES = ("auto", *BACKENDS)


# Keyword arguments each constructor accepts; the rest of a shared option dict is dropped,
# so one settings dict (from CLI or config) can configure whichever backend is chosen.
_OPTIONS = {
    "ollama": {"host", "model", "api", "connect_timeout", "read_timeout", "health_timeout",
               "seed", "max_new_tokens", "temperature"},
    "embedded": {"max_new_tokens", "seed", "gguf_path", "embedded_model", "no_repeat_ngram_size"},
    "retrieval": set(),
}


def make_backend(name: str, **options) -> Backend:
    """Build backend ``name`` with the options it understands (unknown ones ignored)."""
    if name not in BACKENDS:
        raise ReportGenerationError(
            f"Unknown report backend '{name}'; choose one of {', '.join(CHOICES)}.")
    allowed = _OPTIONS.get(name)
    kw = {k: v for k, v in options.items() if v is not None and (allowed is None or k in allowed)}
    return BACKENDS[name](**kw)


@dataclass(frozen=True)
class Selection:
    backend: Backend
    fallback: Backend | None  # used if ``backend`` fails before its first token
    reason: str  # why this backend was chosen (shown in provenance and logs)


def select_backend(name: str = "auto", *, fallback: str | None = None, **options) -> Selection:
    """Resolve a backend choice. ``auto``: Ollama if its health check passes, else embedded.
    An explicit name is used as is; ``fallback`` (e.g. "embedded") is kept ready for the
    case where it fails before producing anything."""
    if name == "auto":
        ollama = make_backend("ollama", **options)
        health = ollama.health()
        if health.ok:
            return Selection(ollama, make_backend("embedded", **options), "auto: Ollama answered")
        log.info("Ollama not usable (%s); using the embedded model", health.message)
        return Selection(make_backend("embedded", **options), None,
                         f"auto: {health.message} -> embedded")
    backend = make_backend(name, **options)
    fb = make_backend(fallback, **options) if fallback and fallback != name else None
    return Selection(backend, fb, f"requested: {name}")
