"""Results derived from an index and kept in its folder (``calibration.npz``), so that each
is computed once per index build, not once per server process. A kept file records the
identity of the build it came from; a rebuilt index (new meta, or embedding files rewritten
in place) makes it stale and it is computed afresh.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eclip.io import atomic_write_bytes

log = logging.getLogger(__name__)
EMBEDDING_FILES = ("image_emb.npy", "text_emb.npy", "text_index.npy")


def identity(index, *extra) -> tuple:
    """What a kept result depends on: the index build, its embedding files as written, and
    ``extra`` (the result's own parameters)."""
    meta, path = index.meta, Path(index.path).resolve()  # one folder however it was named
    files = tuple(_stamp(path / name) for name in EMBEDDING_FILES)
    return (str(path), meta.get("weights_sha256"), meta.get("config_sha256"),
            meta.get("data_fingerprint"), len(index), files, meta.get("created_at"), *extra)


def on_disk(key: tuple) -> bool:
    """False for an index held in memory only (a test's): there is no folder to keep it in."""
    return None not in key[5]


def _stamp(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _key_text(key: tuple) -> str:
    return json.dumps(key, default=list)


def load_or_compute(index, name: str, key: tuple,
                    compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays kept as ``name`` in the index folder for this very ``key``, else
    ``compute()``'s, kept there for the next process (an in-memory index keeps nothing)."""
    if not on_disk(key):
        return compute()
    path = Path(index.path) / name
    got = read(path, key)
    if got is None:
        got = compute()
        write(path, key, got)
    return got


def read(path: Path, key: tuple) -> dict[str, np.ndarray] | None:
    """The kept arrays when they were computed for this very ``key``, else None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != _key_text(key):
                return None
            return {name: f[name] for name in f.files if name != "key"}
    except (OSError, KeyError, ValueError):
        return None  # absent, from another build, or unreadable: computed afresh


def write(path: Path, key: tuple, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, key=np.array(_key_text(key)), **arrays)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:  # a read-only index folder: the memory cache still serves
        log.warning("could not keep %s (%s)", path, exc)
