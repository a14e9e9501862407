"""One small interface for every way of turning a prompt into a draft, and a registry.

``Backend.generate(prompt, stream=True)`` yields text pieces (tokens when streaming, one
piece otherwise); ``Backend.health()`` says whether it can run now and, if not, what to do.
Backends are built by name from :data:`BACKENDS` (a name -> constructor registry, as in
timm); constructors import lazily so choosing ``ollama`` never loads transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from eclip.errors import ReportGenerationError
from eclip.report.prompt import Prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str  # what is wrong and what to do, or what is ready


class Backend:
    """Base class. Subclasses set ``name``/``model`` and implement the two methods."""

    name: str = "base"
    model: str = ""

    def health(self) -> Health:  # pragma: no cover - interface
        raise NotImplementedError

    def generate(self, prompt: Prompt, *, stream: bool = True) -> Iterator[str]:  # pragma: no cover
        raise NotImplementedError

    def prepare(self) -> float:
        """Load whatever the first draft would otherwise wait for; seconds it took."""
        return 0.0

    def loading_message(self) -> str | None:
        """What the first draft would wait for (shown while :meth:`prepare` runs), or None."""
        return None

    def count_tokens(self, text: str) -> int | None:
        """Tokens of ``text`` in the backend's own vocabulary (None: no tokenizer here)."""
        return None

    def describe(self) -> str:
        return f"{self.name} ({self.model})" if self.model else self.name


def _ollama(**kw) -> Backend:
    from eclip.report.ollama_backend import OllamaBackend
    return OllamaBackend(**kw)


def _embedded(**kw) -> Backend:
    from eclip.report.embedded import EmbeddedBackend
    return EmbeddedBackend(**kw)


def _retrieval(**kw) -> Backend:
    from eclip.report.retrieval_backend import RetrievalBackend
    return RetrievalBackend(**kw)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "ollama": _ollama,
    "embedded": _embedded,
    "retrieval": _retrieval,
}
CHOICES = ("auto", *BACKENDS)


def register_backend(name: str, constructor: Callable[..., Backend]) -> None:
    BACKENDS[name] = constructor


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
