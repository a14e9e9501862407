"""How far an image is from what the model was trained on: its k-nearest-neighbour distance in
the image-embedding space to a sample of the model's own training images, read as a
percentile of those images' leave-one-out kNN distances.

The sample ships in the checkpoint folder (``train_reference.safetensors``, written by
``eclip evaluate card``), never taken from the folder being shown: measured against the shown
folder, an imported set of real films is typical of itself (real films scored a median
percentile of 53 that way, 96.5 against the model's training images). So one image gets one
score, whatever folder it is shown in; a checkpoint without the file has no typicality.

Percentile 50 is as close to the training images as a typical training image is to the
others; 100 is farther than every one of them. An image whose copy is in the sample (a
training image) is left out of its own neighbours, as each sample image is in the scale.

Cost: the sample is at most SAMPLE_MAX images and BYTES_MAX of float16 (at D = 256: 1,024
images, 0.5 MB); scoring one image is one N x D product (~0.1 ms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eclip.errors import EvaluationError
from eclip.io import atomic_write_bytes
from eclip.memo import BoundedCache

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

K = 10
SAMPLE_MAX = 2_000  # training images in the shipped reference (a seeded sample beyond this)
BYTES_MAX = 512 * 1024  # ... and at most this much float16 beside the weights (D = 256: 1,024 images)
REFERENCE_FILE = "train_reference.safetensors"
# An image at this cosine distance or closer to a sample image is that image (a training
# image shown again): float16 storage moved demo-eclip's copies by ~4e-5, bf16 encoding by
# ~1e-5, while its closest two distinct training images were 2.6e-3 apart.
SELF_DISTANCE = 2e-4
CHUNK = 512  # query rows per matrix product
UNUSUAL, FAR = 90.0, 99.0  # percentile bands named by ``Typicality.verdict``
TYPICALITY_CACHE = BoundedCache(8, "typicality references")


class TypicalityUnavailable(EvaluationError):
    """The checkpoint has no usable reference of its training images."""


@dataclass(frozen=True)
class Typicality:
    distance: float  # mean cosine distance (1 - similarity) to the k nearest training images
    percentile: float  # share (0-100) of training images whose own distance is smaller
    k: int
    n_reference: int

    @property
    def verdict(self) -> str:
        if self.percentile >= FAR:
            return "far from every training image"
        return "unusual" if self.percentile >= UNUSUAL else "typical"

    def line(self) -> str:
        """One line for a text output: 'typical (percentile 77 against 1,626 of the model's
        training images)'."""
        return (f"{self.verdict} (percentile {self.percentile:.0f} against {self.n_reference:,} "
                f"of the model's training images, k = {self.k})")


@dataclass(frozen=True)
class TypicalityReference:
    bank: np.ndarray  # [N, D] L2-normalised training embeddings (float16 values, as shipped)
    scores: np.ndarray  # [N] sorted leave-one-out kNN distances of the bank's images
    k: int
    meta: dict = field(default_factory=dict)  # weights_sha256, data root and fingerprint, seed

    def score(self, embedding: np.ndarray) -> Typicality:
        """Typicality of one L2-normalised embedding; its own copy in the bank, if any, is
        not one of its neighbours (so a training image scores as the scale's images did)."""
        query = np.atleast_2d(np.asarray(embedding, dtype=np.float32))
        dist = float(knn_distance(query, self.bank, self.k, np.array([self.own_copy(query[0])]))[0])
        below = np.searchsorted(self.scores, dist, side="left")
        ties = np.searchsorted(self.scores, dist, side="right") - below
        pct = 100.0 * (below + ties / 2) / len(self.scores)
        return Typicality(dist, float(pct), self.k, len(self.scores))

    def own_copy(self, query: np.ndarray) -> int:
        """Bank position of the query's own copy (within SELF_DISTANCE), else -1."""
        sims = self.bank @ query
        best = int(np.argmax(sims))
        return best if 1.0 - float(sims[best]) <= SELF_DISTANCE else -1


def knn_distance(queries: np.ndarray, bank: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance of each query to its ``k`` nearest bank rows; ``exclude[i]`` is
    a bank position query i may not count (itself), or -1."""
    queries = np.asarray(queries, dtype=np.float32)
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), CHUNK):
        sims = queries[start:start + CHUNK] @ np.asarray(bank, dtype=np.float32).T
        if exclude is not None:
            skip = exclude[start:start + CHUNK]
            hit = skip >= 0
            sims[np.flatnonzero(hit), skip[hit]] = -np.inf
        kk = min(k, sims.shape[1] - (0 if exclude is None else 1))
        top = -np.partition(-sims, kk - 1, axis=1)[:, :kk]
        out[start:start + CHUNK] = 1.0 - top.mean(axis=1)
    return out


def sample_rows(n: int, dim: int, limit: int = SAMPLE_MAX, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded sample of ``n`` training images of embedding size ``dim``
    (at most ``limit``, and BYTES_MAX of float16): the images a reference is built from."""
    limit = max(K + 1, min(limit, BYTES_MAX // (2 * max(dim, 1))))
    rows = np.arange(n)
    if n > limit:
        rows = np.random.default_rng(seed).choice(rows, size=limit, replace=False)
    return np.sort(rows)


def fit_reference(embeddings: np.ndarray, k: int = K, meta: dict | None = None) -> TypicalityReference:
    """The reference of the given training embeddings: rounded to float16 first, as they are
    shipped, so the scale is the one a loaded reference scores against."""
    bank = np.asarray(np.asarray(embeddings, dtype=np.float16), dtype=np.float32)
    if len(bank) < k + 1:
        raise EvaluationError(f"typicality needs at least {k + 1} training images, got {len(bank)}; "
                              "the training corpus's 'train' split is too small.")
    own = np.arange(len(bank))
    # float16 as shipped: a reference just fitted scores exactly as the one loaded from disk
    scores = np.sort(knn_distance(bank, bank, k, exclude=own).astype(np.float16).astype(np.float64))
    return TypicalityReference(bank, scores, k, dict(meta or {}))


# --------------------------------------------------------------------------- the shipped file
def save_reference(folder: str | os.PathLike, ref: TypicalityReference) -> Path:
    """``train_reference.safetensors`` in ``folder`` (float16, temp file + rename)."""
    from safetensors.numpy import save

    path = Path(folder) / REFERENCE_FILE
    meta = {str(key): str(value) for key, value in {**ref.meta, "k": ref.k}.items()}
    atomic_write_bytes(path, save({"embeddings": ref.bank.astype(np.float16),
                                   "scores": ref.scores.astype(np.float16)}, metadata=meta))
    return path


def load_reference(folder: str | os.PathLike, weights_sha256: str = "") -> TypicalityReference:
    """The checkpoint's reference; TypicalityUnavailable says why there is none (no file, an
    unreadable one, or one written for other weights: its distances would mean nothing)."""
    path = Path(folder) / REFERENCE_FILE
    try:
        st = path.stat()
    except OSError:
        raise TypicalityUnavailable(
            f"the checkpoint {Path(folder).name} holds no sample of its training images "
            f"({REFERENCE_FILE}); write it with `eclip evaluate card --checkpoint DIR`") from None
    ref = TYPICALITY_CACHE.get_or_compute((str(path.resolve()), st.st_mtime_ns, st.st_size),
                                          lambda: _read(path))
    made_for = ref.meta.get("weights_sha256", "")
    if weights_sha256 and made_for != weights_sha256:
        raise TypicalityUnavailable(
            f"{path} was written for other weights ({made_for[:12] or 'unknown'}...); rewrite it with "
            "`eclip evaluate card --checkpoint DIR`")
    return ref


def _read(path: Path) -> TypicalityReference:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "numpy") as f:
            meta = dict(f.metadata() or {})
            bank = f.get_tensor("embeddings").astype(np.float32)
            scores = np.sort(f.get_tensor("scores").astype(np.float64))
        return TypicalityReference(bank, scores, int(meta.get("k", K)), meta)
    except Exception as exc:  # safetensors raises its own error types, numpy ValueError
        raise TypicalityUnavailable(f"{path} is not a readable reference ({exc}); rewrite it with "
                                    "`eclip evaluate card --checkpoint DIR`") from exc


def of_model(lm: LoadedModel, embedding: np.ndarray) -> Typicality:
    """The typicality of one embedding under a loaded model's own reference."""
    return load_reference(lm.path, lm.weights_sha256).score(embedding)


def describe(lm: LoadedModel, embedding: np.ndarray) -> str:
    """'typical (percentile 77 ...)', or 'unavailable: why', for a line of text output."""
    try:
        return of_model(lm, embedding).line()
    except TypicalityUnavailable as exc:
        return f"unavailable: {exc}"
