"""A visitor's own radiograph: upload, decode, window/level.

Held in this browser session's ``st.session_state`` only: the bytes are decoded in memory by
``eclip.data.images.load_image_bytes`` (never written to disk), never passed to a cached
function shared with other sessions (st.cache_*, the library's BoundedCaches), never logged.
Patient identifiers are never read: the decoder reads pixels and display facts only, and the
file's name (which may name the patient) is dropped at once: the uploader is replaced by an
empty one as soon as the file is decoded, so the page shows only "uploaded image".

``pixels()`` is the one way to get the upload as the model pages read it (working size): as
shown, window applied, unless the visitor chose on a model page to score the stored image
(``score_stored``; app/components/model_reads.py says which on every model page); ``shown()``
is the image as the Case browser shows it.
"""

from __future__ import annotations

import functools
import math
import secrets
from dataclasses import dataclass

import numpy as np
import streamlit as st

from eclip.data.images import DisplayMeta, ImageTooLarge, NoDecoder
from eclip.data.radiograph import load_upload
from eclip.data.window import AS_STORED, CHOICES, Window, Windowable, value_range, windowable
from eclip.errors import EclipError

_UPLOAD = "_upload"  # the Upload of this session
_VIEW = "_upload_view"  # {"preset", "window"}: survives page switches (widget keys do not)
_GEN = "_upload_gen"  # bumped to replace the uploader, and the file name with it
_FAILED = "_upload_failed"  # why the last upload was refused, said once above the fresh box
_STORED = "_upload_score_stored"  # True: the model pages score the stored image, not the window
_PRESET, _CENTER, _WIDTH = "wl_preset", "wl_center", "wl_width"
CUSTOM = "custom"
ACCEPTED = "DICOM (with or without .dcm), PNG or JPEG"


@dataclass(frozen=True)
class Upload:
    source: Windowable
    facts: tuple[str, ...]  # technical facts safe to show: format, size, modality, view...
    token: str  # tells two uploads of one session apart (draft, memo)


def current() -> Upload | None:
    return st.session_state.get(_UPLOAD)


def window() -> Window | None:
    """The window the visitor chose; None shows the image as stored."""
    view = st.session_state.get(_VIEW) or {}
    return view.get("window")


def scores_stored() -> bool:
    """Whether the model pages score the stored image although a display window is chosen."""
    return bool(st.session_state.get(_STORED))


def score_stored(on: bool) -> None:
    st.session_state[_STORED] = bool(on)


def model_window() -> Window | None:
    """The window the model pages read the upload with (None: as stored)."""
    return None if scores_stored() else window()


def shown() -> np.ndarray | None:
    """The current upload as the Case browser shows it (window applied), float32 HxW [0, 1]
    at working size; None without one."""
    up = current()
    return None if up is None else up.source.render(window())


def pixels() -> np.ndarray | None:
    """The current upload as the model pages read it: as shown, or as stored when the visitor
    chose to score the stored image; float32 HxW [0, 1] at working size; None without one.
    The model pages and exports read this."""
    up = current()
    return None if up is None else up.source.render(model_window())


def remove() -> None:
    for key in (_UPLOAD, _VIEW, _STORED):
        st.session_state.pop(key, None)


def _facts(meta: DisplayMeta) -> tuple[str, ...]:
    named = (("modality", meta.modality), ("view", meta.view_position),
             ("photometric", meta.photometric), ("bits", meta.bits_stored),
             ("VOI", meta.voi_source))
    return (f"{meta.format.upper()}", f"{meta.width}×{meta.height} px",
            *(f"{name} `{value}`" for name, value in named if value))


def refusal(exc: EclipError) -> str:
    """Why an upload was refused, for whoever uploaded it: never the file's name (the decoder
    names it "uploaded image"), never code or a server setting to change."""
    if isinstance(exc, ImageTooLarge):
        return (f"This image is too large to open here: {_count(exc.pixels)}, more than this server "
                f"takes ({_count(exc.limit)} at most). Downscale it (e.g. export it at 2048 pixels "
                "on its longer side) and upload it again.")
    if isinstance(exc, NoDecoder):  # the message names packages to install: the server's business
        return (f"This DICOM's pixel data is compressed as {exc.syntax}, which this server cannot "
                "decode. Export the image uncompressed (or as PNG) and upload it again.")
    return str(exc)


def _count(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} megapixels" if pixels >= 10**6 else f"{pixels:,} pixels"


def _accept(data: bytes) -> bool:
    """Decode ``data`` into this session; False (keeping why, for the next run) when it
    cannot be read."""
    try:
        loaded = load_upload(data, keep_values=True)  # a CT, an MR, a knee, a thumbnail: refused
        source = windowable(loaded)
    except EclipError as exc:
        st.session_state[_FAILED] = refusal(exc)
        return False
    st.session_state[_UPLOAD] = Upload(source, _facts(loaded.meta), secrets.token_hex(8))
    st.session_state[_VIEW] = {"preset": AS_STORED, "window": None}
    st.session_state.pop(_STORED, None)  # a new image is scored as shown until chosen otherwise
    for key in (_PRESET, _CENTER, _WIDTH):
        st.session_state.pop(key, None)
    return True


def uploader() -> bool:
    """The upload box. True when a new image was just taken (the caller makes it the
    current case and reruns, which also replaces the box and its file name). A refused file
    is cleared the same way, at once: its chip (and name) leave the screen, the reason is
    said above a fresh, empty box, and the next file dropped there is read."""
    if failed := st.session_state.pop(_FAILED, None):
        st.error(failed, icon=":material/error:")
    gen = st.session_state.get(_GEN, 0)
    file = st.file_uploader(f"Your own image: {ACCEPTED}", key=f"upload_file_{gen}",
                            help="Decoded in memory for this browser session only: never "
                                 "stored, shared or logged. Patient details in a DICOM "
                                 "header are never read.")
    if file is None:
        return False
    ok = _accept(file.getvalue())
    st.session_state[_GEN] = gen + 1
    if not ok:
        st.rerun()  # the refused file's box is replaced before anything else is drawn
    return ok


# --------------------------------------------------------------------------- window/level
def _slider_window(up: Upload, preset: str) -> Window:
    """What the sliders show for ``preset``: its window, or for "as stored" the file's own
    window (else the full value range)."""
    chosen = up.source.preset(preset) if preset in CHOICES[1:] else None
    if chosen is None:
        lo, hi = value_range(up.source.values)
        chosen = up.source.stored_window or Window((lo + hi) / 2 + 0.5, max(hi - lo, 1.0) + 1)
    return chosen


def _on_preset() -> None:
    up, preset = current(), st.session_state[_PRESET]
    if up is None or preset == CUSTOM:
        return
    shown = _slider_window(up, preset)
    st.session_state[_CENTER], st.session_state[_WIDTH] = _clamped(up, shown)
    st.session_state[_VIEW] = {"preset": preset,
                               "window": None if preset == AS_STORED else shown}


def _on_slider() -> None:
    st.session_state[_PRESET] = CUSTOM
    st.session_state[_VIEW] = {"preset": CUSTOM, "window": Window(
        float(st.session_state[_CENTER]), float(st.session_state[_WIDTH]))}


def _restore_widgets(up: Upload) -> None:
    """Widget keys are dropped on other pages: put the kept choice back."""
    view = st.session_state.get(_VIEW) or {"preset": AS_STORED, "window": None}
    if _PRESET not in st.session_state:
        st.session_state[_PRESET] = view["preset"]
    if _CENTER not in st.session_state or _WIDTH not in st.session_state:
        shown = view["window"] or _slider_window(up, AS_STORED)
        st.session_state[_CENTER], st.session_state[_WIDTH] = _clamped(up, shown)


def _ranges(up: Upload) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(level bounds, width bounds, step) for the sliders: whole numbers in the image's value
    units (stored pixel values are integers: "15000", never "15000.00"), the level never
    below 0 for an image with no negative value (unsigned pixels)."""
    lo, hi = value_range(up.source.values)
    span = max(hi - lo, 1.0)
    step = int(10 ** np.floor(np.log10(span / 200))) if span > 200 else 1
    level_lo = math.floor(lo - span / 2)
    if lo >= 0:
        level_lo = max(level_lo, 0)
    return (level_lo, math.ceil(hi + span / 2)), (1, math.ceil(2 * span + 1)), step


def _clamped(up: Upload, shown: Window) -> tuple[int, int]:
    """A file's own window may lie outside the sliders' range: show the nearest they can."""
    (c_lo, c_hi), (w_lo, w_hi), _ = _ranges(up)
    return int(round(np.clip(shown.center, c_lo, c_hi))), int(round(np.clip(shown.width, w_lo, w_hi)))


def window_controls(up: Upload) -> None:
    """Preset and level/width sliders, in the image's own value units."""
    _restore_widgets(up)
    level, width, step = _ranges(up)
    c1, c2, c3 = st.columns([1.2, 1.4, 1.4])
    c1.selectbox("Window", (*CHOICES, CUSTOM), key=_PRESET, on_change=_on_preset,
                 help="As stored: the file's own VOI LUT or window. Lung, mediastinum and "
                      "bone are set from this image's brightness (a radiograph has no "
                      "Hounsfield units).")
    c2.slider("Level (centre)", *level, step=step, key=_CENTER, on_change=_on_slider)
    c3.slider("Width", *width, step=step, key=_WIDTH, on_change=_on_slider)


# --------------------------------------------------------------------------- Case browser
def viewer(up: Upload) -> None:
    """Window/level controls and the image as the model will read it."""
    from app.render.overlay import Caption, overlay_figure, overlay_png  # lazy: matplotlib, on upload

    window_controls(up)
    image = shown()
    st.plotly_chart(overlay_figure(image), key="upload_view", theme=None,
                    config={"displaylogo": False, "scrollZoom": True})
    st.caption("The model pages read the image as shown here, window included"
               + (" (you chose to score it as stored there)." if scores_stored() and window() else "."))
    st.download_button("Download PNG", icon=":material/download:", mime="image/png",
                       file_name="uploaded_image.png", on_click="ignore", key="upload_png",
                       data=functools.partial(overlay_png, image, caption=Caption("uploaded image")))


def facts(up: Upload) -> None:
    st.markdown("#### uploaded image")
    st.badge("your image: not from this dataset", icon=":material/upload:", color="blue")
    st.caption(" · ".join(up.facts))
    st.caption("No labels, report or gaze: only what the model makes of the pixels.")
    if st.button("Remove uploaded image", icon=":material/delete:", key="upload_remove"):
        remove()
        st.rerun()
