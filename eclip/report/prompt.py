"""The prompt sent to a report backend: a system line, fixed in-context examples and the
case's retrieval context rendered from ``eclip/assets/report_prompt.toml``.

The template lives outside the code so it can be edited without touching Python; the
rendered :class:`Prompt` keeps the structured pieces (terms, findings) as well, because the
``retrieval`` backend drafts from them directly and never reads the prose.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from eclip.errors import ReportGenerationError
from eclip.locations import package_file
from eclip.report.redaction import clean_evidence

DEFAULT_TEMPLATE = package_file("eclip", "assets", "report_prompt.toml")
DISCLAIMER = "draft — not a diagnosis"


@dataclass(frozen=True)
class Prompt:
    """Chat-style prompt plus the structured context it was rendered from."""

    system: str
    user: str
    examples: tuple[tuple[str, str], ...] = ()  # (user, assistant) in-context pairs
    terms: tuple[str, ...] = ()  # representative retrieved findings, numbered in ``user``
    findings: tuple[tuple[str, float], ...] = ()  # zero-shot (label, probability)
    stop: tuple[str, ...] = ()  # generation ends at the first of these (not included)

    def messages(self) -> list[dict[str, str]]:
        """OpenAI/Ollama chat messages: system, the examples as turns, then the case."""
        msgs = [{"role": "system", "content": self.system}]
        for question, answer in self.examples:
            msgs.append({"role": "user", "content": question})
            msgs.append({"role": "assistant", "content": answer})
        msgs.append({"role": "user", "content": self.user})
        return msgs

    def as_text(self) -> str:
        """One plain-text prompt for completion endpoints (Ollama /api/generate)."""
        parts = []
        for question, answer in self.examples:
            parts.append(f"{question}\n{answer}\n")
        parts.append(self.user)
        return "\n".join(parts)


@dataclass(frozen=True)
class Template:
    system: str
    user: str
    examples: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    stop: tuple[str, ...] = field(default_factory=tuple)


@lru_cache(maxsize=8)
def load_template(path: str | Path = DEFAULT_TEMPLATE) -> Template:
    """Read a prompt template TOML: ``system``, ``user`` (with ``{terms}`` and
    ``{findings}`` placeholders) and ``[[examples]]`` tables with ``user``/``assistant``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportGenerationError(
            f"Prompt template {path} is missing; restore eclip/assets/report_prompt.toml "
            "from the repository.") from None
    except tomllib.TOMLDecodeError as e:
        raise ReportGenerationError(f"Prompt template {path} is not valid TOML: {e}") from None
    for key in ("system", "user"):
        if not isinstance(data.get(key), str):
            raise ReportGenerationError(f"Prompt template {path} needs a string '{key}'.")
    examples = tuple((ex["user"], ex["assistant"]) for ex in data.get("examples", []))
    stop = tuple(str(x) for x in data.get("stop", []))
    return Template(system=data["system"].strip(), user=data["user"].strip(), examples=examples, stop=stop)


def format_terms(terms: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {t.strip()}" for i, t in enumerate(terms, 1)) or "(none retrieved)"


def format_findings(findings: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> str:
    return "\n".join(f"- {name}: {p:.2f}" for name, p in findings) or "(not available)"


def render_prompt(terms: list[str], findings: list[tuple[str, float]] = (),
                  template: Template | None = None) -> Prompt:
    """The prompt for ``terms`` (retrieved report texts) and zero-shot ``findings``. Sentences
    holding a de-identification token ("XXXX") are dropped from the terms first, so no
    backend ever sees one (``eclip.report.redaction``)."""
    terms = [t for t in (clean_evidence(x) for x in terms) if t]
    tpl = template or load_template()
    user = tpl.user.format(terms=format_terms(terms), findings=format_findings(findings))
    return Prompt(system=tpl.system, user=user, examples=tpl.examples, terms=tuple(terms),
                  findings=tuple((n, float(p)) for n, p in findings), stop=tpl.stop)

