"""The film figure: its PNG is encoded once per distinct film, never served stale."""

import base64
import io

import numpy as np
from PIL import Image

from app.render import overlay


def _decoded(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_a_film_is_encoded_once_and_a_changed_pixel_is_encoded_anew(monkeypatch):
    overlay._PNG_URIS._items.clear()
    calls = []
    encode = overlay._encode_png
    monkeypatch.setattr(overlay, "_encode_png", lambda grey: calls.append(1) or encode(grey))
    film = np.random.default_rng(0).random((40, 32), dtype=np.float32)
    figures = [overlay.overlay_figure(film, film, label=str(i)) for i in range(3)]
    sources = {f.data[0].source for f in figures}
    assert len(calls) == 1 and len(sources) == 1
    assert np.array_equal(_decoded(sources.pop()), np.clip(film * 255 + 0.5, 0, 255).astype(np.uint8))
    other = film.copy()
    other[5, 7] = 1.0 - other[5, 7]
    uri = overlay.overlay_figure(other).data[0].source
    assert len(calls) == 2 and _decoded(uri)[5, 7] == np.uint8(np.clip(other[5, 7] * 255 + 0.5, 0, 255))
