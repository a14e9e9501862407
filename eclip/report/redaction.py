"""De-identification tokens never reach a draft.

Open-I's de-identifier replaced words it took for identifiers with runs of X ("XXXX"): in the
NLMCXR findings and impressions, 3,600 times in 7,910 sections, often a word the sentence needs
("The XXXX are intact.", "Lungs have XXXX XXXX."). Copied into a draft, such a token reads as
a redaction of the patient's own report. So:

* retrieved evidence (``clean_evidence``): every sentence holding a token is dropped before the
  text becomes a prompt term, a retrieval-only draft or a row of the page's evidence table: a
  sentence with a word missing cannot be read reliably, and retrieval brings ~100 reports, so
  what it said is rarely lost. "x-XXXX" is the one token whose word is certain ("x-ray"), so it
  is restored, not dropped;
* a backend's output (``strip_stream``): tokens are cut out of the streamed text (a model
  that copies one from its own training), holding back only a word that might still become
  one, so the text streams as before.

A token is a run of two or more X (either case) standing alone as a word or joined by "-" or
"/" ("XXXX-year-old", "XXXX/XXXX"); "x-ray", "2 x 3 cm" and "XL" are words, not tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_X_RAY = re.compile(r"(?<![A-Za-z0-9])([Xx])-[Xx]{2,}(?![A-Za-z0-9])")
TOKEN = re.compile(r"(?<![A-Za-z0-9])[Xx]{2,}(?:[-/][Xx]{2,})*(?![A-Za-z0-9])")
# a token with the hyphens or white space that join it to its neighbours
_TOKEN_SPAN = re.compile(r"[ \t]*-?" + TOKEN.pattern + r"-?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def has_token(text: str) -> bool:
    return bool(TOKEN.search(_X_RAY.sub("", text or "")))


def clean_evidence(text: str) -> str:
    """``text`` without the sentences that hold a redaction token (see the module doc)."""
    text = _X_RAY.sub(lambda m: f"{m.group(1)}-ray", text or "")
    if not TOKEN.search(text):
        return text.strip()
    kept = [s for s in _SENTENCE_END.split(text.strip()) if s.strip() and not TOKEN.search(s)]
    return " ".join(kept).strip()


def strip_tokens(text: str) -> str:
    """``text`` with every redaction token cut out, and the space or punctuation it leaves
    tidied ("Lungs have XXXX." -> "Lungs have.")."""
    text = _X_RAY.sub(lambda m: f"{m.group(1)}-ray", text)
    if not TOKEN.search(text):
        return text
    text = _TOKEN_SPAN.sub("", text)
    return re.sub(r"[ \t]+([.,;:!?)])", r"\1", text)


# the unfinished last word (after white space), held back while it could still become a token
_TAIL = re.compile(r"\s*\S*$")


def strip_stream(pieces: Iterable[str]) -> Iterator[str]:
    """``strip_tokens`` over streamed text: whole words are released as they complete, the
    last (unfinished) one held back with the white space before it only while it holds an X."""
    buf = ""
    for piece in pieces:
        buf += piece
        tail = _TAIL.search(buf)
        cut = tail.start() if tail and re.search(r"[Xx]", tail.group()) else len(buf)
        if cut:
            out = strip_tokens(buf[:cut])
            buf = buf[cut:]
            if out:
                yield out
    if buf:
        out = strip_tokens(buf)
        if out:
            yield out
