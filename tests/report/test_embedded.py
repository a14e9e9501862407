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
