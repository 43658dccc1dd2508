"""Page: pick a segment of the data, see its piano roll, hear it, download it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.music.attributes import LABELS
from explorer.ui.player import play_ui
from explorer.ui.sidebar import keep_across_pages, sidebar_ui

ALL = "(all)"


def _pick_random(ds, rows, key):
    rng = np.random.default_rng()
    i = int(rng.choice(rows))
    st.session_state[f"{key}_tune"] = int(ds.tune[i])
    st.session_state[f"{key}_index"] = i


def _url_row(n: int, key: str = "seg") -> int:
    seg = str(st.query_params.get(key, ""))
    return int(seg) if seg.isdigit() and int(seg) < n else 0


def segment_picker_ui(ds, key: str = "seg") -> int:
    """Collection → tune → segment selectors (plus a random pick); returns a row index."""
    sources = [ALL] + sorted(set(ds.source.tolist()))
    if f"{key}_index" not in st.session_state:
        # a page without the picker dropped its widgets: start from the last choice, else the URL
        src, i = st.session_state.get(f"{key}_last", (ALL, _url_row(len(ds), key)))
        st.session_state[f"{key}_index"] = i
        st.session_state[f"{key}_tune"] = int(ds.tune[i]) if i < len(ds) else 0
        st.session_state[f"{key}_source"] = src if src in sources else ALL
    keep_across_pages(f"{key}_source", f"{key}_tune", f"{key}_index")
    if st.session_state[f"{key}_index"] >= len(ds):  # the data changed under us
        st.session_state[f"{key}_index"] = 0
        st.session_state[f"{key}_tune"] = int(ds.tune[0])
    c1, c2, c3 = st.columns([1, 2, 1])
    src = c1.selectbox("Collection", sources, key=f"{key}_source")
    rows = np.arange(len(ds)) if src == ALL else np.flatnonzero(ds.source == src)
    tunes = list(dict.fromkeys(ds.tune[rows].tolist()))
    if st.session_state.get(f"{key}_tune") not in tunes:
        st.session_state[f"{key}_tune"] = tunes[0]
    tune = c2.selectbox("Tune", tunes, key=f"{key}_tune",
                        format_func=lambda t: f"{ds.tune_title[t] or ds.tune_id[t]} · {ds.tune_id[t]}")
    segs = np.flatnonzero(ds.tune == tune).tolist()
    if st.session_state.get(f"{key}_index") not in segs:
        st.session_state[f"{key}_index"] = segs[0]
    seg = c3.selectbox("Segment", segs, key=f"{key}_index",
                       format_func=lambda i: f"bars {ds.bar[i] + 1}–{ds.bar[i] + ds.bars}")
    st.button("Random segment", on_click=_pick_random, args=(ds, rows, key), key=f"{key}_random")
    st.session_state[f"{key}_last"] = (src, int(seg))
    st.query_params[key] = str(seg)
    return int(seg)


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
