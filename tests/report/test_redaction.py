"""No de-identification token ("XXXX", as Open-I's reports carry) reaches a draft: not through
the retrieved evidence (terms, prompt, the retrieval backend) and not through a backend's output
(the embedded LLM's stream filters, Ollama's, every DraftStream)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from eclip.report.backends import Selection, make_backend
from eclip.report.context import TextPool, retrieve_terms
from eclip.report.draft import DraftStream
from eclip.report.prompt import render_prompt
from eclip.report.redaction import clean_evidence, has_token, strip_stream, strip_tokens
from eclip.report.retrieval_backend import RetrievalBackend

TOKEN = re.compile(r"(?i)(?<![a-z0-9])x{2,}")
# as the NLMCXR reports write them
OPEN_I = [
    "The heart is normal in size. The XXXX are intact. Lungs have XXXX XXXX. No pneumothorax.",
    "PA and lateral chest x-XXXX. No focal consolidation. XXXX-year-old with cough.",
    "Stable calcified granuloma. Degenerative changes of the XXXX/XXXX spine.",
]


def no_token(text: str) -> bool:
    return TOKEN.search(text) is None


def test_evidence_drops_the_sentences_a_token_broke():
    assert clean_evidence(OPEN_I[0]) == "The heart is normal in size. No pneumothorax."
    assert clean_evidence(OPEN_I[1]) == "PA and lateral chest x-ray. No focal consolidation."
    assert clean_evidence(OPEN_I[2]) == "Stable calcified granuloma."
    assert clean_evidence("XXXX XXXX.") == ""
    kept = "A 2 x 3 cm nodule. X-ray of the chest. Size XL. Box in the axilla."
    assert clean_evidence(kept) == kept and not has_token(kept)


def test_prompt_and_retrieval_backend_never_see_a_token():
    prompt = render_prompt(OPEN_I + ["XXXX XXXX."], [("Cardiomegaly", 0.2)])
    assert all(no_token(t) for t in prompt.terms) and len(prompt.terms) == 3  # the empty term is gone
    assert no_token(prompt.user) and no_token(prompt.system)
    assert all(no_token(q) and no_token(a) for q, a in prompt.examples)
    draft = "".join(RetrievalBackend().generate(prompt))
    assert "No pneumothorax." in draft and no_token(draft)
    # a caller's own Prompt with raw terms: the retrieval backend cleans them itself
    raw = SimpleNamespace(terms=tuple(OPEN_I))
    assert no_token("".join(RetrievalBackend().generate(raw)))


def test_a_cluster_whose_nearest_report_is_all_tokens_is_shown_by_the_next():
    s = np.sqrt(0.5)
    index = SimpleNamespace(text_emb=np.array([[1, 0], [s, s], [0, 1]], np.float32),
                            texts=["No effusion. The XXXX are intact.", "XXXX XXXX.", "Lungs are clear."])
    pool = TextPool(np.arange(3), ("a", "b", "c"))
    terms, neighbours = retrieve_terms(np.array([s, s], np.float32), index, pool, k=3, n_clusters=1)
    assert sorted(neighbours) == ["a", "b", "c"]
    assert len(terms) == 1 and terms[0].case_id in ("a", "c") and terms[0].cluster_size == 3
    assert terms[0].text in ("No effusion.", "Lungs are clear.")


def test_strip_stream_cuts_tokens_split_across_pieces_and_still_streams():
    pieces = ["The heart ", "is normal. The X", "XX", "X are intact. Lungs have XXXX", " XXXX. Chest x-", "XXXX clear."]
    out = list(strip_stream(iter(pieces)))
    text = "".join(out)
    assert no_token(text) and text.startswith("The heart is normal.")
    assert "Chest x-ray clear." in text
    assert out[0] == "The heart "  # released at once: it cannot become a token
    assert strip_tokens("Lungs have XXXX XXXX.") == "Lungs have."


class Scripted:
    """A backend that writes what a model trained on Open-I reports might."""

    name, model = "scripted", "test"

    def __init__(self, pieces):
        self.pieces = pieces

    def generate(self, prompt, *, stream=True):
        yield from self.pieces


def test_every_draft_stream_strips_tokens_whatever_the_backend():
    stream = DraftStream(render_prompt(OPEN_I), Selection(Scripted(["No XXXX", "X. The XXXX are intact."]), None, "t"))
    rendered = stream.render()
    assert no_token(stream.text) and no_token(rendered.split("---")[0])
    assert stream.text.startswith("No.") and stream.text.endswith("are intact.")


def test_embedded_backend_output_has_no_token(monkeypatch):
    backend = make_backend("embedded")
    raw = ["The XX", "XX are intact", ". Lungs have XXXX", " XXXX. No effusion.", "\n\nignored"]
    monkeypatch.setattr(type(backend), "_tokens", lambda self, prompt: iter(raw))
    prompt = render_prompt(OPEN_I)
    text = "".join(backend.generate(prompt, stream=True))
    assert no_token(text) and "No effusion." in text and "ignored" not in text  # stops still apply
    assert no_token(next(backend.generate(prompt, stream=False)))


@pytest.mark.parametrize("api", ["chat", "generate"])
def test_ollama_backend_output_has_no_token(ollama_server, api):
    with ollama_server(tokens=["The XXXX ", "are intact. ", "No XX", "XX effusion."]) as srv:
        backend = make_backend("ollama", host=srv.host, api=api)
        text = "".join(backend.generate(render_prompt(OPEN_I), stream=True))
        sent = str(srv.requests)
    assert no_token(text) and "effusion." in text
    assert "XXXX" not in sent  # nor in what was sent to the server
