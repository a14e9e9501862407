"""What the model card says a reader must know before reading the model on these images: the
red banner over a real film under a model trained on simulated films, its caveat, and (on a
page that needs no model) the typicality under the sidebar's model.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import loaders, state
from app.components.case.loader import Case, load
from app.components.case.typicality import show_typicality
from app.core import cases, paths
from eclip.errors import EclipError
from eclip.model.card import ModelCard


def model_card(checkpoint: str | None):
    """The checkpoint's card as typed facts (eclip.model.card); empty without a model."""
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
