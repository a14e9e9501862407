"""The on-disk format of an index, and opening one safely.

An index lives in ``<cache>/<weights_sha256[:12]>-<data fingerprint>/`` (see ``keys``):

* ``image_emb.npy``  float32 [N, D], L2-normalised, one row per manifest row (in order)
* ``text_emb.npy``   float32 [U, D], one row per *unique* report text
* ``text_index.npy`` int64 [N], the row of each image's report in ``text_emb``
* ``ids.json``, ``texts.json``; ``umap_image.npy`` [N, 2] and ``umap_text.npy`` [U, 2]
  from one joint UMAP fit (so the modality gap is visible), when computed
* ``meta.json``, written last: its presence marks a complete index; it records the weights
  hash, data fingerprint and config hash, which ``load_index`` checks before use.

Readers never get an index of other weights, config or data: they get ``StaleIndex``.
Writers (``build``, ``projection``) go through ``save_npy`` and ``write_meta``, which are
atomic, so a killed process leaves the old file or the new one.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eclip.errors import EvaluationError
from eclip.index.keys import expected_identity, index_dir
from eclip.io import atomic_write_bytes, atomic_write_text, write_json

INDEX_VERSION = 1
META = "meta.json"
GATHER_SHARE = 4  # selections up to 1/4 of the rows are gathered first, larger ones scored whole


class IndexMissing(EvaluationError):
    """No complete index exists yet for this checkpoint and dataset."""


class StaleIndex(IndexMissing):
    """The index on disk belongs to other weights, another config or other data: there is
    no *current* index (so callers that build a missing index rebuild this one too)."""


@dataclass
class EmbeddingIndex:
    path: Path
    meta: dict
    ids: list[str]
    texts: list[str]
    image_emb: np.ndarray
    text_emb: np.ndarray
    text_index: np.ndarray
    umap_image: np.ndarray | None = None
    umap_text: np.ndarray | None = None
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, item_id: str) -> int:
        if not self._row:
            self._row = {i: r for r, i in enumerate(self.ids)}
        return self._row[item_id]

    def report_of(self, item_id: str) -> int:
        """The row of an image's own report in ``texts`` / ``text_emb``."""
        return int(self.text_index[self.row_of(item_id)])

    def image_text_scores(self, query_emb: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of every (selected) image with each query vector: [N, Q].

        A large selection is scored over the whole contiguous matrix and then picked out:
        gathering 97 % of 200,000 memory-mapped rows first copied 200 MB per query."""
        q = _unit_rows(query_emb)
        if rows is not None and len(rows) <= len(self) // GATHER_SHARE:
            return np.asarray(self.image_emb[rows]) @ q.T
        scores = np.asarray(self.image_emb) @ q.T
        return scores if rows is None else scores[rows]

    def text_scores(self, query_emb: np.ndarray) -> np.ndarray:
        """Cosine similarity of every unique report text with one query vector: [U]."""
        return np.asarray(self.text_emb) @ _unit_rows(query_emb)[0]

    def nearest_images(self, query_emb: np.ndarray, rows: np.ndarray, k: int,
                       exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` images among ``rows`` closest to one query vector, with the index row
        ``exclude`` (the query image itself) left out: (their positions in ``rows``, best
        first; the similarity of every image in ``rows``)."""
        scores = self.image_text_scores(query_emb, rows)[:, 0]
        keep = np.asarray(rows) != (-1 if exclude is None else exclude)
        return top_k(np.where(keep, scores, -np.inf), k), scores


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """[Q, D] float32, each row L2-normalised (a single vector becomes one row)."""
    q = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    return q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)


def rank_of(scores: np.ndarray, position: int) -> int:
    """1 + how many ``scores`` are strictly above the one at ``position`` (ties share a rank)."""
    scores = np.asarray(scores)
    return int((scores > scores[position]).sum()) + 1


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``scores``, best first, ties in position order: the
    same as ``np.argsort(-scores, kind="stable")[:k]`` without sorting everything
    (``argpartition`` is O(N); a full sort of 200,000 scores is ~15 ms a query)."""
    scores = np.asarray(scores).ravel()
    k = max(0, min(int(k), len(scores)))
    if k == 0:
        return np.empty(0, np.int64)
    if k == len(scores):
        return np.argsort(-scores, kind="stable")
    cut = scores[np.argpartition(-scores, k - 1)[k - 1]]  # the k-th largest value
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)[:k - len(above)]  # the earliest of the ties
    top = np.concatenate([above, tied])
    return top[np.lexsort((top, -scores[top]))]


def load_index(checkpoint: str | Path, data: str | Path, cache_root: str | Path | None = None,
               mmap: bool = True, precision: str | None = None) -> EmbeddingIndex:
    """Open the index of ``checkpoint`` over ``data``; memory-maps the arrays. ``precision``
    (None = the default, ``auto``) picks the fp32 or the bf16 index, as ``build_index`` does.

    Raises ``IndexMissing`` when none is built and ``StaleIndex`` when the one on disk does
    not match the current weights, config or data."""
    path = index_dir(checkpoint, data, cache_root, precision)
    expect = expected_identity(checkpoint, data, precision)
    if not (path / META).is_file():
        _refuse_stale_neighbours(path.parent, checkpoint, data)
    return open_index(path, expect, mmap=mmap)


def _refuse_stale_neighbours(root: Path, checkpoint: str | Path, data: str | Path) -> None:
    """When the exact index is missing but one exists for the same checkpoint folder and
    dataset folder, the weights or data changed since: say so instead of 'not built'."""
    ckpt, data = str(Path(checkpoint).resolve()), str(Path(data).resolve())
    for meta_file in sorted(root.glob(f"*/{META}")) if root.is_dir() else []:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("checkpoint") == ckpt and meta.get("data") == data:
            raise StaleIndex(
                f"the index {meta_file.parent} for {ckpt} over {data} is stale: the weights or "
                "the manifest changed since it was built, so it is not used. Rebuild with: "
                f"python -m eclip.index build --checkpoint {ckpt} --data {data}")


def open_index(path: str | Path, expect: dict | None = None, mmap: bool = True) -> EmbeddingIndex:
    """Open the index folder ``path``, refusing it unless its meta.json matches ``expect``."""
    path = Path(path)
    if not (path / META).is_file():
        raise IndexMissing(f"no complete index in {path}. Build it with: python -m eclip.index "
                           "build --checkpoint DIR --data DIR")
    meta = read_meta(path)
    for key, value in (expect or {}).items():
        if meta.get(key) != value:
            raise StaleIndex(f"index {path} is stale: its {key} is {str(meta.get(key))[:16]}..., "
                             f"the current one is {str(value)[:16]}.... Rebuild it with "
                             "python -m eclip.index build --force ...")
    if meta.get("version") != INDEX_VERSION:
        raise StaleIndex(f"index {path} has format version {meta.get('version')}, this code reads "
                         f"{INDEX_VERSION}; rebuild it with --force")
    mode = "r" if mmap else None
    ids = json.loads((path / "ids.json").read_text(encoding="utf-8"))
    texts = json.loads((path / "texts.json").read_text(encoding="utf-8"))
    idx = EmbeddingIndex(
        path=path, meta=meta, ids=ids, texts=texts,
        image_emb=np.load(path / "image_emb.npy", mmap_mode=mode),
        text_emb=np.load(path / "text_emb.npy", mmap_mode=mode),
        text_index=np.load(path / "text_index.npy"),
    )
    if (path / "umap_image.npy").is_file():
        idx.umap_image = np.load(path / "umap_image.npy")
        idx.umap_text = np.load(path / "umap_text.npy")
    if len(idx.image_emb) != len(ids) or len(idx.text_emb) != len(texts):
        raise StaleIndex(f"index {path} is inconsistent (array and id counts differ); rebuild with --force")
    return idx


def read_meta(path: Path) -> dict:
    return json.loads((Path(path) / META).read_text(encoding="utf-8"))


def write_meta(path: Path, meta: dict) -> None:
    """meta.json, atomically: written last, its presence marks the index complete."""
    write_json(Path(path) / META, meta, indent=1)


def write_list(path: Path, items: list[str]) -> None:
    """ids.json / texts.json: compact (one line), as they can hold hundreds of thousands of items."""
    atomic_write_text(path, json.dumps(list(items)))


def save_npy(path: Path, arr: np.ndarray) -> None:
    """An .npy file, atomically."""
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())
