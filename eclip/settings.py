"""The library's settings: every environment variable it reads, in one typed object, read once.

``settings()`` reads the environment on its first call and keeps the result for the life of
the process, so one run (a CLI command, an app server) never sees two different values, and
an invalid value fails at once with the variable, what it holds and what is accepted.
Folders a caller chooses are passed as arguments (``cache_root=``, ``max_pixels=``...): these
settings are only the defaults behind them. The app's own settings are in ``app/core/settings.py``;
both layers are listed in docs/settings.md (generated from the fields below by
``python -m app.core.settings_table --markdown``) and shown by ``python -m app --print-settings``.

Tests change a setting with ``settings.override(...)``, or set the variable and call
``settings.cache_clear()`` (tests/conftest.py clears the cache around every test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Self, TypeVar

from eclip.errors import ConfigError
from eclip.locations import root

# The checkout holding this package (an installed wheel: the working directory). The index
# cache lives in it whatever the working directory, as the app and `make index` have always
# placed it (see Settings.index_dir).
REPO = root()

PRECISIONS = ("auto", "fp32", "bf16")
REPORT_BACKENDS = ("auto", "ollama", "embedded", "retrieval")  # eclip.report.backends.CHOICES
EMBEDDED_MODELS = ("smollm2-135m", "gemma3-270m")  # the keys of eclip.report.embedded.MODELS
# Largest chest radiographs are ~4300 x 4300 (18.5 Mpx); mammograms ~30 Mpx. 64 Mpx leaves
# room for any real radiograph while refusing headers that claim absurd sizes.
DEFAULT_MAX_PIXELS = 64_000_000
_OFF, _ON = ("0", "false", "no", "off"), ("1", "true", "yes", "on")


class SettingsError(ConfigError):
    """An environment variable holds a value its setting does not accept."""


# --------------------------------------------------------------------------- parsing
def text(raw: str) -> str:
    return raw


def folder(raw: str) -> Path:
    return Path(raw)


def one_of(*choices: str, fold: bool = False) -> Callable[[str], str]:
    """A parser accepting only ``choices`` (``fold``: after trimming and lower-casing)."""
    def parse(raw: str) -> str:
        value = raw.strip().lower() if fold else raw
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse


def pixel_count(raw: str) -> int:
    try:
        value = int(float(raw))  # "64e6" was always accepted
    except (ValueError, OverflowError):
        value = 0
    if value < 1:
        raise ValueError(f"must be a pixel count of at least 1, such as {DEFAULT_MAX_PIXELS}")
    return value


def switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _OFF + _ON:
        raise ValueError(f"must be one of {', '.join(_ON)} (on) or {', '.join(_OFF)} (off)")
    return value in _ON


def setting(env: str, what: str, *, default=None, factory=None, parse: Callable = text,
            kind: str = "text", shown: str | None = None, secret: bool = False, **extra):
    """A dataclass field read from the variable ``env``. ``what``, ``kind`` and ``shown`` (the
    default as a person reads it) document it in docs/settings.md; a ``secret`` is never
    printed. ``extra`` is kept in the metadata for the layer's own use."""
    meta = {"env": env, "what": what, "parse": parse, "kind": kind, "secret": secret,
            "shown": shown if shown is not None else str(default), **extra}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def env_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "env" in f.metadata]


def read_environment(cls, environ: Mapping[str, str]):
    """An instance of the settings dataclass ``cls`` from ``environ``: every variable that is
    set (not empty) parsed and checked, the rest left at their defaults; ``origins`` records
    which came from the environment."""
    values = {}
    for f in env_fields(cls):
        raw = environ.get(f.metadata["env"])
        if raw is not None and raw.strip():  # empty means unset, as `os.environ.get(X) or default` did
            values[f.name] = _parse(f, raw)
    return cls(**values, origins={name: "env" for name in values})


def _parse(f: dataclasses.Field, raw: str):
    try:
        return f.metadata["parse"](raw)
    except ValueError as exc:
        var = f.metadata["env"]
        shown = "***" if f.metadata["secret"] else repr(raw)
        raise SettingsError(f"{var}={shown} is not accepted: {f.name} {exc}. Fix it, or unset "
                            f"{var} for the default ({f.metadata['shown']}).") from None


@dataclass(frozen=True)
class EnvSettings:
    """Base of a layer's settings dataclass: its fields are ``setting(...)``s."""

    # Where each value came from ("env"; absent: the default). Not compared: two settings
    # with the same values are the same settings.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Self:
        return read_environment(cls, environ)


# --------------------------------------------------------------------------- read once
T = TypeVar("T")


class Cached(Generic[T]):
    """``settings()``: a settings class read from ``os.environ`` once per process.

    Not locked: two threads racing on the first call both read the same environment and
    build equal objects, and one of them is kept."""

    def __init__(self, cls: type[T]):
        self.cls = cls
        self._value: T | None = None
        self._overrides: list[T] = []

    def __call__(self) -> T:
        if self._overrides:
            return self._overrides[-1]
        if self._value is None:
            self._value = self.cls.from_env(os.environ)
        return self._value

    def cache_clear(self) -> None:
        """Forget what was read: the next call reads the environment again (tests)."""
        self._value = None

    @contextlib.contextmanager
    def override(self, **changes) -> Iterator[T]:
        """The settings with ``changes`` inside the block (tests)."""
        changed = dataclasses.replace(self(), **changes)
        self._overrides.append(changed)
        try:
            yield changed
        finally:
            self._overrides.pop()  # blocks nest, so the last override is this one


# --------------------------------------------------------------------------- the library's
@dataclass(frozen=True)
class Settings(EnvSettings):
    """Every setting of the ``eclip`` library. The report settings here are the environment's
    layer of eclip.report.settings (defaults < ``[report]`` file < environment < CLI flags):
    None means "not set here", so the file's value or the report default applies."""

    index_dir: Path = setting(
        "ECLIP_INDEX_DIR", "Root of the embedding-index cache (one folder per checkpoint + "
        "dataset), when no --cache is given. The app, `make index` and every CLI share it.",
        default=REPO / ".cache" / "index", parse=folder, kind="folder", shown="<repo>/.cache/index")
    precision: str = setting(
        "ECLIP_PRECISION", "CPU arithmetic of index builds, evaluation, explanation maps and the "
        "app when no --precision is given: auto uses bf16 only where it pays (eclip.model.precision).",
        default="auto", parse=one_of(*PRECISIONS, fold=True), kind=" | ".join(PRECISIONS))
    max_pixels: int = setting(
        "ECLIP_MAX_PIXELS", "Largest image (width x height) decoded; a guard against "
        "decompression bombs.", default=DEFAULT_MAX_PIXELS, parse=pixel_count, kind="integer")
    patient_salt_file: Path = setting(
        "ECLIP_PATIENT_SALT_FILE", "Your secret salt of the patient keys importers store (created "
        "on first import, readable by you only). It stays outside every dataset folder, so a "
        "copy of a folder cannot be used to recover patient ids from its keys; keep it to give "
        "a returning patient the same key in later imports.",
        factory=lambda: Path.home() / ".config" / "eclip" / "patient_salt", parse=folder,
        kind="file", shown="~/.config/eclip/patient_salt")
    llm_dir: Path = setting(
        "ECLIP_LLM_DIR", "Where the chunked embedded-LLM GGUF (gemma3-270m) is assembled.",
        factory=lambda: Path.home() / ".cache" / "eclip" / "llm", parse=folder, kind="folder",
        shown="~/.cache/eclip/llm")
    report_config: Path | None = setting(
        "ECLIP_REPORT_CONFIG", "TOML file of report settings (a [report] table) when no --config "
        "is given; the report variables below override it.", parse=folder, kind="file",
        shown="none")
    report_backend: str | None = setting(
        "ECLIP_REPORT_BACKEND", "Backend that drafts reports; auto: Ollama when it answers, "
        "else the embedded LLM.", parse=one_of(*REPORT_BACKENDS),
        kind=" | ".join(REPORT_BACKENDS), shown="auto", report_key="backend")
    ollama_host: str | None = setting(
        "OLLAMA_HOST", "URL of the Ollama server (Ollama's own variable).", kind="URL",
        shown="http://127.0.0.1:11434", report_key="host")
    ollama_model: str | None = setting(
        "ECLIP_OLLAMA_MODEL", "Ollama model that drafts reports.", shown="mistral:7b-instruct",
        report_key="model")
    embedded_model: str | None = setting(
        "ECLIP_EMBEDDED_MODEL", "Embedded (offline) LLM that drafts reports.",
        parse=one_of(*EMBEDDED_MODELS), kind=" | ".join(EMBEDDED_MODELS), shown="smollm2-135m",
        report_key="embedded_model")
    report_warmup: bool | None = setting(
        "ECLIP_REPORT_WARMUP", "Load the embedded LLM in the background when the app's report "
        "page opens (0 = do not).", parse=switch, kind="1 | 0 (also on/off, yes/no, true/false)",
        shown="1", report_key="warm_up")


settings: Cached[Settings] = Cached(Settings)

__all__ = ["DEFAULT_MAX_PIXELS", "EMBEDDED_MODELS", "PRECISIONS", "REPO", "REPORT_BACKENDS",
           "Cached", "EnvSettings", "Settings", "SettingsError", "env_fields", "read_environment", "setting",
           "settings"]
