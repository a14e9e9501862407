"""The Presenter in a room: how large its films can be in the browser window it runs in, and
the window's side of it (app/static/room/index.html, a component served by this app: the
window's size, a presenter's keys as the Next/Previous/full-screen buttons, the browser's
full screen).

The layout is arithmetic on the window's size: the films in one row, the talking point in
large type beside them or under them, whichever leaves the films larger, with the films and
the talking point inside the window and nothing blank under the films."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
import streamlit.components.v1 as components

from eclip.locations import package_file

_WINDOW = components.declare_component("eclip_room", path=str(package_file("app", "static", "room")))
DEFAULT_WINDOW = (1280, 720)  # before the browser has said (and under AppTest): a projector's size
FULL = "pr_full_on"  # session state: the full-screen layout is on
PRESSES = "pr_presses"  # session state: how many presses of the room's buttons the app has taken

# px the page takes around the films (measured in Chromium with the CSS below): the side
# padding, the header with Streamlit's menu (none in full screen), the title, Previous/Next,
# the overlay switches, and the line under each film.
SIDE_PAD = 24
GAP = 16
HEADER = 44
ABOVE_FILMS = 120
UNDER_FILMS = 16
MIN_TEXT_WIDTH = 380  # a talking point beside the films: ~30 characters a line at the large type
TEXT_HEIGHT = 0.24  # a talking point under the films: this share of the window's height
MIN_FILM = 160


@dataclass(frozen=True)
class Layout:
    film: int  # px, each film's side (films are square-ish: drawn to fit a film x film box)
    beside: bool  # the talking point beside the films (else under them)
    films_width: int  # px, the films' column
    text_width: int  # px, the talking point's column beside the films (0 when under them)
    text_height: int  # px, the talking point's box beside or under the films


def layout(width: int, height: int, n: int, full: bool = False) -> Layout:
    """Films and talking point for a ``width`` x ``height`` window and ``n`` films."""
    n = max(1, n)
    inner = width - 2 * SIDE_PAD
    tall = height - ABOVE_FILMS - UNDER_FILMS - (0 if full else HEADER)
    text_w = max(MIN_TEXT_WIDTH, int(0.27 * inner))
    beside = min(tall, (inner - text_w - GAP - (n - 1) * GAP) // n)
    text_h = int(TEXT_HEIGHT * height)
    under = min(tall - text_h, (inner - (n - 1) * GAP) // n)
    film = max(MIN_FILM, beside, under)
    if beside >= under:
        films_w = n * film + (n - 1) * GAP
        return Layout(film, True, films_w, inner - films_w - GAP, tall + UNDER_FILMS)
    return Layout(film, False, inner, 0, text_h)


def counted(callback: Callable[..., None]) -> Callable[..., None]:
    """``callback`` as the on_click of a button the room's keys press, counting the press: the
    window's side presses the next key only once it has seen the count go up (see window)."""
    def on_click(*args) -> None:
        st.session_state[PRESSES] = st.session_state.get(PRESSES, 0) + 1
        callback(*args)
    return on_click


def window(full: bool) -> tuple[int, int]:
    """The browser window's (width, height), DEFAULT_WINDOW until it has said; draws nothing
    seen (css() hides the component's frame and the ``pr_window_<w>x<h>`` mark a browser
    test or the screenshots wait for: the page laid out for the window's own size).

    Called after the buttons the room's keys press: the presses it passes on tell the
    window's side that the press it made last has been taken and the buttons drawn again
    with this run's arguments, so the next key may press them. A key pressed before that
    would be lost (Streamlit sends the clicks of one turn of the page as one rerun, so a
    button clicked twice counts once) or act on the stop before (a run cut short by it keeps
    the buttons' arguments of the run before)."""
    with st.container(key="pr_room"):
        value = _WINDOW(full=full, presses=st.session_state.get(PRESSES, 0), key="pr_room_window", default=None)
        try:
            size = int(value["width"]), int(value["height"])
        except (TypeError, KeyError, ValueError):
            st.container(key="pr_window_default").caption("window size not known yet")
            return DEFAULT_WINDOW
        st.container(key=f"pr_window_{size[0]}x{size[1]}").caption(f"window {size[0]} x {size[1]}")
    return size


def css(full: bool, text_px: str) -> str:
    """The room's style: Streamlit's padding cut to what a projector can spare, the talking
    point at ``text_px`` (a CSS size), the sidebar and the header gone in full screen."""
    hide = """
header[data-testid="stHeader"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandedSidebarCollapsedControl"], .st-key-pr_chrome {display: none !important}
""" if full else ""
    return f"""<style>
.st-key-pr_room, [data-testid="stElementContainer"]:has(> [data-testid="stMarkdown"] style) {{display: none}}
header[data-testid="stHeader"] {{background: transparent}}
[data-testid="stMain"] .block-container {{padding: {0.5 if full else 2.75}rem {SIDE_PAD}px 1rem; max-width: none}}
[data-testid="stMain"] h1 {{font-size: 1.6rem; padding: 0 0 0.3rem}}
.st-key-pr_point p, .st-key-pr_point li {{font-size: {text_px}; line-height: 1.35}}
.st-key-pr_point h3 {{font-size: calc({text_px} * 1.2); padding-top: 0}}
.st-key-pr_nav p {{font-size: 1.3rem}}
[data-testid="stMain"] [data-testid="stCaptionContainer"] p {{font-size: 1.0rem}}
{hide}</style>"""
