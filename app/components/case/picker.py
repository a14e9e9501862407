"""The case box a page picks its case with: its ids (the upload, when there is one, first),
opening on the current case, typed ids and words that find cases, and why a link or a typed
id opens no case here.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import state, upload
from app.components.case import loader
from app.components.case.current_case import CURRENT, UPLOAD_ID, current_id, follow_url, set_current, wanted_id
from app.core import cases, paths


_JUMP = "_case_jump"  # set: the next case selectbox opens on the current case (a new upload)
_STAND_INS = "_case_stand_ins"  # {selectbox key: the case it shows while the current one is not listed}


def options(ids: list[str]) -> list[str]:
    return ([UPLOAD_ID] if upload.current() is not None else []) + list(ids)


def listed(ids: list[str]) -> list[str]:
    """At most ``cases.LIST_LIMIT`` of ``ids`` for a case selectbox, the current case always
    among them when it is one of ``ids``. Model vs gaze listed every gaze
    case: at 200,000 cases its 50,000 options were a 2.4 MB list the browser took ~3.7 s to
    draw on every visit. The others are a typed id or search away (``select``)."""
    head = list(ids[:cases.LIST_LIMIT])
    wanted = current_id()
    if len(ids) > len(head) and wanted not in head and wanted in set(ids):
        head.append(wanted)
    return head


_FIND = "_case_find:{}"  # per case box: the words typed in it that list the cases they find
_SHOWN = "_case_shown:{}"  # per case box: what it showed last run (a value that differs was typed or picked)
PICK_HELP = ("Pick a case, or type in the box and press Enter: an id (e.g. demo01500) opens "
             "that case, other words list the cases they find (id, a positive finding, report "
             "text; negated mentions such as “no effusion” left out).")


def select(container, ids: list[str], key: str, label: str = "Case", *,
           manifest: pd.DataFrame | None = None, scope: str = "") -> str:
    """A case selectbox over ``ids`` (+ the upload) that opens on the current case and
    makes its choice the current one. It lists ``cases.LIST_LIMIT`` of them and the current
    case; typing in it reaches every one of ``ids``: an id opens that case, other words list
    the cases they find (``cases.find`` over ``manifest``'s rows). A link or a typed id that
    names no case here is said so, with why (not in the dataset, or not among ``ids``:
    ``scope`` says what this page lists), never silently replaced."""
    linked = follow_url(key)
    if st.session_state.pop(_JUMP, False):
        st.session_state.pop(key, None)
    pool = options(ids)
    members = set(pool)
    _take_typed(key, pool, members, manifest, scope)
    if linked and linked not in members:
        st.warning(why_not_here(linked, manifest, scope), icon=":material/link_off:")
    choices = _choices(key, pool, members, manifest)
    if st.session_state.get(key) not in choices:
        _open_on(key, choices, keep=bool(current_id()) and not linked)
    chosen = container.selectbox(label, choices, key=key, accept_new_options=True, help=PICK_HELP,
                                 placeholder="Type an id, a finding or report words")
    st.session_state[_SHOWN.format(key)] = chosen
    if chosen != _stand_ins().get(key):  # the visitor's pick (or the current case itself)
        _stand_ins().pop(key, None)
        set_current(chosen)
    elif (wanted := current_id()) and wanted not in (chosen, UPLOAD_ID) and not linked:
        container.caption(f"Case `{cases.md_escape(wanted)}` is not on this page's list"
                          f"{f' ({scope})' if scope else ''}; showing `{cases.md_escape(chosen)}`.")
    _search_note(container, key, manifest, members)
    return chosen


def _take_typed(key: str, pool: list[str], members: set, manifest: pd.DataFrame | None,
                scope: str) -> None:
    """What was typed in the case box ``key`` (a value that is none of its options), before
    the box is drawn: an id of ``pool`` (any case, listed or not) becomes the current case;
    other words list the cases they find; nothing found is said above the box."""
    typed = st.session_state.get(key)
    if typed is None or typed in (st.session_state.get(_SHOWN.format(key)), _stand_ins().get(key)):
        return  # no new value (or one a filter has since left out: the stand-in logic's)
    if typed in members:  # picked from the list, or a whole id typed
        st.session_state[CURRENT] = typed
        return
    st.session_state.pop(key, None)  # the box opens on the current case again
    text = str(typed).strip()
    by_id = {c.lower(): c for c in pool if c != UPLOAD_ID}
    found = [by_id[text.lower()]] if text.lower() in by_id else _found(manifest, text, members)
    if len(found) == 1:
        st.session_state[CURRENT] = found[0]
        st.session_state.pop(_FIND.format(key), None)
    elif found:
        st.session_state[_FIND.format(key)] = text
    elif text:
        st.warning(why_not_here(text, manifest, scope, typed=True), icon=":material/search_off:")


def _found(manifest: pd.DataFrame | None, text: str, members: set) -> list[str]:
    """The ids of a case box (``members``) that ``text`` finds. Searched over the whole shared
    manifest, whose joined report text and searches are kept (app.core.cases), then narrowed."""
    if manifest is None or not text:
        return []
    return [c for c in cases.find(manifest, text)["id"].tolist() if c in members]


def _choices(key: str, pool: list[str], members: set, manifest: pd.DataFrame | None) -> list[str]:
    """The box's options: the cases a search typed in it found, else the pool; at most
    ``cases.LIST_LIMIT`` of them, and the current case."""
    text = st.session_state.get(_FIND.format(key))
    if not text or manifest is None:
        return listed(pool)
    found = [c for c in pool if c == UPLOAD_ID] + _found(manifest, text, members)
    shown = listed(found)
    if (wanted := current_id()) in members and wanted not in shown:
        shown.append(wanted)
    return shown


def _search_note(container, key: str, manifest: pd.DataFrame | None, members: set) -> None:
    """Under a box that lists a search's cases: what it lists, and the way back to all."""
    text = st.session_state.get(_FIND.format(key))
    if not text or manifest is None:
        return
    n = len(_found(manifest, text, members))
    first = f"the first {cases.LIST_LIMIT:,} of " if n > cases.LIST_LIMIT else ""
    container.caption(f"Listing {first}the **{n:,}** cases that “{cases.md_escape(text)}” finds "
                      "(id, positive finding, report text without negated mentions).")
    if container.button("List every case", key=f"{key}_find_clear", icon=":material/close:"):
        st.session_state.pop(_FIND.format(key), None)
        st.rerun()


def why_not_here(wanted: str, manifest: pd.DataFrame | None, scope: str, typed: bool = False) -> str:
    """Why ``wanted`` (a link's case, or words typed in a case box) opens no case here."""
    shown = cases.md_escape(wanted)
    folder = paths.visitor_label(state.current_dataset())
    known = manifest is not None and bool((manifest["id"].astype(str).str.lower() == wanted.lower()).any())
    if wanted == UPLOAD_ID:
        return ("The link asks for an uploaded image, which lives in the browser session that "
                "uploaded it only: upload it again on the Case browser.")
    if known:
        return (f"Case `{shown}` is in this dataset but not on this page's list"
                f"{f' ({scope})' if scope else ''}.")
    if typed:
        return (f"Nothing here matches “{shown}”: no case id of this dataset (`{folder}`), positive "
                "finding or report text. Check the id, or the dataset chosen in the sidebar.")
    return (f"The link asks for case `{shown}`, which is not in this dataset (`{folder}`): check "
            "the id, or the dataset chosen in the sidebar.")


def _open_on(key: str, choices: list[str], keep: bool) -> None:
    """Open the selectbox ``key`` on the current case, else on its first choice: a stand-in
    that stays this page's own unless the visitor picks it, when ``keep`` (a current case
    chosen elsewhere, e.g. one outside the Draft report's `test` split). Letting the stand-in
    replace it made Model vs gaze, opened after the Draft report, compute two models' maps for
    another case on what should have been a warm visit (5.7 s at load 8, 15-17 s at 11-20)."""
    wanted = current_id()
    st.session_state[key] = wanted if wanted in choices else choices[0]
    if keep and wanted not in choices:
        _stand_ins()[key] = choices[0]
    else:
        _stand_ins().pop(key, None)


def _stand_ins() -> dict:
    return st.session_state.setdefault(_STAND_INS, {})


def take_upload() -> None:
    """The upload box; a new image becomes the current case at once."""
    if upload.uploader():
        loader.forget_memo()
        st.session_state.pop("rep_last", None)  # a draft of the previous upload
        set_current(UPLOAD_ID)
        st.session_state[_JUMP] = True
        st.rerun()


def gaze_first(manifest: pd.DataFrame) -> bool:
    """Default of a page's "only cases with gaze" switch: on when the data has gaze, unless
    the case to open (a link, or the current case) has none. The link stays unfollowed: the
    page's case box follows it, and says so when it names no case here."""
    wanted = manifest.loc[manifest["id"] == wanted_id()]
    return bool(cases.has_gaze(manifest).any()) and (wanted.empty or bool(cases.has_gaze(wanted).all()))
