"""Home: what is loaded and what each page does."""
from __future__ import annotations

import streamlit as st

from explorer.device import describe_device
from explorer.ui.sidebar import sidebar_ui

PAGES = [
    ("Segment player", "pick a two-bar melody of the data, see its piano roll, hear it, download MIDI and WAV"),
]


def home_page():
    st.title("Latent Explorer")
    st.write("See and hear the latent spaces of symbolic-music VAEs.")
    settings = sidebar_ui()
    if settings.dataset is not None:
        ds = settings.dataset
        c = ds.counts()
        st.markdown(f"**Data:** {settings.data_label} — {len(ds)} two-bar segments "
                    f"(train {c['train']}, valid {c['valid']}, test {c['test']}) from {len(ds.tune_id)} tunes.")
    elif settings.error:
        st.warning(settings.error)
    st.markdown(f"**Inference device:** {describe_device()}")
    st.markdown("**Model:** none yet — the trained models arrive with the model pages.")
    st.markdown("**Audio:** " + ("FluidSynth, General-MIDI soundfont TimGM6mb" if settings.audio else "off"))
    st.subheader("Pages")
    for name, what in PAGES:
        st.markdown(f"- **{name}**: {what}")
