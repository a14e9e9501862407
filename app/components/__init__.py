"""Streamlit pieces the pages share: the sidebar state, cached loaders, the case picker, the
compare model, widgets."""
