"""Small Streamlit widgets shared by several pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eclip.errors import EclipError

from app.core import cases
from app.components import loaders, state


def case_gallery(root: str, rows: pd.DataFrame, *, columns: int = 4, captions: list[str] | None = None,
                 limit: int = 12) -> None:
    """Thumbnails with id, positive findings (and an optional caption line each)."""
    shown = rows.head(limit)
    grid = st.columns(columns)
    for i, (_, row) in enumerate(shown.iterrows()):
        with grid[i % columns]:
            try:
                st.image(loaders.load_thumbnail(root, row["image_path"]), width="stretch")
            except EclipError as exc:
                st.caption(f":red[{cases.md_escape(state.visible(exc))}]")
            found = ", ".join(cases.positive_labels(row)) or "no positive finding"
            extra = f"  \n{captions[i]}" if captions else ""
            st.caption(f"**{cases.md_escape(row['id'])}** · {cases.md_escape(found)}{extra}")
    if len(rows) > limit:
        st.caption(f"…and {len(rows) - limit} more.")
