"""Every setting of the app and the library in one table: ``python -m app --print-settings``
prints their effective values and sources, and

    python -m app.core.settings_table --markdown

writes the table of docs/settings.md (tests/app/core/test_app_settings.py keeps them equal).
"""

from __future__ import annotations

import sys

from app.core.paths import default_checkpoint
from app.core.settings import AppSettings, secret_password, settings
from eclip import settings as lib
from eclip.errors import EclipError
from eclip.settings import env_fields

# --------------------------------------------------------------------------- showing them
LAYERS = (("library", lib.Settings, lib.settings), ("app", AppSettings, settings))


def _value(name: str, value, shown: str) -> str:
    if name == "checkpoint" and value is None:
        return default_checkpoint()
    if isinstance(value, bool):  # as the variable is written (ECLIP_REPORT_WARMUP=0)
        return str(int(value))
    return shown if value is None else str(value)


def _report_file_values(s: lib.Settings) -> dict:
    """What the report settings file (ECLIP_REPORT_CONFIG) sets, for the rows it decides."""
    if not s.report_config:
        return {}
    from eclip.report.settings import read_file  # lazy: torch; --print-settings answers without it

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
    """The settings table of docs/settings.md (tests/app/core/test_app_settings.py keeps them equal)."""
    lines = ["| " + " | ".join(DOC_HEADER) + " |", "|" + "---|" * len(DOC_HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in doc_rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m app.core.settings_table --markdown")
    sys.stdout.write(markdown_table())
