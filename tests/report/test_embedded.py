"""The embedded SmolLM2 GGUF, run for real (a ~20 s load, then a few tokens)."""

from __future__ import annotations

import threading

import pytest

from eclip.report.backends import make_backend
from eclip.report.embedded import default_gguf_path, load_embedded
from eclip.report.prompt import render_prompt

pytestmark = pytest.mark.slow


def test_gguf_ships_in_the_wheel():
    path = default_gguf_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_embedded_streams_deterministically_and_loads_once():
    be = make_backend("embedded", max_new_tokens=6)
    assert be.health().ok
    p = render_prompt(["Small left pleural effusion."], [("Pleural Effusion", 0.9)])
    first = list(be.generate(p, stream=True))
    assert len(first) >= 2 and "".join(first).strip()
    # A second run (also from another thread) is token-for-token the same: greedy decoding.
    second: list[str] = []
    t = threading.Thread(target=lambda: second.extend(be.generate(p, stream=True)))
    t.start()
    t.join(120)
    assert "".join(second) == "".join(first)
    assert list(be.generate(p, stream=False)) == ["".join(first)]
    assert load_embedded() is load_embedded()
    assert "loaded" in be.health().message


def test_closing_the_stream_early_stops_generation():
    import time

    from eclip.report.embedded import _GENERATE_LOCK

    be = make_backend("embedded", max_new_tokens=200)
    p = render_prompt(["The heart is enlarged."], [])
    gen = be.generate(p)
    assert next(gen)
    t0 = time.perf_counter()
    gen.close()  # the consumer went away: the worker must stop at its next token
    assert _GENERATE_LOCK.acquire(timeout=5)
    _GENERATE_LOCK.release()
    assert time.perf_counter() - t0 < 5


def test_warm_up_loads_once_in_the_background():
    from eclip.report.embedded import is_loaded, unload_all, warm_up

    unload_all()  # as on a fresh server
    be = make_backend("embedded")
    assert be.loading_message().startswith("Loading the embedded language model (once per server, ~")
    thread = warm_up()
    assert thread is not None and warm_up() is thread  # one load however many pages open
    thread.join(600)
    assert is_loaded() and warm_up() is None and be.loading_message() is None
    assert be.prepare() < 1.0  # a draft now starts at once


def test_a_stale_no_torch_answer_of_transformers_does_not_refuse_the_model(monkeypatch):
    """transformers keeps its first answer to "is torch installed?" for the process; a stale
    "no" (once seen in a full test run) must not refuse the embedded model for good."""
    from transformers.utils import import_utils

    from eclip.report import embedded

    embedded.unload_all()
    import_utils.is_torch_available.cache_clear()
    real = import_utils._is_package_available
    monkeypatch.setattr(import_utils, "_is_package_available",
                        lambda name, return_version=False: (False, "N/A") if name == "torch"
                        else real(name, return_version))
    assert import_utils.is_torch_available() is False
    monkeypatch.setattr(import_utils, "_is_package_available", real)
    assert import_utils.is_torch_available() is False  # kept: every load would now be refused
    tok, model = load_embedded()
    assert model is load_embedded()[1] and import_utils.is_torch_available() is True
