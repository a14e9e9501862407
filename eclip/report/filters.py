"""Filters over streamed text pieces, applied to every LLM backend's output.

Both only ever *hold back* text until they know whether it will be kept, so tokens still
stream immediately in the usual case. Closing the upstream generator when a filter ends
lets the embedded backend stop generating.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def cut_at_stops(pieces: Iterable[str], stops: tuple[str, ...]) -> Iterator[str]:
    """Pass streamed text through, ending before the first stop sequence. Text that might
    be the start of a stop sequence is held back until it is known not to be one. Leading
    whitespace is dropped, so a reply that opens with a blank line is not cut to nothing."""
    buf, started = "", False
    for piece in pieces:
        buf += piece
        if not started:
            buf = buf.lstrip()
            started = bool(buf)
        hits = [i for i in (buf.find(s) for s in stops) if i >= 0]
        if hits:
            if buf[:min(hits)]:
                yield buf[:min(hits)]
            return
        keep = max((k for s in stops for k in range(1, len(s)) if buf.endswith(s[:k])), default=0)
        if len(buf) > keep:
            yield buf[:len(buf) - keep]
            buf = buf[len(buf) - keep:]
    if buf:
        yield buf



_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def _norm(sentence: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", sentence.lower()))


def stop_on_repeated_sentence(pieces: Iterable[str]) -> Iterator[str]:
    """End the text before the first sentence that repeats an earlier one (small greedy
    models fall into loops such as "No effusion. No effusion. ..."). The unfinished
    sentence is held back only while it could still become such a repeat."""
    seen: set[str] = set()
    sentence, released = "", 0  # current sentence text; how much of it was yielded
    for piece in pieces:
        sentence += piece
        while (m := _SENTENCE_END.search(sentence)):
            done, sentence = sentence[:m.end()], sentence[m.end():]
            key = _norm(done)
            if key and key in seen:
                return
            seen.add(key)
            if done[released:]:
                yield done[released:]
            released = 0
        partial = _norm(sentence)
        if sentence[released:] and not (partial and any(k.startswith(partial) for k in seen)):
            yield sentence[released:]
            released = len(sentence)
    partial = _norm(sentence)
    if sentence[released:] and not (partial and any(k.startswith(partial) for k in seen)):
        yield sentence[released:]


def clean_stream(pieces: Iterable[str], stops: tuple[str, ...]) -> Iterator[str]:
    """The filters every LLM backend applies: stop sequences, then repeat detection."""
    return stop_on_repeated_sentence(cut_at_stops(pieces, stops))
