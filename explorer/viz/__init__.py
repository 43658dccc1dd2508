"""Figures (plotly) of melodies, latent maps, attribute sweeps and paths, performances and model
cards, one module per page's subject; no Streamlit here, so notebooks can use them."""
from explorer.viz.pianoroll import pianoroll_figure  # noqa: F401
