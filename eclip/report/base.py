"""The interface every report backend implements: ``Backend`` and its ``Health``.

``Backend.generate(prompt, stream=True)`` yields text pieces (tokens when streaming, one
piece otherwise); ``Backend.health()`` says whether it can run now and, if not, what to do.
The backends themselves (ollama, embedded, retrieval) import this module; the registry that
builds them by name is :mod:`eclip.report.backends`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eclip.report.prompt import Prompt


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
