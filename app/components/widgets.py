"""Small Streamlit widgets shared by several pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eclip.data.manifest import label_columns
from eclip.errors import EclipError

from app.core import cases
from app.components import loaders, state


def case_gallery(root: str, rows: pd.DataFrame, *, columns: int = 4, captions: list[str] | None = None,
                 limit: int = 12) -> None:
    """Thumbnails with id, positive findings (and an optional caption line each)."""
    shown = rows if len(rows) <= limit else rows.iloc[:limit]
    grid = st.columns(columns)
    # the columns shown read as arrays, not iterrows (a Series per row over every manifest column,
    # a third of a millisecond for one case): a Zero-shot run shows one case this way on every run
    labs = label_columns(shown)
    arrays = [shown[c].to_numpy() for c in ("id", "image_path", *labs)]
    for i, (case_id, image_path, *values) in enumerate(zip(*arrays)):
        with grid[i % columns]:
            try:
                st.image(loaders.load_thumbnail(root, image_path), width="stretch")
            except EclipError as exc:
                st.caption(f":red[{cases.md_escape(state.visible(exc))}]")
            found = ", ".join(lab for lab, v in zip(labs, values) if v == 1.0) or "no positive finding"
            extra = f"  \n{captions[i]}" if captions else ""
            st.caption(f"**{cases.md_escape(case_id)}** · {cases.md_escape(found)}{extra}")
    if len(rows) > limit:
        st.caption(f"…and {len(rows) - limit} more.")
