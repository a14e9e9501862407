"""Figures and documents drawn without Streamlit: overlays, the embedding map, the case report."""
