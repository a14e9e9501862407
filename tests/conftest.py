"""Shared fixtures. Datasets are small files written in the exact contract formats."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

from tiny_data import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny_ds"))


def clear_settings() -> None:
    """Forget the settings read so far (eclip.settings, app.core.settings: read once per process)."""
    for name in ("eclip.settings", "app.core.settings"):
        module = sys.modules.get(name)
        if module is not None:
            module.settings.cache_clear()


@pytest.fixture(autouse=True)
def settings_follow_the_environment(monkeypatch):
    """The process reads its settings once; a test sets its own with monkeypatch.setenv /
    delenv, in the test or in its fixtures, before or after something read them. So the
    settings are cleared before each test, and again after each setenv / delenv."""
    clear_settings()
    for name in ("setenv", "delenv"):
        def changed(*args, _change=getattr(monkeypatch, name), **kwargs):  # noqa: B008 (this name's method)
            _change(*args, **kwargs)
            clear_settings()
        setattr(monkeypatch, name, changed)
    yield
    clear_settings()


@pytest.fixture(autouse=True)
def private_patient_salt(tmp_path_factory, monkeypatch):
    """Imports read (or create) the importing user's patient salt, ~/.config/eclip/patient_salt
    by default: tests use one of their own, never a real user's."""
    monkeypatch.setenv("ECLIP_PATIENT_SALT_FILE", str(tmp_path_factory.getbasetemp() / "patient_salt"))
