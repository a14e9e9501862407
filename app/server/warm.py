"""Load, before a server listens, what its first visitor's page needs: the default
dataset's manifest, the default model and its compare partner, the model's index, the
typicality reference the Case browser shows and the Embeddings page's default map. Everything
goes through the pages' own cached loaders, so the pages find it there. A problem here never
stops the server: it is reported in the step's line and the page that needs the missing piece
says what is wrong, as it would without a warm-up.

Measured at 200,000 cases on 2 cores: the first Case browser page took 12-13 s after a cold
start (torch and open_clip imports and the model ~6 s, the manifest ~1-2 s, the typicality
reference ~3.3 s before it was kept beside the index); warm, it is as quick as a later visit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from app.core import paths


def _step(done: list[str], name: str, fn: Callable[[], object]) -> object | None:
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001  (the page that needs it will say why)
        done.append(f"{name} skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
        return None
    done.append(f"{name} {time.perf_counter() - t0:.1f} s")
    return out


def warm() -> list[str]:
    """Load the default dataset, models, index and typicality reference; returns one line per
    step (what it loaded and how long it took, or why it was skipped)."""
    # lazy: torch, Streamlit and the pages' loaders, not at `python -m app --help`
    from eclip.index.calibration import pair_calibration
    from app.render import map_view
    from app.components import loaders, state
    from app.components.case import typicality

    done: list[str] = []
    root = paths.resolve(paths.default_dataset())
    manifest = None
    if (root / "manifest.csv").is_file():
        _step(done, "dataset info", lambda: loaders.dataset_info(root))
        manifest = _step(done, "manifest", lambda: loaders.load_manifest(root))
    ck = paths.default_checkpoint()
    if ck == paths.NO_MODEL or not paths.is_checkpoint(paths.resolve(ck)):
        return done
    path = str(paths.resolve(ck))
    lm = _step(done, f"model {paths.display(ck)}", lambda: loaders.load_model(path))
    if lm is None:
        return done
    partner = state.default_compare(ck)
    if partner != paths.NO_MODEL:
        _step(done, f"model {paths.display(partner)}", lambda: loaders.load_model(paths.resolve(partner)))
    if manifest is None:
        return done
    index = _step(done, "index", lambda: loaders.load_index(path, root))
    if index is None or not loaders.index_matches(index, root):
        return done
    _step(done, "typicality reference", lambda: typicality.typicality_reference(lm))
    _step(done, "retrieval calibration", lambda: pair_calibration(index))
    if index.umap_image is not None:  # the Embeddings page's geometry and default map
        _step(done, "map", lambda: (loaders.index_geometry(index), map_view.figure(
            manifest, np.asarray(index.umap_image), np.asarray(index.umap_text), map_view.COLOUR_BY[0])))
    return done


def quietly_warm() -> list[str]:
    """``warm`` outside a script run, without Streamlit's "missing ScriptRunContext" warning
    for every cached loader it calls."""
    import streamlit.runtime.caching.cache_data_api  # noqa: F401  (their loggers exist before
    import streamlit.runtime.scriptrunner_utils.script_run_context  # noqa: F401  we quiet them)

    noisy = [logging.getLogger(name) for name in (
        "streamlit.runtime.scriptrunner_utils.script_run_context", "streamlit.runtime.caching.cache_data_api")]
    levels = [logger.level for logger in noisy]
    for logger in noisy:
        logger.setLevel(logging.ERROR)
    try:
        return warm()
    finally:
        for logger, level in zip(noisy, levels):
            logger.setLevel(level)
