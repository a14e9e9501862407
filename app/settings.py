"""The app's settings: its environment variables in one typed object, read once per process.

The library's own settings (index folder, precision, report backend...) are in
``eclip/settings.py``; this module adds the app's and shows both:

    python -m app --print-settings      # the effective value of every setting, and its source
    python -m app.settings --markdown   # the table of docs/settings.md

The admin password has a second source, Streamlit's ``.streamlit/secrets.toml``
(``admin_password = "..."``), read when asked for: Streamlit watches that file itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from eclip import settings as lib
from eclip.locations import package_file
from eclip.settings import Cached, EnvSettings, env_fields, folder, setting

SECRET_KEY = "admin_password"


@dataclass(frozen=True)
class AppSettings(EnvSettings):
    """Every setting of the Streamlit app. Relative folders are taken from the repository
    root (app.paths.resolve)."""

    data: str = setting(
        "ECLIP_DATA", "Dataset folder the app opens first (a folder with manifest.csv).",
        default="data/demo", kind="folder")
    checkpoint: str | None = setting(
        "ECLIP_CHECKPOINT", "Checkpoint the app opens first; 'none' browses data only.",
        kind="folder | none", shown="checkpoints/demo-eclip if shipped, else the first "
        "checkpoint under checkpoints/, else none")
    runs: str = setting(
        "ECLIP_RUNS", "Folder of the training runs the admin page starts and lists.",
        default="runs", kind="folder")
    admin_password: str | None = setting(
        "ECLIP_ADMIN_PASSWORD", "Password of the admin page; else admin_password in "
        ".streamlit/secrets.toml; with neither the page stays locked.", kind="text (secret)",
        shown="none (locked)", secret=True)
    tour: Path = setting(
        "ECLIP_TOUR", "TOML file of the presenter's tour stops.",
        default=package_file("app", "assets", "tour.toml"), parse=folder, kind="file",
        shown="the tour shipped with the app")


settings: Cached[AppSettings] = Cached(AppSettings)


def secret_password() -> str | None:
    """``admin_password`` from Streamlit's secrets, None without a secrets file or key."""
    import streamlit as st

    try:
        value = st.secrets.get(SECRET_KEY)
    except Exception:  # no secrets.toml at all: Streamlit raises its own not-found error
        return None
    return str(value) if value else None


def admin_password() -> str | None:
    """The configured admin password: the environment's, else the secrets file's."""
    return settings().admin_password or secret_password()


# --------------------------------------------------------------------------- showing them
LAYERS = (("library", lib.Settings, lib.settings), ("app", AppSettings, settings))


def _value(name: str, value, shown: str) -> str:
    if name == "checkpoint" and value is None:
        from app.paths import default_checkpoint

        return default_checkpoint()
    if isinstance(value, bool):  # as the variable is written (ECLIP_REPORT_WARMUP=0)
        return str(int(value))
    return shown if value is None else str(value)


def _report_file_values(s: lib.Settings) -> dict:
    """What the report settings file (ECLIP_REPORT_CONFIG) sets, for the rows it decides."""
    if not s.report_config:
        return {}
    from eclip.report.settings import read_file

    return read_file(s.report_config)


def effective_rows() -> list[tuple[str, str, str, str]]:
    """(layer, variable, value, source) per setting; the password only as set / not set."""
    rows = []
    for layer, cls, cached in LAYERS:
        s = cached()
        from_file = _report_file_values(s) if cls is lib.Settings else {}
        for f in env_fields(cls):
            value, source = getattr(s, f.name), s.origins.get(f.name, "default")
            key = f.metadata.get("report_key")
            if value is None and key in from_file:
                value, source = from_file[key], "file"  # ECLIP_REPORT_CONFIG
            if f.metadata["secret"]:
                value, source = _password_row(value, source)
            rows.append((layer, f.metadata["env"], _value(f.name, value, f.metadata["shown"]), source))
    return rows


def _password_row(value, source: str) -> tuple[str, str]:
    if value:
        return "set", source
    return ("set", "secrets") if secret_password() else ("not set", "default")


def text_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [header, *rows])


def print_settings(out=None) -> int:
    """``python -m app --print-settings``: exit 0, or 2 with the error when a value is wrong."""
    from eclip.errors import EclipError

    out = out or sys.stdout
    try:
        rows = effective_rows()
    except EclipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text_table(rows, ("layer", "variable", "value", "from")), file=out)
    return 0


# --------------------------------------------------------------------------- the doc
DOC_HEADER = ("variable", "type", "default", "what it does", "layer")


def doc_rows() -> list[tuple[str, str, str, str, str]]:
    return [(f"`{f.metadata['env']}`", f.metadata["kind"], _literal(f.metadata["shown"]),
             f.metadata["what"], layer)
            for layer, cls, _ in LAYERS for f in env_fields(cls)]


def _literal(shown: str) -> str:
    """A default that is a value in code type; one described in words (spaces) as text."""
    return shown if " " in shown else f"`{shown}`"


def markdown_table() -> str:
    """The settings table of docs/settings.md (tests/app/test_app_settings.py keeps them equal)."""
    lines = ["| " + " | ".join(DOC_HEADER) + " |", "|" + "---|" * len(DOC_HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in doc_rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m app.settings --markdown")
    sys.stdout.write(markdown_table())
