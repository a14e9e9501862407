"""Cached, read-only loaders. ``st.cache_data`` for tables and arrays (copied per caller),
``st.cache_resource`` for models (one object shared by every browser session, so nobody may
modify it). Every cached function takes the file's mtime so a rebuilt file is reloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from eclip.data.gaze import load_heatmap as read_heatmap
from eclip.data.images import load_working
from eclip.data.manifest import fingerprint, manifest_path, read_manifest
from eclip.errors import GazeFormatError, ManifestError, ModelError

from app import cases


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


@st.cache_data(show_spinner="Reading manifest…", max_entries=4)
def _manifest(root: str, mtime: int) -> pd.DataFrame:
    return read_manifest(root)


def load_manifest(root: str | Path) -> pd.DataFrame:
    """The manifest (raises ManifestError with a fix when the folder is not a dataset)."""
    return _manifest(str(root), _mtime(manifest_path(root)))


def dataset_info(root: str | Path) -> DatasetInfo:
    df = load_manifest(root)
    return DatasetInfo(root=str(root), fingerprint=fingerprint(root), rows=len(df),
                       with_gaze=int(cases.has_gaze(df).sum()),
                       simulated=int(cases.is_simulated(df).sum()))


@st.cache_data(max_entries=256)
def _image(path: str, mtime: int) -> np.ndarray:
    return load_working(path)


def load_image(root: str | Path, rel: str) -> np.ndarray:
    """A stored working image as float32 HxW in [0, 1]."""
    path = Path(root) / rel
    return _image(str(path), _mtime(path))


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
def _card(path: str, mtime: int) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def load_card(checkpoint: str | Path) -> dict:
    """The checkpoint's card.json ({} when missing or unreadable)."""
    path = Path(checkpoint) / "card.json"
    return _card(str(path), _mtime(path))


@st.cache_resource(show_spinner="Loading model…", max_entries=2)
def _model(path: str, weights_mtime: int):
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
    (passed explicitly, so the app and the CLI agree whatever the working directory)."""
    import os

    from app.paths import ROOT

    return Path(os.environ.get("ECLIP_INDEX_DIR") or ROOT / ".cache" / "index")


@st.cache_resource(show_spinner="Opening embedding index…", max_entries=4)
def _index(checkpoint: str, data: str, cache: str, stamp: tuple):
    from eclip.index import load_index

    return load_index(checkpoint, data, cache_root=cache)


def load_index(checkpoint: str | Path, data: str | Path):
    """The checkpoint's memory-mapped EmbeddingIndex over ``data`` (shared, read-only).
    Raises eclip.index.IndexMissing / StaleIndex with the command that fixes it."""
    from eclip.index import index_dir

    cache = index_cache_root()
    path = index_dir(checkpoint, data, cache)
    stamp = (_mtime(Path(checkpoint) / "model.safetensors"), _mtime(manifest_path(data)),
             _mtime(path / "meta.json"))
    return _index(str(checkpoint), str(data), str(cache), stamp)


@st.cache_data(show_spinner="Encoding text…", max_entries=256)
def _texts(checkpoint: str, stamp: int, texts: tuple[str, ...]) -> np.ndarray:
    from eclip.model.encode import encode_texts

    return encode_texts(_model(checkpoint, stamp), list(texts))


def encode_texts(checkpoint: str | Path, texts: list[str]) -> np.ndarray:
    """L2-normalised text embeddings [len(texts), D] under the shared model (cached)."""
    load_model(checkpoint)  # the same error handling as everywhere
    return _texts(str(checkpoint), _mtime(Path(checkpoint) / "model.safetensors"), tuple(texts))


@st.cache_data(show_spinner="Encoding prompts…", max_entries=32)
def _prompt_set(checkpoint: str, stamp: int, path: str, file_stamp: int):
    from eclip.model.encode import encode_prompt_sets
    from eclip.model.prompts import load_prompt_set

    ps = load_prompt_set(path)
    return ps, encode_prompt_sets(_model(checkpoint, stamp), [ps])[ps.name]


def prompt_set_embeddings(checkpoint: str | Path, path: str | Path):
    """(PromptSet, class embeddings) for a prompt file: [C, D] multiclass, [L, 2, D] binary."""
    load_model(checkpoint)
    return _prompt_set(str(checkpoint), _mtime(Path(checkpoint) / "model.safetensors"),
                       str(path), _mtime(Path(path)))


__all__ = ["encode_texts", "index_cache_root", "load_index", "prompt_set_embeddings",
           "DatasetInfo", "ManifestError", "dataset_info", "load_card", "load_heatmap",
           "load_image", "load_manifest", "load_masks", "load_model"]
