"""Backends against a real HTTP server on 127.0.0.1 speaking Ollama's API."""

from __future__ import annotations

import time

import pytest

from eclip.errors import ReportGenerationError
from eclip.report.backends import make_backend, select_backend
from eclip.report.draft import DraftStream
from eclip.report.prompt import DISCLAIMER, load_template, render_prompt

TERMS = ["Small left pleural effusion.", "The heart is enlarged. No focal consolidation."]


def prompt():
    return render_prompt(TERMS, [("Pleural Effusion", 0.8), ("Cardiomegaly", 0.4)])


def test_template_has_two_examples_and_renders_numbered_terms():
    assert len(load_template().examples) == 2
    p = prompt()
    assert "1. Small left pleural effusion." in p.user and "2. The heart" in p.user
    assert "- Pleural Effusion: 0.80" in p.user
    roles = [m["role"] for m in p.messages()]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]


@pytest.mark.parametrize("api", ["chat", "generate"])
def test_ollama_streams_tokens_and_sends_options(ollama_server, api):
    with ollama_server() as srv:
        be = make_backend("ollama", host=srv.host, api=api, max_new_tokens=17, seed=3)
        assert be.health().ok
        pieces = list(be.generate(prompt(), stream=True))
        assert "".join(pieces) == "".join(srv.tokens) and len(pieces) >= 3  # streamed
        path, body = srv.requests[-1]
        assert path == f"/api/{api}" and body["stream"] is True
        assert body["options"]["num_predict"] == 17 and body["options"]["seed"] == 3
        assert body["options"]["temperature"] == 0 and "\n\n" in body["options"]["stop"]
        if api == "chat":
            assert body["messages"][0]["role"] == "system" and len(body["messages"]) == 6
        else:
            assert "Findings of similar cases" in body["prompt"]


@pytest.mark.parametrize("api", ["chat", "generate"])
def test_ollama_non_streaming_gives_one_piece(ollama_server, api):
    with ollama_server() as srv:
        be = make_backend("ollama", host=srv.host, api=api)
        assert list(be.generate(prompt(), stream=False)) == ["".join(srv.tokens)]
        assert srv.requests[-1][1]["stream"] is False


def test_host_from_environment(ollama_server, monkeypatch):
    with ollama_server() as srv:
        monkeypatch.setenv("OLLAMA_HOST", srv.host)
        be = make_backend("ollama")
        assert be.host == srv.host and be.health().ok


def test_model_not_pulled_says_ollama_pull(ollama_server):
    with ollama_server(pulled=["llama3:latest"]) as srv:
        be = make_backend("ollama", host=srv.host, model="mistral:7b-instruct")
        health = be.health()
        assert not health.ok and "ollama pull mistral:7b-instruct" in health.message
        assert "llama3:latest" in health.message
        with pytest.raises(ReportGenerationError, match="ollama pull mistral:7b-instruct"):
            list(be.generate(prompt()))  # the server's own 404 path


def test_untagged_model_name_matches_latest(ollama_server):
    with ollama_server(pulled=["mistral:latest"]) as srv:
        assert make_backend("ollama", host=srv.host, model="mistral").health().ok


def test_absent_server_says_ollama_serve(absent_host):
    be = make_backend("ollama", host=absent_host)
    t0 = time.perf_counter()
    health = be.health()
    assert not health.ok and "ollama serve" in health.message and absent_host in health.message
    assert time.perf_counter() - t0 < 3
    with pytest.raises(ReportGenerationError, match="ollama serve"):
        list(be.generate(prompt()))


def test_hanging_server_times_out_with_message(ollama_server):
    with ollama_server(mode="hang") as srv:
        be = make_backend("ollama", host=srv.host, health_timeout=0.5, read_timeout=0.5)
        t0 = time.perf_counter()
        health = be.health()
        assert not health.ok and "did not answer" in health.message
        with pytest.raises(ReportGenerationError, match="did not answer /api/chat within 0.5 s"):
            list(be.generate(prompt()))
        assert time.perf_counter() - t0 < 5


def test_auto_picks_ollama_when_healthy(ollama_server):
    with ollama_server() as srv:
        sel = select_backend("auto", host=srv.host)
        assert sel.backend.name == "ollama" and sel.fallback.name == "embedded"


@pytest.mark.parametrize("case", ["absent", "not_pulled", "hang"])
def test_auto_falls_back_to_embedded(ollama_server, absent_host, case):
    if case == "absent":
        sel = select_backend("auto", host=absent_host)
        assert "ollama serve" in sel.reason
    else:
        kw = {"pulled": []} if case == "not_pulled" else {"mode": "hang"}
        with ollama_server(**kw) as srv:
            sel = select_backend("auto", host=srv.host, health_timeout=0.3)
        assert ("ollama pull" if case == "not_pulled" else "did not answer") in sel.reason
    assert sel.backend.name == "embedded" and sel.fallback is None


def test_explicit_ollama_failure_falls_back_as_configured(ollama_server):
    # The chat request hangs (tags answers): the configured fallback drafts, and says why.
    with ollama_server(mode="hang", hang_paths=["/api/chat"]) as srv:
        sel = select_backend("ollama", fallback="retrieval", host=srv.host, read_timeout=0.3)
        stream = DraftStream(prompt(), sel, checkpoint="ckpt", retrieved_ids=["a", "b"])
        out = "".join(stream)
    assert stream.provenance.backend == "retrieval"
    assert "did not answer" in stream.provenance.fallback_reason
    assert "Small left pleural effusion." in stream.text
    assert DISCLAIMER in out and "retrieved cases: a, b" in out and "fallback: ollama failed" in out


def test_explicit_ollama_without_fallback_raises(absent_host):
    sel = select_backend("ollama", host=absent_host)
    with pytest.raises(ReportGenerationError, match="ollama serve"):
        "".join(DraftStream(prompt(), sel))


def test_draft_through_fake_ollama_carries_provenance(ollama_server):
    with ollama_server() as srv:
        stream = DraftStream(prompt(), select_backend("ollama", host=srv.host),
                             checkpoint="ck", weights_sha256="abcdef0123456789", retrieved_ids=["c1"])
        out = "".join(stream)
    assert stream.text == "".join(srv.tokens).strip()
    assert DISCLAIMER in out and "backend: ollama | model: mistral:7b-instruct" in out
    assert "abcdef012345" in out and stream.provenance.retrieved_ids == ["c1"]


def test_retrieval_backend_dedupes_sentences():
    be = make_backend("retrieval")
    p = render_prompt(["No effusion. Heart normal.", "heart normal. Small nodule"], [])
    assert "".join(be.generate(p)) == "No effusion. Heart normal. Small nodule."
    assert list(be.generate(p, stream=False)) == ["No effusion. Heart normal. Small nodule."]


def test_unknown_backend_is_actionable():
    with pytest.raises(ReportGenerationError, match="choose one of auto, ollama"):
        make_backend("gpt")


def test_settings_layering(tmp_path):
    from eclip.errors import ConfigError
    from eclip.report.settings import load_settings

    f = tmp_path / "report.toml"
    f.write_text('[report]\nbackend = "ollama"\nmodel = "llama3"\nread_timeout = 9.5\n')
    s = load_settings(f, environ={"ECLIP_OLLAMA_MODEL": "mistral", "OLLAMA_HOST": "http://h:1"})
    assert (s.backend, s.model, s.host, s.read_timeout) == ("ollama", "mistral", "http://h:1", 9.5)
    s2 = s.updated(backend="retrieval", model=None)
    assert s2.backend == "retrieval" and s2.model == "mistral"
    assert s2.options()["read_timeout"] == 9.5
    f.write_text('[report]\nbakend = "x"\n')
    with pytest.raises(ConfigError, match="unknown report setting"):
        load_settings(f, environ={})
    with pytest.raises(ConfigError, match="must be one of"):
        load_settings(None, environ={"ECLIP_REPORT_BACKEND": "gpt"})


def test_settings_for_the_app_server(tmp_path):
    from eclip.errors import ConfigError
    from eclip.report.settings import load_settings

    f = tmp_path / "report.toml"
    f.write_text('[report]\nmax_new_tokens = 7\nembedded_model = "smollm2-135m"\n')
    s = load_settings(environ={"ECLIP_REPORT_CONFIG": str(f), "ECLIP_REPORT_WARMUP": "0"})
    assert (s.max_new_tokens, s.embedded_model, s.warm_up) == (7, "smollm2-135m", False)
    assert s.options()["embedded_model"] == "smollm2-135m"
    assert load_settings(environ={}).warm_up is True
    with pytest.raises(ConfigError, match="embedded_model must be one of"):
        load_settings(environ={"ECLIP_EMBEDDED_MODEL": "gpt-2"})


def test_cut_at_stops():
    from eclip.report.filters import cut_at_stops

    stops = ("\n\n", "Zero-shot")
    assert "".join(cut_at_stops(["No eff", "usion.\n", "\nZero-shot: 1"], stops)) == "No effusion."
    assert "".join(cut_at_stops(["A.\nB. Zero-shot"], stops)) == "A.\nB. "
    assert list(cut_at_stops(["A. Ze", "ro", "-shot"], stops)) == ["A. "]  # held back, then cut
    assert "".join(cut_at_stops(["A. Zebra", " B."], stops)) == "A. Zebra B."  # false alarm released
    assert "".join(cut_at_stops(["\n\n", "Heart normal.", "\n\nMore"], stops)) == "Heart normal."


def test_ollama_reply_is_cut_at_a_stop_sequence(ollama_server):
    with ollama_server(tokens=["Heart normal.", "\n\n", "Zero-shot finding probabilities:"]) as srv:
        be = make_backend("ollama", host=srv.host)
        assert "".join(be.generate(prompt())) == "Heart normal."
        assert list(be.generate(prompt(), stream=False)) == ["Heart normal."]


def test_repeated_sentences_are_dropped_and_new_text_streams_at_once():
    from eclip.report.filters import drop_repeated_sentences as f

    loop = ["No effusion. ", "Mild cardio", "megaly. ", "No eff", "usion. ", "Small nodule."]
    assert "".join(f(loop)) == "No effusion. Mild cardiomegaly. Small nodule."  # dropped, not cut
    assert "".join(f(["The heart is enlarged.  THE HEART IS ENLARGED!\nNo effusion."])) == \
        "The heart is enlarged.\nNo effusion."  # case, spacing and punctuation aside
    assert "".join(f(["There is no focal consolidation or effusion. No focal consolidation or effusion. ",
                      "There is effusion."])) == \
        "There is no focal consolidation or effusion. There is effusion."  # "there is" adds nothing; "no" does
    assert "".join(f(["No effusion\n", "No eff", "usion\n", "Heart normal"])) == "No effusion\nHeart normal"
    # a model that keeps repeating itself is looping: the text ends after two repeats in a row
    assert "".join(f(["X. Y. ", "X. ", "Y. ", "Z. W."])) == "X. Y."
    # new text is released piece by piece, a possible repeat is held until it diverges
    pieces = list(f(["X y. ", "C", " d. ", "X", " c."]))
    assert "".join(pieces) == "X y. C d. X c." and " C" in pieces and not {"X", " X"} & set(pieces)
    assert "".join(f(["Tube 4.5 cm above the carina. ", "Tube 4.5 cm above the carina"])) == \
        "Tube 4.5 cm above the carina."  # decimals do not end sentences; a truncated repeat is dropped


def test_no_repeated_ngram_within_the_draft_only():
    import torch

    from eclip.report.embedded import banned_next_tokens, no_repeat_in_draft

    assert banned_next_tokens([5, 6, 7, 5, 6], 3) == {7}  # "5 6 7" exists: 7 may not follow "5 6"
    assert banned_next_tokens([5, 6, 7, 5, 6], 4) == set()
    assert banned_next_tokens([1, 2], 3) == set()
    # the prompt (first 3 tokens) may be copied; only a repeat inside the draft is banned
    ids = torch.tensor([[5, 6, 7, 5, 6]])
    scores = no_repeat_in_draft(3, prompt_length=3)(ids, torch.zeros(1, 10))
    assert torch.isfinite(scores).all()
    ids = torch.tensor([[9, 5, 6, 7, 5, 6]])
    scores = no_repeat_in_draft(3, prompt_length=1)(ids, torch.zeros(1, 10))
    assert torch.isinf(scores[0, 7]) and torch.isfinite(scores[0, :7]).all()
