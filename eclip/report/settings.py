"""Report settings in one place: defaults < TOML ``[report]`` table < environment < CLI.

Environment (eclip.settings): ECLIP_REPORT_CONFIG (the TOML file, when no path is given),
ECLIP_REPORT_BACKEND (auto|ollama|embedded|retrieval), OLLAMA_HOST, ECLIP_OLLAMA_MODEL,
ECLIP_EMBEDDED_MODEL (a key of eclip.report.embedded.MODELS), ECLIP_REPORT_WARMUP (0 = do
not load the embedded model in the background when the app's report page opens). The app
and the CLI both build backends from ``options()``. In the app these are the server's
settings: only a signed-in admin may point a session at another Ollama host or model.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from eclip.errors import ConfigError
from eclip.report.backends import CHOICES
from eclip.report.embedded import MODELS
from eclip.settings import Settings, env_fields, settings


@dataclass
class ReportSettings:
    backend: str = "auto"
    fallback: str | None = None
    host: str | None = None  # Ollama URL; None = $OLLAMA_HOST or http://127.0.0.1:11434
    model: str = "mistral:7b-instruct"  # Ollama model name
    api: str = "chat"  # Ollama endpoint: chat | generate
    connect_timeout: float = 2.0
    read_timeout: float = 300.0
    health_timeout: float = 5.0
    max_new_tokens: int = 200
    seed: int = 0
    k: int = 100  # retrieved report texts
    n_clusters: int = 5  # KMeans groups = terms in the prompt
    embedded_model: str | None = None  # None = eclip.report.embedded.DEFAULT_MODEL
    warm_up: bool = True  # the app loads the embedded model in the background when the report page opens

    def __post_init__(self):
        if self.backend not in CHOICES:
            raise ConfigError(f"report.backend must be one of {', '.join(CHOICES)}, not '{self.backend}'.")
        if self.embedded_model is not None and self.embedded_model not in MODELS:
            raise ConfigError(f"report.embedded_model must be one of {', '.join(MODELS)}, "
                              f"not '{self.embedded_model}'.")

    def options(self) -> dict:
        """Keyword options for eclip.report.backends.make_backend / select_backend."""
        return {f: getattr(self, f) for f in ("host", "model", "api", "connect_timeout", "read_timeout",
                                              "health_timeout", "max_new_tokens", "seed", "embedded_model")}

    def updated(self, **changes) -> "ReportSettings":
        """A copy with the non-None ``changes`` applied (CLI flags left unset keep values)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(path: str | Path | None = None, environ: dict | None = None) -> ReportSettings:
    """The report settings: defaults < the TOML file (``path``, else $ECLIP_REPORT_CONFIG) <
    the environment (eclip.settings; ``environ`` instead of the process's, for tests)."""
    env = settings() if environ is None else Settings.from_env(environ)
    path = path or env.report_config
    values = read_file(path) if path else {}
    values.update(environment_values(env))
    return ReportSettings(**values)


def read_file(path: str | Path) -> dict:
    """The ``[report]`` table of a TOML file (or the whole file), unknown keys refused."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"Report settings {path} could not be read: {e}.") from None
    values = dict(data.get("report", data))
    known = {f.name for f in dataclasses.fields(ReportSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown report setting(s) {unknown}; known: {sorted(known)}.")
    return values


def environment_values(env: Settings) -> dict:
    """The report settings the environment sets: the eclip.settings fields that name a
    ``report_key`` and are not None (None: not set, the file or the default applies)."""
    return {f.metadata["report_key"]: getattr(env, f.name) for f in env_fields(Settings)
            if "report_key" in f.metadata and getattr(env, f.name) is not None}
