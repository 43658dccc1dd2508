"""Choose a melody to start from: a dataset segment, a map selection, an upload,
or a sample of the model's prior. Shared by the model pages."""
from __future__ import annotations

import streamlit as st

from explorer.data.tune import SkipTune
from explorer.music.melody import Melody
from explorer.ui.segment_picker import segment_picker_ui
from explorer.ui.sidebar import keep_across_pages

SOURCES = ("Dataset segment", "Map selection", "Upload MIDI", "Prior sample")
MAP_SELECTION_KEY = "map_selection"  # the latent map page stores a dataset row here


def melody_source_ui(settings, key: str, label: str = "Melody", *, allow_prior: bool = True) -> Melody | None:
    """Draw the chooser for one melody (``key`` keeps several apart) and return it,
    or None after showing why there is none."""
    ds = settings.dataset
    options = [s for s in SOURCES if (s != "Prior sample" or (allow_prior and settings.model is not None))
               and (s != "Map selection" or MAP_SELECTION_KEY in st.session_state)
               and (s != "Dataset segment" or ds is not None)]
    keep_across_pages(f"{key}_from")
    st.markdown(f"**{label}**")
    src = st.radio("from", options, key=f"{key}_from", horizontal=True, label_visibility="collapsed")
    if src == "Dataset segment":
        return ds.melody(segment_picker_ui(ds, key=key))
    if src == "Map selection":
        i = int(st.session_state[MAP_SELECTION_KEY])
        if ds is None or i >= len(ds):
            st.info("The map selection belongs to other data; pick a point on the Latent map again.")
            return None
        st.caption(ds.describe(i))
        return ds.melody(i)
    if src == "Upload MIDI":
        from explorer.data.upload import accepted
        from explorer.ui.resources import upload_dataset, upload_note

        up = st.file_uploader("MIDI file", type=["mid", "midi"], key=f"{key}_upload", help=f"Accepted: {accepted()}.")
        if up is None:
            st.info("Upload a MIDI file.")
            return None
        try:
            bars = settings.model.n_steps // 16 if settings.model is not None else 2
            up_ds, info = upload_dataset(up.getvalue(), up.name, bars=bars)
        except SkipTune as exc:
            st.error(f"{up.name} cannot be used: {exc.reason}" + (f" ({exc.detail})" if exc.detail else "") +
                     f". Accepted: {accepted()}.")
            return None
        if upload_note(info):
            st.info(upload_note(info))
        i = st.selectbox("Segment", range(len(up_ds)), key=f"{key}_upseg",
                         format_func=lambda j: f"bars {up_ds.bar[j] + 1}–{up_ds.bar[j] + up_ds.bars}")
        return up_ds.melody(int(i))
    # prior sample
    c1, c2 = st.columns(2)
    temp = c1.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key=f"{key}_temp")
    seed = c2.number_input("Seed", 0, 10_000, 0, key=f"{key}_seed")
    return settings.model.sample(1, temperature=float(temp), seed=int(seed))[0]
