"""Filters over streamed text pieces, applied to every LLM backend's output.

They only ever *hold back* text until they know whether it will be kept, so tokens still
stream immediately in the usual case. Closing the upstream generator when a filter ends
lets the embedded backend stop generating. De-identification tokens ("XXXX") are cut out
too (``eclip.report.redaction.strip_stream``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from eclip.report.redaction import strip_stream


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



# A sentence ends at . ! or ? before white space (so "4.5 cm" does not), or at a line end:
# small models also loop over unpunctuated lines ("No effusion\nNo effusion\n...").
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


# Words that do not change what a sentence says: "There is no effusion." repeats "No
# effusion." (SmolLM2 wrote exactly that pair on the demo's first test case).
_FILLER = frozenset({"a", "an", "the", "there", "is", "are"})


def _norm(sentence: str) -> str:
    return " ".join(w for w in re.findall(r"[a-z0-9]+", sentence.lower()) if w not in _FILLER)


def _could_repeat(partial: str, seen: set[str]) -> bool:
    key = _norm(partial)
    return bool(key) and any(k.startswith(key) for k in seen)


def drop_repeated_sentences(pieces: Iterable[str], max_in_a_row: int = 2) -> Iterator[str]:
    """Drop every sentence that repeats an earlier one (same words; case, spacing and
    punctuation aside): small greedy models fall into loops such as "No effusion. No
    effusion. ...". After ``max_in_a_row`` repeats in a row the model is looping, so the text
    ends there. The unfinished sentence is held back only while it could still become a
    repeat, and white space until text follows it, so new text streams at once."""
    seen: set[str] = set()
    sentence, released, dropped = "", 0, 0  # current sentence; how much of it was yielded; repeats in a row
    for piece in pieces:
        sentence += piece
        while (m := _SENTENCE_END.search(sentence)):
            done, sentence = sentence[:m.end()], sentence[m.end():]
            key = _norm(done)
            if key and key in seen:
                dropped += 1
                if dropped >= max_in_a_row:
                    return
                released = 0
                continue
            seen.add(key)
            dropped = 0
            if done[released:]:
                yield done[released:]
            released = 0
        if sentence[released:].strip() and not _could_repeat(sentence, seen):
            yield sentence[released:]
            released = len(sentence)
    if sentence[released:].strip() and not _could_repeat(sentence, seen):
        yield sentence[released:]


def clean_stream(pieces: Iterable[str], stops: tuple[str, ...]) -> Iterator[str]:
    """The filters every LLM backend applies: stop sequences, redaction tokens, then
    repeated sentences."""
    return drop_repeated_sentences(strip_stream(cut_at_stops(pieces, stops)))
