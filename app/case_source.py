"""The case a page shows: a dataset row or this session's uploaded image, chosen once and
followed by every page, and linked from the address bar (``?case=ID``).

A page lists its ids through ``select`` (the upload, when there is one, comes first), then
``load``s a ``Case``: pixels at working size, an image id for caches, and the manifest row
(None for an upload: no labels, no report, no gaze). Whatever is computed from an upload
goes through ``session_memo``, never a cache other sessions share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from eclip.errors import EclipError
from eclip.io import sha256_text

from app import cases, loaders, paths, state, upload

UPLOAD_ID = "uploaded image"
CURRENT = "current_case"  # survives page switches (widget keys are dropped off-page)
QUERY = "case"  # ?case=ID
_URL_SEEN = "_url_case"  # the last ?case= this session followed or wrote
_JUMP = "_case_jump"  # set: the next case selectbox opens on the current case (a new upload)
_STAND_INS = "_case_stand_ins"  # {selectbox key: the case it shows while the current one is not listed}
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


# --------------------------------------------------------------------------- choosing
def current_id() -> str | None:
    return st.session_state.get(CURRENT)


def set_current(case_id: str) -> None:
    """Make ``case_id`` the case every page opens on, and put it in the address bar."""
    st.session_state[CURRENT] = case_id
    if case_id == UPLOAD_ID:  # an upload cannot be linked: it lives in this session only
        st.query_params.pop(QUERY, None)
        st.session_state[_URL_SEEN] = None
        return
    if st.query_params.get(QUERY) != case_id:
        st.query_params[QUERY] = case_id
    st.session_state[_URL_SEEN] = case_id


def follow_url(widget_key: str | None = None) -> str | None:
    """A ``?case=`` this session has not followed yet becomes the current case (and resets
    the page's case widget ``widget_key`` so it shows that case); returns it, else None."""
    wanted = pending_link()
    if not wanted:
        return None
    st.session_state[_URL_SEEN] = wanted
    st.session_state[CURRENT] = wanted
    if widget_key:
        st.session_state.pop(widget_key, None)
    return wanted


def pending_link() -> str | None:
    """The ``?case=`` this session has not followed yet, left for ``select`` to follow (and
    to say so when it names no case here)."""
    wanted = st.query_params.get(QUERY)
    return wanted if wanted and wanted != st.session_state.get(_URL_SEEN) else None


def wanted_id() -> str | None:
    """The case a page is about to open: an unfollowed link's, else the current one."""
    return pending_link() or current_id()


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
    manifest, whose joined report text and searches are kept (app.cases), then narrowed."""
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
        _memo().clear()
        st.session_state.pop("rep_last", None)  # a draft of the previous upload
        set_current(UPLOAD_ID)
        st.session_state[_JUMP] = True
        st.rerun()


# --------------------------------------------------------------------------- loading
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


def session_memo(key: tuple, compute):
    """``compute()`` once per key in this session (an upload's embedding and maps)."""
    memo = _memo()
    if key not in memo:
        while len(memo) >= MEMO_ITEMS:
            memo.pop(next(iter(memo)))
        memo[key] = compute()
    return memo[key]


def embedding(lm, index, case: Case) -> np.ndarray:
    """L2-normalised image embedding: the index's row, or the upload through the model."""
    from eclip.model.encode import encode_pixels  # torch: only when a model is used

    if not case.is_upload:
        return np.asarray(index.image_emb[index.row_of(case.id)])
    return session_memo(("emb", lm.weights_sha256, case.image_id), lambda: encode_pixels(lm, case.pixels))


def attribution(lm, case: Case, prompt: str, method: str) -> np.ndarray:
    """``attribution_map`` for the case: a dataset image through the shared map cache, an
    upload computed for this session only."""
    from eclip.explain import attribution_map

    if not case.is_upload:
        return attribution_map(lm, case.pixels, prompt, method, image_id=case.image_id)
    return session_memo(("map", lm.weights_sha256, case.image_id, prompt, method),
                        lambda: attribution_map(lm, case.pixels, prompt, method, use_cache=False))


# --------------------------------------------------------------------------- typicality
def typicality_reference(lm):
    """The model's own training-image reference, shipped in its folder (eclip.index.typicality);
    TypicalityUnavailable says why there is none."""
    from eclip.index.typicality import load_reference

    return load_reference(lm.path, lm.weights_sha256)


def typicality(lm, case: Case, index=None):
    """The case's typicality against the model's own training images, never against the folder
    it is shown in: one image gets one score, whatever dataset holds it. ``index``: the model's
    index of the case's dataset when open (its stored embedding), else the image is encoded."""
    return typicality_reference(lm).score(case_embedding(lm, index, case))


def case_embedding(lm, index, case: Case) -> np.ndarray:
    """``embedding``, or without an index the image through the model (once per session)."""
    from eclip.model.encode import encode_pixels

    if index is not None or case.is_upload:
        return embedding(lm, index, case)
    return session_memo(("emb", lm.weights_sha256, case.image_id), lambda: encode_pixels(lm, case.pixels))


def typicality_line(lm, case: Case, index=None) -> str:
    """The verdict as one line of text (a case report), or why there is none."""
    try:
        return typicality(lm, case, index).line()
    except EclipError as exc:
        return f"unavailable: {state.visible(exc)}"


def _open_index(checkpoint: str, root: str):
    """The model's index of the dataset when built (it holds the case's embedding), else None."""
    from eclip.index import IndexMissing

    try:
        return loaders.load_index(checkpoint, root)
    except IndexMissing:
        return None


def show_typicality(checkpoint: str, root: str, manifest: pd.DataFrame, lm, case: Case) -> None:
    """The typicality line (or why there is none)."""
    try:
        typ = typicality(lm, case, None if case.is_upload else _open_index(checkpoint, root))
    except EclipError as exc:
        st.caption(f"Typicality unavailable: {state.visible(exc)}")
        return
    colour = {"typical": "green", "unusual": "orange"}.get(typ.verdict, "red")
    st.markdown(f"**Typicality** :{colour}-badge[{typ.verdict}] percentile **{typ.percentile:.0f}**")
    st.caption(f"Mean cosine distance to its {typ.k} nearest of the model's own training images "
               f"(a sample of {typ.n_reference:,} shipped with the model): {typ.distance:.3f}, "
               f"farther than {typ.percentile:.0f}% of those images are from theirs. Measured "
               "against what the model was trained on, not against this dataset, so an image "
               "scores the same in every folder. Above 99: the model has seen nothing like it.")


# --------------------------------------------------------------------------- training world
def model_card(checkpoint: str | None):
    """The checkpoint's card as typed facts (eclip.model.card); empty without a model."""
    from eclip.model.card import ModelCard

    return ModelCard.from_dict(loaders.load_card(paths.resolve(checkpoint)) if checkpoint else {})


def trained_on_simulated(checkpoint: str | None) -> bool:
    """What the model card says: no dataset has to be found here for the warning to show."""
    return model_card(checkpoint).simulated_training


def banner_text(checkpoint: str | None) -> str:
    """The red banner over a real film under a model trained on simulated films, with the
    card's own measured fact."""
    return ("**This model was trained on simulated radiographs only, and this image is not one "
            f"of them.** {model_card(checkpoint).caveat} Read its findings, maps and drafts here "
            "as a demonstration of the method, not as a reading of this image.")


def simulated_banner(checkpoint: str | None, case: Case) -> None:
    """The warning a clinician must see before reading the model's output on this image."""
    if not case.simulated and trained_on_simulated(checkpoint):
        st.error(banner_text(checkpoint), icon=":material/science:")


def caveat_note(checkpoint: str | None, shown: pd.DataFrame) -> None:
    """Above model output over many cases (Zero-shot): the red banner when any of them is a
    real film, else the card's caveat in a line; nothing for a model not trained on
    simulated films."""
    card = model_card(checkpoint)
    if not card.simulated_training:
        return
    real = int((~cases.is_simulated(shown)).sum())
    if real:
        st.error(f"**This model was trained on simulated radiographs only, and {real:,} of these "
                 f"{len(shown):,} images are not simulated.** {card.caveat} Read its scores as a "
                 "demonstration of the method, not as readings of these images.",
                 icon=":material/science:")
    else:
        st.caption(f":material/science: {card.caveat}")


def model_notes(root: str, manifest: pd.DataFrame, case_id: str, banner_at) -> None:
    """For a page that needs no model (the Case browser): the banner (drawn in the
    container ``banner_at``) and the typicality under the sidebar's model, when one is
    chosen."""
    checkpoint = state.current_checkpoint()
    if checkpoint is None:
        st.caption("Choose a model in the sidebar to see how typical this image is for it.")
        return
    path = str(paths.resolve(checkpoint))
    try:
        lm = loaders.load_model(path)
        case = load(root, manifest, case_id)
    except EclipError as exc:
        st.caption(f"Typicality unavailable: {state.visible(exc)}")
        return
    with banner_at:
        simulated_banner(path, case)
    show_typicality(path, root, manifest, lm, case)


def map_is_cached(lm, case: Case, prompt: str, method: str) -> bool:
    """Whether ``attribution`` answers at once (a slow map waits for the heavy-job slot)."""
    from eclip.explain.maps import is_cached

    if case.is_upload:
        return ("map", lm.weights_sha256, case.image_id, prompt, method) in _memo()
    return is_cached(lm, case.pixels, prompt, method, image_id=case.image_id)


def gaze_first(manifest: pd.DataFrame) -> bool:
    """Default of a page's "only cases with gaze" switch: on when the data has gaze, unless
    the case to open (a link, or the current case) has none. The link stays unfollowed: the
    page's case box follows it, and says so when it names no case here."""
    wanted = manifest.loc[manifest["id"] == wanted_id()]
    return bool(cases.has_gaze(manifest).any()) and (wanted.empty or bool(cases.has_gaze(wanted).all()))
