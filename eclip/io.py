"""The ground floor: atomic file writes, JSON writing and content hashing.

Every layer may import this module and it imports nothing of ours, so a helper that two
parts need (the trainer writing a checkpoint, the data layer writing a manifest) lives
here once instead of being borrowed from a sibling layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Temp file + rename: a kill at any moment leaves the old file or the new one.

    ``durable=False`` skips the fsync, for bulk writers of cheap-to-rebuild files (the
    demo corpus), where one fsync per file costs more than producing the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(data, indent: int = 2) -> str:
    """Stable, diff-friendly JSON (sorted keys, trailing newline); unknown types as str."""
    return json.dumps(data, indent=indent, sort_keys=True, default=str) + "\n"


def write_json(path: str | os.PathLike, data, indent: int = 2) -> None:
    """Write ``data`` as JSON atomically (see ``atomic_write_bytes``)."""
    atomic_write_text(path, json_text(data, indent))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weights files are tens of MiB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str | bytes, length: int | None = None) -> str:
    """Hex sha256 of a string (or bytes), optionally truncated to ``length`` characters."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    digest = hashlib.sha256(data).hexdigest()
    return digest[:length] if length else digest


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
