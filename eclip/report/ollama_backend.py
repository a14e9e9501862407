"""Drafts through an Ollama server with the official ``ollama`` client.

Host: the ``host`` argument, else ``OLLAMA_HOST``, else http://127.0.0.1:11434. Timeouts are
split: a short connect timeout (an absent server fails fast) and a long read timeout (a 7B
model on a CPU may take minutes). Every failure becomes a ReportGenerationError that says
what to run: ``ollama serve``, ``ollama pull NAME``, or where to point OLLAMA_HOST.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import ollama

from eclip.errors import ReportGenerationError
from eclip.report.base import Backend, Health
from eclip.report.filters import clean_stream
from eclip.report.prompt import Prompt
from eclip.settings import settings

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "mistral:7b-instruct"  # the paper's frozen Mistral-7B-Instruct


def _full_name(name: str) -> str:
    """Ollama treats ``mistral`` as ``mistral:latest``."""
    return name if ":" in name else f"{name}:latest"


class OllamaBackend(Backend):
    name = "ollama"

    def __init__(self, host: str | None = None, model: str = DEFAULT_MODEL, *, api: str = "chat",
                 connect_timeout: float = 2.0, read_timeout: float = 300.0,
                 health_timeout: float = 5.0, seed: int = 0, max_new_tokens: int = 200,
                 temperature: float = 0.0):
        if api not in ("chat", "generate"):
            raise ReportGenerationError(f"Ollama api must be 'chat' or 'generate', not '{api}'.")
        self.host = host or settings().ollama_host or DEFAULT_HOST
        self.model = model
        self.api = api
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.health_timeout = health_timeout
        self.options = {"seed": seed, "num_predict": max_new_tokens, "temperature": temperature}

    def _client(self, read_timeout: float) -> ollama.Client:
        # Extra kwargs of ollama.Client go to httpx.Client.
        return ollama.Client(host=self.host,
                             timeout=httpx.Timeout(read_timeout, connect=self.connect_timeout))

    @contextmanager
    def _errors(self, during: str, timeout: float):
        """Translate client/transport failures into one actionable error."""
        try:
            yield
        except (ConnectionError, httpx.ConnectError):
            raise ReportGenerationError(
                f"No Ollama server answers at {self.host}. Start it with `ollama serve`, or set "
                "OLLAMA_HOST / --ollama-host to where it runs.") from None
        except httpx.TimeoutException:
            raise ReportGenerationError(
                f"Ollama at {self.host} did not answer {during} within {timeout:g} s. Check the "
                "server (is it busy loading a model?) or raise the read timeout.") from None
        except ollama.ResponseError as e:
            if e.status_code == 404:
                raise ReportGenerationError(
                    f"Model '{self.model}' is not available on the Ollama server at {self.host}: "
                    f"run `ollama pull {self.model}` (server said: {e.error}).") from None
            raise ReportGenerationError(
                f"Ollama at {self.host} refused {during}: {e.error} (HTTP {e.status_code}).") from None
        except httpx.HTTPError as e:
            raise ReportGenerationError(
                f"Talking to Ollama at {self.host} failed during {during}: {e}.") from None

    def pulled_models(self) -> list[str]:
        with self._errors("the model list (/api/tags)", self.health_timeout):
            listing = self._client(self.health_timeout).list()
        return [m.model for m in listing.models if m.model]

    def health(self) -> Health:
        try:
            names = self.pulled_models()
        except ReportGenerationError as e:
            return Health(False, str(e))
        if _full_name(self.model) not in {_full_name(n) for n in names}:
            have = ", ".join(names) or "none"
            return Health(False, f"Ollama at {self.host} is running but model '{self.model}' is "
                                 f"not pulled: run `ollama pull {self.model}` (pulled: {have}).")
        return Health(True, f"Ollama at {self.host} serves '{self.model}'.")

    def generate(self, prompt: Prompt, *, stream: bool = True) -> Iterator[str]:
        pieces = clean_stream(self._parts(prompt, stream), prompt.stop)
        if stream:
            yield from pieces
        else:
            yield "".join(pieces)

    def _parts(self, prompt: Prompt, stream: bool) -> Iterator[str]:
        client = self._client(self.read_timeout)
        options = dict(self.options, stop=list(prompt.stop)) if prompt.stop else self.options
        with self._errors(f"/api/{self.api}", self.read_timeout):
            if self.api == "chat":
                parts = client.chat(model=self.model, messages=prompt.messages(), stream=stream,
                                    options=options)
                pick = lambda r: r.message.content  # noqa: E731
            else:
                parts = client.generate(model=self.model, prompt=prompt.as_text(),
                                        system=prompt.system, stream=stream, options=options)
                pick = lambda r: r.response  # noqa: E731
            # Streaming responses only contact the server when iterated, so the loop
            # stays inside the error translation.
            for part in (parts if stream else [parts]):
                text = pick(part)
                if text:
                    yield text
