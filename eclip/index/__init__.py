"""Embeddings of a dataset under a checkpoint, cached on disk, plus 2-D UMAP coordinates.

An index is found by content: ``<cache>/<weights_sha256[:12]>-<data fingerprint>/``, holding
L2-normalised image embeddings (one per manifest row), text embeddings (one per unique
report), the row mapping between them, and meta.json, written last to mark it complete.
The file format is described in ``store``.

* ``keys``        the cache root (``$ECLIP_INDEX_DIR``), checkpoint identity, the index folder
* ``store``       the on-disk format; ``load_index`` / ``open_index`` refuse stale indexes
* ``build``       ``build_index``: chunked, resumable, sharded under ``torchrun``
* ``projection``  the joint, seeded 2-D UMAP of images and reports
* ``cli``         ``python -m eclip.index build --checkpoint DIR --data DIR`` and ``info``
"""

from __future__ import annotations

from eclip.index.build import CHUNK_ROWS, build_index
from eclip.index.cli import main
from eclip.index.keys import CACHE_ENV, checkpoint_identity, default_cache_root, index_dir
from eclip.index.projection import compute_umap, umap_2d
from eclip.index.store import (INDEX_VERSION, META, EmbeddingIndex, IndexMissing, StaleIndex,
                               load_index, open_index)

__all__ = [
    "CACHE_ENV", "CHUNK_ROWS", "INDEX_VERSION", "META", "EmbeddingIndex", "IndexMissing",
    "StaleIndex", "build_index", "checkpoint_identity", "compute_umap", "default_cache_root",
    "index_dir", "load_index", "main", "open_index", "umap_2d",
]
