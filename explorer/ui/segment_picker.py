"""The segment picker: collection → tune → segment selectors and a random pick, kept in
session state and in the URL (``?seg=<row>``). Shared by the Segment player and the melody choosers."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.ui.keys import data_key
from explorer.ui.sidebar import keep_across_pages

ALL = "(all)"


def segment_identity(ds, i: int) -> tuple[str, str, int]:
    """What a segment row means in any dataset: (collection, tune id, first bar)."""
    t = ds.tune[i]
    return str(ds.tune_source[t]), str(ds.tune_id[t]), int(ds.bar[i])


def find_segment(ds, source: str, tune_id: str, bar: int) -> int | None:
    """The row of ``ds`` that holds bar ``bar`` of tune ``tune_id`` of ``source`` (the window
    starting last at or before it, untransposed first), else that tune's nearest window;
    None when ``ds`` does not have the tune."""
    tunes = np.flatnonzero((ds.tune_source == source) & (ds.tune_id == tune_id))
    rows = np.flatnonzero(np.isin(ds.tune, tunes))
    if len(rows) == 0:
        return None
    rows = rows[np.lexsort((ds.bar[rows], ds.transpose[rows] != 0))]  # untransposed, by bar
    before = rows[ds.bar[rows] <= bar]
    if len(before):
        return int(before[np.argmax(ds.bar[before])])
    return int(rows[np.argmin(np.abs(ds.bar[rows] - bar))])


def _follow_identity(ds, key: str):
    """When the data changed since picker ``key`` last chose (another model: 2-bar vs 16-bar
    segments number their rows differently), move it to the same tune and bar in ``ds``, or
    say that ``ds`` does not have that tune."""
    ss = st.session_state
    seen = ss.get(f"{key}_where")
    if seen is None or seen[0] == data_key(ds):
        return
    _, (source, tune_id, bar), title = seen
    row = find_segment(ds, source, tune_id, bar)
    for k in (f"{key}_index", f"{key}_tune", f"{key}_source"):
        ss.pop(k, None)
    if row is None:
        st.info(f"“{title or tune_id}” ({source}) is not in this model's data ({ds.bars}-bar segments); "
                "another melody is chosen instead.")
        ss.pop(f"{key}_last", None)
        return
    ss[f"{key}_last"] = (ALL, row)
    ss[f"{key}_asked"] = (row, (source, tune_id, bar))  # back on 2-bar data: bar 13, not the 16-bar window's bar 1


def _pick_random(ds, rows, key):
    rng = np.random.default_rng()
    i = int(rng.choice(rows))
    st.session_state[f"{key}_tune"] = int(ds.tune[i])
    st.session_state[f"{key}_index"] = i


def _url_row(n: int, key: str = "seg") -> int:
    seg = str(st.query_params.get(key, ""))
    return int(seg) if seg.isdigit() and int(seg) < n else 0


def start_picker_at(ds, key: str, fraction: float):
    """Start the picker ``key`` on row ``int(len(ds) * fraction)`` when it is first drawn, unless
    the session or the URL already chose its segment (so that several pickers start apart)."""
    ss = st.session_state
    if ds is not None and f"{key}_index" not in ss and f"{key}_last" not in ss and key not in st.query_params:
        ss[f"{key}_last"] = (ALL, int(len(ds) * fraction))


def segment_picker_ui(ds, key: str = "seg") -> int:
    """Collection → tune → segment selectors (plus a random pick); returns a row index."""
    sources = [ALL] + sorted(set(ds.source.tolist()))
    _follow_identity(ds, key)
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
    asked_row, asked = st.session_state.get(f"{key}_asked", (None, None))
    where = asked if asked_row == int(seg) else segment_identity(ds, int(seg))
    st.session_state[f"{key}_where"] = (data_key(ds), where, str(ds.tune_title[tune]))
    st.query_params[key] = str(seg)
    return int(seg)
