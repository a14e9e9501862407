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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eclip.io import atomic_write_bytes

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex

log = logging.getLogger(__name__)
EMBEDDING_FILES = ("image_emb.npy", "text_emb.npy", "text_index.npy")


@dataclass(frozen=True)
class BuildKey:
    """What a kept result depends on: the index build, its embedding files as written
    (size and mtime of each, None when absent), and ``extra`` (the result's own parameters)."""

    path: str
    weights_sha256: str | None
    config_sha256: str | None
    data_fingerprint: str | None
    rows: int
    files: tuple
    created_at: str | None
    extra: tuple = ()

    @property
    def on_disk(self) -> bool:
        """False for an index held in memory only (a test's): there is no folder to keep it in."""
        return None not in self.files

    def text(self) -> str:
        """The key as stored next to the arrays (one flat JSON list)."""
        return json.dumps([self.path, self.weights_sha256, self.config_sha256, self.data_fingerprint,
                           self.rows, self.files, self.created_at, *self.extra], default=list)


def identity(index: EmbeddingIndex, *extra) -> BuildKey:
    """The :class:`BuildKey` of ``index`` with ``extra`` (the result's own parameters)."""
    meta, path = index.meta, Path(index.path).resolve()  # one folder however it was named
    files = tuple(_stamp(path / name) for name in EMBEDDING_FILES)
    return BuildKey(str(path), meta.get("weights_sha256"), meta.get("config_sha256"),
                    meta.get("data_fingerprint"), len(index), files, meta.get("created_at"), tuple(extra))


def _stamp(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def load_or_compute(index: EmbeddingIndex, name: str, key: BuildKey,
                    compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays kept as ``name`` in the index folder for this very ``key``, else
    ``compute()``'s, kept there for the next process (an in-memory index keeps nothing)."""
    if not key.on_disk:
        return compute()
    path = Path(index.path) / name
    got = read(path, key)
    if got is None:
        got = compute()
        write(path, key, got)
    return got


def read(path: Path, key: BuildKey) -> dict[str, np.ndarray] | None:
    """The kept arrays when they were computed for this very ``key``, else None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key.text():
                return None
            return {name: f[name] for name in f.files if name != "key"}
    except (OSError, KeyError, ValueError):
        return None  # absent, from another build, or unreadable: computed afresh


def write(path: Path, key: BuildKey, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key.text()), **arrays)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:  # a read-only index folder: the memory cache still serves
        log.warning("could not keep %s (%s)", path, exc)
