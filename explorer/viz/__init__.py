"""Figures (plotly) of melodies; no Streamlit here, so notebooks can use them."""
from explorer.viz.pianoroll import pianoroll_figure  # noqa: F401
