"""Cached, read-only loaders. ``st.cache_data`` for tables and arrays (copied per caller),
``st.cache_resource`` for models (one object shared by every browser session, so nobody may
modify it). Every cached function takes the file's mtime so a rebuilt file is reloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from eclip.data.gaze import load_heatmap as read_heatmap
from eclip.data.images import load_working
from eclip.data.manifest import fingerprint, manifest_path, read_manifest
from eclip.errors import GazeFormatError, ManifestError, ModelError
from eclip.model.card import gaze_use
from eclip.settings import settings

from app.core import cases

if TYPE_CHECKING:
    from eclip.index.store import EmbeddingIndex


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


@dataclass(frozen=True)
class DatasetInfo:
    root: str
    fingerprint: str
    rows: int
    with_gaze: int
    simulated: int  # rows whose manifest says simulated = 1


# Read once per process and manifest version, one DataFrame shared by every session: at
# 200,000 rows (a 76 MB manifest.csv) st.cache_data's copy per call (a pickle round trip) cost
# ~1 s, three times per page run. Shared means read-only: never modify it in place (pandas'
# copy-on-write keeps every frame derived from it independent).
@st.cache_resource(show_spinner="Reading manifest…", max_entries=4)
def _manifest(root: str, mtime: int) -> pd.DataFrame:
    return read_manifest(root)


def load_manifest(root: str | Path) -> pd.DataFrame:
    """The shared, read-only manifest (raises ManifestError with a fix when the folder is
    not a dataset)."""
    return _manifest(str(root), _mtime(manifest_path(root)))


@st.cache_resource(max_entries=8)
def _dataset_info(root: str, mtime: int) -> DatasetInfo:
    df = _manifest(root, mtime)
    return DatasetInfo(root=root, fingerprint=fingerprint(root), rows=len(df),
                       with_gaze=int(cases.has_gaze(df).sum()),
                       simulated=int(cases.is_simulated(df).sum()))


def dataset_info(root: str | Path) -> DatasetInfo:
    """Counts and fingerprint of the manifest, once per manifest version (the sidebar asks
    twice per run, and hashing a 76 MB manifest takes 0.1-0.3 s)."""
    return _dataset_info(str(root), _mtime(manifest_path(root)))


@st.cache_data(max_entries=256)
def _image(path: str, mtime: int) -> np.ndarray:
    return load_working(path)


def load_image(root: str | Path, rel: str) -> np.ndarray:
    """A stored working image as float32 HxW in [0, 1]."""
    path = Path(root) / rel
    return _image(str(path), _mtime(path))


THUMBNAIL_SIDE = 512  # px: sharp in a gallery of 1 to 6 columns


@st.cache_data(max_entries=1024)
def _thumbnail(path: str, mtime: int, side: int) -> bytes:
    import io

    from PIL import Image

    img = Image.fromarray((np.clip(load_working(path), 0, 1) * 255).round().astype(np.uint8))
    img.thumbnail((side, side), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def load_thumbnail(root: str | Path, rel: str, side: int = THUMBNAIL_SIDE) -> bytes:
    """A stored image as a JPEG at most ``side`` px on its longer side, encoded once: a
    gallery of 12 full-size arrays was PNG-encoded on every run (~0.25 s)."""
    path = Path(root) / rel
    return _thumbnail(str(path), _mtime(path), side)


@st.cache_data(max_entries=256)
def _heatmap(path: str, mtime: int) -> np.ndarray:
    return read_heatmap(path)


def load_heatmap(root: str | Path, rel: str, shape: tuple[int, int]) -> np.ndarray:
    path = Path(root) / rel
    hm = _heatmap(str(path), _mtime(path))
    if hm.shape != tuple(shape):
        raise GazeFormatError(f"{path}: heatmap is {hm.shape} but its image is {tuple(shape)}; "
                              "heatmaps must align pixel for pixel with the stored image.")
    return hm


@st.cache_data(max_entries=256)
def _npz(path: str, mtime: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: mask file missing; rebuild or re-import the dataset.") from exc
    except (ValueError, OSError) as exc:
        raise ManifestError(f"{path}: not a readable .npz mask file ({exc}).") from exc


def load_masks(root: str | Path, rel: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Ground-truth finding masks: one boolean array per finding name."""
    path = Path(root) / rel
    arrays = _npz(str(path), _mtime(path))
    masks = {k: v.astype(bool) for k, v in arrays.items() if v.shape == tuple(shape) and v.any()}
    return masks


@st.cache_data(max_entries=32)
def _card(path: str, mtime: int, config_mtime: int) -> dict:
    try:
        card = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if "gaze" not in card:  # a card written before it said how gaze entered: from config.json
        try:
            method = json.loads((Path(path).parent / "config.json").read_text()).get("method")
        except (OSError, ValueError, AttributeError):
            method = None
        if isinstance(method, dict):
            card["gaze"] = gaze_use(method)
    return card


def load_card(checkpoint: str | Path) -> dict:
    """The checkpoint's card.json ({} when missing or unreadable), with how gaze entered its
    training ("gaze") taken from config.json where the card does not say."""
    path = Path(checkpoint) / "card.json"
    return _card(str(path), _mtime(path), _mtime(Path(checkpoint) / "config.json"))


@st.cache_resource(show_spinner="Loading model…", max_entries=2)
def _model(path: str, weights_mtime: int):
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.model.checkpoint import load_model

    return load_model(path, device="cpu")


def load_model(checkpoint: str | Path):
    """The shared LoadedModel for a checkpoint folder. Read-only: never train or mutate it."""
    path = Path(checkpoint)
    if not path.is_dir():
        raise ModelError(f"{path}: checkpoint folder not found; pick another in the sidebar.")
    return _model(str(path), _mtime(path / "model.safetensors"))


def index_cache_root() -> Path:
    """Where embedding indexes live: $ECLIP_INDEX_DIR, else .cache/index in the repository
    (eclip.settings; passed explicitly to the index jobs the app starts)."""
    return settings().index_dir


@st.cache_resource(show_spinner="Opening embedding index…", max_entries=4)
def _index(checkpoint: str, data: str, cache: str, stamp: tuple):
    """The index, or the IndexMissing / StaleIndex saying why there is none: kept as well,
    because a compare model without an index over a 200,000-case dataset was otherwise
    looked up again (the manifest hashed, ~0.3 s) on every run of every model page."""
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.index import IndexMissing, StaleIndex, load_index

    try:
        return load_index(checkpoint, data, cache_root=cache)
    except (IndexMissing, StaleIndex) as exc:
        return exc


@st.cache_resource(max_entries=16)
def _index_dir(checkpoint: str, data: str, cache: str, stamp: tuple) -> Path:
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.index import index_dir

    return index_dir(checkpoint, data, cache)


def load_index(checkpoint: str | Path, data: str | Path):
    """The checkpoint's memory-mapped EmbeddingIndex over ``data`` (shared, read-only).
    Raises eclip.index.IndexMissing / StaleIndex with the command that fixes it."""
    cache = index_cache_root()
    files = (_mtime(Path(checkpoint) / "model.safetensors"), _mtime(manifest_path(data)))
    # the folder's name hashes the manifest: once per weights and manifest version
    path = _index_dir(str(checkpoint), str(data), str(cache), files)
    got = _index(str(checkpoint), str(data), str(cache), (*files, _mtime(path / "meta.json")))
    if isinstance(got, Exception):
        raise type(got)(str(got))  # a fresh one: re-raising the kept one would grow its traceback
    return got


GEOMETRY_MAX = 2000  # uniformity is O(N^2): measured on a seeded subsample beyond this


@st.cache_resource(max_entries=8)
def _geometry(key: tuple, _index) -> dict[str, float]:
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.evaluate.metrics import alignment, modality_gap, uniformity

    n = len(_index)
    rows = np.arange(n)
    if n > GEOMETRY_MAX:
        rows = np.sort(np.random.default_rng(0).choice(n, GEOMETRY_MAX, replace=False))
    img = np.asarray(_index.image_emb[rows])
    paired = np.asarray(_index.text_emb)[_index.text_index[rows]]
    return {"modality gap": modality_gap(img, np.asarray(_index.text_emb)),
            "alignment": alignment(img, paired), "uniformity (images)": uniformity(img),
            "sample": int(len(rows))}


def index_geometry(index: EmbeddingIndex) -> dict[str, float]:
    """Modality gap, alignment and uniformity of an index, once per index build (the gap
    normalises every report embedding: ~0.8 s per Embeddings run at 200,000 cases)."""
    return _geometry((str(index.path), index.meta.get("created_at"), len(index)), index)


@st.cache_resource(max_entries=16)
def _rows_match(key: tuple, _ids: list, _manifest: pd.DataFrame) -> bool:
    return len(_ids) == len(_manifest) and bool(
        np.array_equal(np.asarray(_ids, dtype=object), _manifest["id"].to_numpy(dtype=object)))


def index_matches(index: EmbeddingIndex, root: str | Path) -> bool:
    """Whether ``index`` has one row per manifest row, in order. Checked once per index and
    manifest version: listing 200,000 ids took ~0.6 s of every page run."""
    key = (str(index.path), _mtime(Path(index.path) / "meta.json"), str(root),
           _mtime(manifest_path(root)))
    return _rows_match(key, index.ids, load_manifest(root))


@st.cache_data(show_spinner="Encoding text…", max_entries=256)
def _texts(checkpoint: str, stamp: int, texts: tuple[str, ...]) -> np.ndarray:
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.model.encode import encode_texts

    return encode_texts(_model(checkpoint, stamp), list(texts))


def encode_texts(checkpoint: str | Path, texts: list[str]) -> np.ndarray:
    """L2-normalised text embeddings [len(texts), D] under the shared model (cached)."""
    load_model(checkpoint)  # the same error handling as everywhere
    return _texts(str(checkpoint), _mtime(Path(checkpoint) / "model.safetensors"), tuple(texts))


@st.cache_data(show_spinner="Encoding prompts…", max_entries=32)
def _prompt_set(checkpoint: str, stamp: int, path: str, file_stamp: int):
    # lazy: torch; the first paint and Admin load this module without a model
    from eclip.model.encode import encode_prompt_sets
    from eclip.model.prompts import load_prompt_set

    ps = load_prompt_set(path)
    return ps, encode_prompt_sets(_model(checkpoint, stamp), [ps])[ps.name]


def prompt_set_embeddings(checkpoint: str | Path, path: str | Path):
    """(PromptSet, class embeddings) for a prompt file: [C, D] multiclass, [L, 2, D] binary."""
    load_model(checkpoint)
    return _prompt_set(str(checkpoint), _mtime(Path(checkpoint) / "model.safetensors"),
                       str(path), _mtime(Path(path)))


__all__ = ["encode_texts", "index_cache_root", "index_matches", "load_index",
           "prompt_set_embeddings", "DatasetInfo", "ManifestError", "dataset_info", "load_card",
           "load_heatmap", "load_image", "load_manifest", "load_masks", "load_model"]
