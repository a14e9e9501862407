"""The no-LLM backend: the retrieved representative findings, de-duplicated sentence by
sentence, become the draft. Always available and instant; its text is only ever sentences
that real reports of similar images contained, never one with a de-identification token
("XXXX", ``eclip.report.redaction``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from eclip.report.base import Backend, Health
from eclip.report.prompt import Prompt
from eclip.report.redaction import clean_evidence

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def assemble(terms: list[str] | tuple[str, ...], max_sentences: int = 6) -> str:
    """Sentences of the terms in order (terms come largest cluster first), each once."""
    seen: set[str] = set()
    out: list[str] = []
    for term in terms:
        for sent in split_sentences(clean_evidence(term)):
            key = re.sub(r"\W+", " ", sent.lower()).strip()
            if key and key not in seen:
                seen.add(key)
                out.append(sent if sent[-1] in ".!?" else sent + ".")
    return " ".join(out[:max_sentences])


class RetrievalBackend(Backend):
    name = "retrieval"
    model = "none (retrieved findings)"

    def health(self) -> Health:
        return Health(True, "Retrieval-only drafts need no language model.")

    def generate(self, prompt: Prompt, *, stream: bool = True) -> Iterator[str]:
        text = assemble(prompt.terms) or "No similar reports were retrieved."
        if not stream:
            yield text
            return
        for i, sent in enumerate(split_sentences(text)):
            yield sent if i == 0 else " " + sent
