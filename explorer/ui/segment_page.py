"""Page: pick a segment of the data, see its piano roll, hear it, download it."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.music.attributes import LABELS
from explorer.ui.player import play_ui
from explorer.ui.segment_picker import segment_picker_ui
from explorer.ui.sidebar import sidebar_ui


def segment_page():
    st.title("Segment player")
    settings = sidebar_ui()
    if settings.dataset is None:
        (st.error if settings.error and not settings.error.startswith(("Type", "Upload")) else st.info)(
            settings.error or "Choose data in the sidebar.")
        return
    ds = settings.dataset
    st.caption(f"{settings.data_label}: {len(ds)} {ds.bars}-bar segments from {len(set(ds.tune.tolist()))} tunes")
    if settings.info and settings.info.get("melody_track"):
        st.caption(f"Melody: {settings.info['melody_track']}")
    i = segment_picker_ui(ds)
    mel = ds.melody(i)
    st.subheader(ds.describe(i))
    play_ui(mel, settings, key="segment", name=f"{mel.meta['tune_id']}_bar{mel.meta['bar'] + 1}")
    attrs = {LABELS[k]: float(v[i]) for k, v in ds.attributes().items()}
    st.dataframe(pd.DataFrame({"attribute": list(attrs), "value": [round(v, 3) for v in attrs.values()]}),
                 hide_index=True)
