"""A ``Case`` loaded for a page: pixels at working size, an image id for caches, and the
manifest row (None for an upload: no labels, no report, no gaze); and what a model computes
from it (embedding, attribution map). Whatever is computed from an upload goes through
``session_memo``, never a cache other sessions share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from app.components import loaders, upload
from app.components.case.current_case import UPLOAD_ID
from app.core import cases
from eclip.errors import EclipError
from eclip.explain import attribution_map
from eclip.explain.maps import is_cached
from eclip.io import sha256_text
from eclip.model.encode import encode_pixels

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex
    from eclip.model.checkpoint import LoadedModel


_MEMO, MEMO_ITEMS = "_upload_memo", 16  # a handful of maps and one embedding per upload


@dataclass(frozen=True)
class Case:
    id: str
    pixels: np.ndarray  # float32 HxW [0, 1], working size (the model's input)
    image_id: str  # cache key: dataset and case, or the upload's content
    row: pd.Series | None = None  # None: the session's upload

    @property
    def is_upload(self) -> bool:
        return self.row is None

    @property
    def simulated(self) -> bool:
        return self.row is not None and bool(cases.is_simulated(self.row.to_frame().T).iloc[0])


def load(root: str, manifest: pd.DataFrame, case_id: str) -> Case:
    """The case ``case_id``: the upload as shown, or the dataset row and its stored image.
    Raises EclipError when the image cannot be read."""
    if case_id == UPLOAD_ID:
        pixels = upload.pixels()
        if pixels is None:
            raise EclipError("The uploaded image is gone (a new session, or it was removed): "
                             "upload it again on the Case browser.")
        return Case(UPLOAD_ID, pixels, f"upload:{sha256_text(pixels.tobytes(), 16)}")
    row = manifest.loc[manifest["id"] == case_id].iloc[0]
    return Case(case_id, loaders.load_image(root, row["image_path"]), f"{root}:{case_id}", row)


def _memo() -> dict:
    return st.session_state.setdefault(_MEMO, {})


def forget_memo() -> None:
    """Forget what was computed from the previous upload (a new one replaces it)."""
    _memo().clear()


def session_memo(key: tuple, compute):
    """``compute()`` once per key in this session (an upload's embedding and maps)."""
    memo = _memo()
    if key not in memo:
        while len(memo) >= MEMO_ITEMS:
            memo.pop(next(iter(memo)))
        memo[key] = compute()
    return memo[key]


def embedding(lm: LoadedModel, index: EmbeddingIndex | None, case: Case) -> np.ndarray:
    """L2-normalised image embedding: the index's row, or the upload through the model."""
    if not case.is_upload:
        return np.asarray(index.image_emb[index.row_of(case.id)])
    return session_memo(("emb", lm.weights_sha256, case.image_id), lambda: encode_pixels(lm, case.pixels))


def attribution(lm: LoadedModel, case: Case, prompt: str, method: str) -> np.ndarray:
    """``attribution_map`` for the case: a dataset image through the shared map cache, an
    upload computed for this session only."""
    if not case.is_upload:
        return attribution_map(lm, case.pixels, prompt, method, image_id=case.image_id)
    return session_memo(("map", lm.weights_sha256, case.image_id, prompt, method),
                        lambda: attribution_map(lm, case.pixels, prompt, method, use_cache=False))


def map_is_cached(lm: LoadedModel, case: Case, prompt: str, method: str) -> bool:
    """Whether ``attribution`` answers at once (a slow map waits for the heavy-job slot)."""
    if case.is_upload:
        return ("map", lm.weights_sha256, case.image_id, prompt, method) in _memo()
    return is_cached(lm, case.pixels, prompt, method, image_id=case.image_id)
