"""The app's settings: its environment variables in one typed object, read once per process.

The library's own settings (index folder, precision, report backend...) are in
``eclip/settings.py``; this module adds the app's. ``app.core.settings_table`` shows both:

    python -m app --print-settings                 # every setting's value, and its source
    python -m app.core.settings_table --markdown   # the table of docs/settings.md

The admin password has a second source, Streamlit's ``.streamlit/secrets.toml``
(``admin_password = "..."``), read when asked for: Streamlit watches that file itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eclip.locations import package_file
from eclip.settings import Cached, EnvSettings, folder, setting

SECRET_KEY = "admin_password"


@dataclass(frozen=True)
class AppSettings(EnvSettings):
    """Every setting of the Streamlit app. Relative folders are taken from the repository
    root (app.core.paths.resolve)."""

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
