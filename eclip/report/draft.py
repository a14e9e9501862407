"""A draft: a streamed text with its provenance and the "draft — not a diagnosis" label.

:class:`DraftStream` is iterated for text pieces (a header, the backend's tokens, a
provenance footer); afterwards ``.text`` holds the body and ``.provenance`` says which
backend/model/checkpoint produced it from which retrieved cases. If the chosen backend fails
before its first token and a fallback is configured, the fallback drafts instead and the
reason is recorded. Whatever the backend, no de-identification token ("XXXX") reaches the
text (``eclip.report.redaction.strip_stream``).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from eclip.errors import ReportGenerationError
from eclip.report.backends import Selection
from eclip.report.prompt import DISCLAIMER, Prompt
from eclip.report.redaction import strip_stream

log = logging.getLogger(__name__)


@dataclass
class Provenance:
    backend: str
    model: str
    checkpoint: str = ""
    weights_sha256: str = ""
    retrieved_ids: list[str] = field(default_factory=list)  # cases behind the prompt's terms
    selection: str = ""  # why this backend
    fallback_reason: str = ""  # set when the first choice failed and the fallback drafted
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc)
                            .isoformat(timespec="seconds"))
    # What the reader must weigh the draft by: the card's caveat of a model trained on simulated
    # films (eclip.model.card), and the image against the model's own training images.
    model_caveat: str = ""
    typicality: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def footer(self) -> str:
        lines = [f"--- {DISCLAIMER} ---", f"backend: {self.backend} | model: {self.model}"]
        if self.checkpoint:
            sha = f" (weights sha256 {self.weights_sha256[:12]})" if self.weights_sha256 else ""
            lines.append(f"checkpoint: {self.checkpoint}{sha}")
        lines.append("retrieved cases: " + (", ".join(self.retrieved_ids) or "none"))
        if self.fallback_reason:
            lines.append(f"fallback: {self.fallback_reason}")
        if self.model_caveat:
            lines.append(f"MODEL CAVEAT: {self.model_caveat}")
        if self.typicality:
            lines.append(f"typicality of this image: {self.typicality}")
        return "\n".join(lines)


HEADER = f"[{DISCLAIMER.upper()}]\nFINDINGS: "


class DraftStream:
    """Iterate once for the pieces to show; ``text``/``provenance`` are complete after."""

    def __init__(self, prompt: Prompt, selection: Selection, *, checkpoint: str = "",
                 weights_sha256: str = "", retrieved_ids: list[str] | tuple[str, ...] = (),
                 model_caveat: str = "", typicality: str = ""):
        self.prompt = prompt
        self.selection = selection
        b = selection.backend
        self.provenance = Provenance(b.name, b.model, str(checkpoint), weights_sha256,
                                     list(retrieved_ids), selection.reason,
                                     model_caveat=model_caveat, typicality=typicality)
        self.pieces: list[str] = []
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self.pieces).strip()

    def _body(self) -> Iterator[str]:
        backend = self.selection.backend
        try:
            for piece in strip_stream(backend.generate(self.prompt, stream=True)):
                self.pieces.append(piece)
                yield piece
            return
        except ReportGenerationError as e:
            if self.pieces or self.selection.fallback is None:
                raise
            fallback = self.selection.fallback
            log.warning("%s failed (%s); drafting with %s", backend.name, e, fallback.name)
            self.provenance.backend, self.provenance.model = fallback.name, fallback.model
            self.provenance.fallback_reason = f"{backend.name} failed: {e}"
        for piece in strip_stream(fallback.generate(self.prompt, stream=True)):
            self.pieces.append(piece)
            yield piece

    def __iter__(self) -> Iterator[str]:
        if self.done:
            raise ReportGenerationError("A DraftStream can be iterated only once; use .text.")
        yield HEADER
        yield from self._body()
        self.done = True
        yield "\n\n" + self.provenance.footer() + "\n"

    def render(self) -> str:
        """Consume the stream (if not yet) and return header + body + footer."""
        if not self.done:
            for _ in self:
                pass
        return f"{HEADER}{self.text}\n\n{self.provenance.footer()}\n"
