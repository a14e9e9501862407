"""Where an index lives: the cache root and the key of a checkpoint + dataset pair.

The key is ``<weights_sha256[:12]>-<data fingerprint>`` (plus ``-bf16`` for an index embedded
in bf16), so an index is found again by content, not by path: moving a checkpoint keeps its
index, retraining it does not. The hashes here must stay stable, or every index already on
disk would be orphaned.
"""

from __future__ import annotations

from pathlib import Path

from eclip.data.manifest import fingerprint
from eclip.errors import EvaluationError
from eclip.io import sha256_file
from eclip.memo import BoundedCache
from eclip.model.precision import checkpoint_precision
from eclip.settings import settings

CACHE_ENV = "ECLIP_INDEX_DIR"

# sha256 per (resolved path, size, mtime): every page load checks the checkpoint's identity,
# and hashing tens of MiB of weights each time would dominate opening an index.
_SHA_CACHE = BoundedCache(256, name="checkpoint file sha256")


def default_cache_root() -> Path:
    """``$ECLIP_INDEX_DIR`` if set, else ``.cache/index`` in the repository (git-ignored),
    whatever the working directory (eclip.settings)."""
    return settings().index_dir


def cached_sha256(path: str | Path) -> str:
    """``eclip.io.sha256_file``, memoised per (path, size, mtime) so repeated loads stay fast."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    return _SHA_CACHE.get_or_compute(key, lambda: sha256_file(path))


def checkpoint_identity(checkpoint: str | Path) -> dict:
    """What an index depends on in a checkpoint: the weights file and the config."""
    ckpt = Path(checkpoint)
    weights, config = ckpt / "model.safetensors", ckpt / "config.json"
    for f in (weights, config):
        if not f.is_file():
            raise EvaluationError(f"{ckpt} is not a checkpoint folder: {f.name} is missing "
                                  "(a checkpoint holds model.safetensors, config.json, card.json)")
    return {"weights_sha256": cached_sha256(weights), "config_sha256": cached_sha256(config)}


def data_fingerprint(data: str | Path) -> str:
    """The dataset's manifest fingerprint, with an error that says what ``data`` should be."""
    try:
        return fingerprint(data)
    except OSError as exc:
        raise EvaluationError(f"{data}: no readable manifest.csv ({exc}); is this a dataset folder?") from exc


def index_precision(checkpoint: str | Path, precision: str | None = None) -> str:
    """The precision (``fp32`` / ``bf16``) an index of ``checkpoint`` is built in, for the
    setting ``precision`` (None or ``auto``: decided by ``eclip.model.precision``)."""
    return checkpoint_precision(checkpoint, precision)


def expected_identity(checkpoint: str | Path, data: str | Path, precision: str | None = None) -> dict:
    """What a current index's meta.json must record: weights, config and data hashes, and,
    for a bf16 index, its precision (fp32 indexes built before precisions existed stay valid)."""
    ident = {**checkpoint_identity(checkpoint), "data_fingerprint": data_fingerprint(data)}
    resolved = index_precision(checkpoint, precision)
    return ident if resolved == "fp32" else {**ident, "precision": resolved}


def index_dir(checkpoint: str | Path, data: str | Path, cache_root: str | Path | None = None,
              precision: str | None = None) -> Path:
    """The folder of the index of ``checkpoint`` over ``data`` (whether built or not); a
    bf16 index gets its own folder (key suffix ``-bf16``), so the two never overwrite or
    answer for each other."""
    ident = checkpoint_identity(checkpoint)
    resolved = index_precision(checkpoint, precision)
    suffix = "" if resolved == "fp32" else f"-{resolved}"
    key = f"{ident['weights_sha256'][:12]}-{data_fingerprint(data)}{suffix}"
    return Path(cache_root or default_cache_root()) / key
