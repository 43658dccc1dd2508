"""Page: MIDI-VAE style transfer (Brunner et al., ISMIR 2018).

A trained style pair's model (assets/midivae, or the folders in ``$LATENT_EXPLORER_MIDIVAE_MODELS``), a
piece (a few pieces of music21's embedded corpus, or an uploaded multi-track MIDI file), then the
original, its reconstruction and the piece moved to the other style by swapping the style dims of z
(part of the way with the strength slider), decoded bar by bar with history: a piano roll per version
(colour = voice, opacity = velocity, hover = instrument) and audio with each voice on its instrument
and velocities; the style dims of every bar before and after as a map; a medley from the piece into
another, its z moving from one to the other bar by bar.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import streamlit as st

from explorer.audio import audio_status
from explorer.data.multitrack import ACCEPTED, LOWEST, SILENCE, bars_of_pieces, piece_from_midi_bytes
from explorer.data.tune import SkipTune
from explorer.music.multitrack_midi import rolls_to_midi_bytes
from explorer.paths import assets_dir
from explorer.ui.player import play_midi_ui
from explorer.viz.multitrack import roll_figure, style_map_figure

MODELS_ENV = "LATENT_EXPLORER_MIDIVAE_MODELS"
#: Pieces of music21's corpus in 4/4 (what the page offers without the data folder).
CORPUS = {"Bach chorale BWV 66.6": "bach/bwv66.6", "Bach chorale BWV 267": "bach/bwv267",
          "Bach chorale BWV 281": "bach/bwv281", "Mozart K.80 iv (string quartet)": "mozart/k80/movement4.mxl",
          "Mozart K.155 i (string quartet)": "mozart/k155/movement1.mxl"}
MAX_BARS = 32


def midivae_checkpoints() -> dict[str, Path]:
    """name → path of every ``*.safetensors`` in assets/midivae and the folders of ``$LATENT_EXPLORER_MIDIVAE_MODELS``."""
    dirs = [assets_dir() / "midivae"] + [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    out = {}
    for d in dirs:
        if d.is_dir():
            for p in sorted(d.glob("*.safetensors")):
                out.setdefault(p.stem, p)
    return out


@st.cache_resource(show_spinner="Loading MIDI-VAE…", max_entries=3)
def load_model(path: str, mtime: float):
    from explorer.eval.midivae import load_midivae

    return load_midivae(path)


@st.cache_data(show_spinner="Reading the piece…", max_entries=16)
def corpus_bars(ref: str):
    from music21 import corpus

    from explorer.data.multitrack import piece_from_music21

    return bars_of_pieces([piece_from_music21(corpus.parse(ref), "music21", ref)], ["?"], [0])


@st.cache_data(show_spinner="Reading the MIDI file…", max_entries=8)
def upload_bars(data: bytes, name: str):
    return bars_of_pieces([piece_from_midi_bytes(data, name)], ["?"], [0])


def heard_style(model, ds, n_bars: int) -> int:
    """The style the model's classifier hears in the first ``n_bars`` bars (the vote of their style dims)."""
    from explorer.eval.midivae import encode_rows

    mu = encode_rows(model, ds, ds.piece_rows(0)[:n_bars])
    k = model.config.n_styles
    return int(np.bincount(mu[:, :k].argmax(1), minlength=k).argmax())


def transfer(model, ds, n_bars: int, target: int, strength: float) -> dict:
    """Original, reconstruction and transfer (rolls (N, V, 16) each) of the first ``n_bars`` bars, with
    the source style (the classifier's vote over the bars) and each bar's style dims before/after."""
    from explorer.eval.midivae import decode_rows, encode_rows, local_prev, rolls_of, swap_rows

    rows = ds.piece_rows(0)[:n_bars]
    prev = local_prev(ds, rows)
    mu = encode_rows(model, ds, rows)
    k = model.config.n_styles
    source = heard_style(model, ds, n_bars)
    z2 = swap_rows(mu, np.full(len(rows), source), np.full(len(rows), target), strength)
    return {"original": rolls_of(ds, rows), "reconstruction": decode_rows(model, mu, prev),
            "transferred": decode_rows(model, z2, prev), "source": source, "style_before": mu[:, :k],
            "style_after": z2[:, :k]}


def medley(model, ds_a, ds_b, n_bars: int) -> dict:
    """Bars of song A turning into song B: bar i decodes z = (1 - t)·z_A,i + t·z_B,i, t = i / (n - 1),
    bar by bar with history (each song's bars from its start; the shorter song sets n)."""
    from explorer.eval.midivae import decode_rows, encode_rows

    ra, rb = ds_a.piece_rows(0), ds_b.piece_rows(0)
    n = min(n_bars, len(ra), len(rb))
    t = np.linspace(0.0, 1.0, n)[:, None] if n > 1 else np.zeros((1, 1))
    z = (1 - t) * encode_rows(model, ds_a, ra[:n]) + t * encode_rows(model, ds_b, rb[:n])
    return decode_rows(model, z.astype(np.float32), np.arange(n) - 1)


def _piece_ui():
    kind = st.radio("Piece", ("corpus", "upload"), horizontal=True, key="st_kind",
                    format_func={"corpus": "music21's corpus", "upload": "Upload a multi-track MIDI"}.get)
    if kind == "corpus":
        name = st.selectbox("Corpus piece", list(CORPUS), key="st_corpus")
        return corpus_bars(CORPUS[name]), name
    up = st.file_uploader(f"Multi-track MIDI ({ACCEPTED})", type=["mid", "midi"], key="st_upload")
    if up is None:
        st.info("Upload a MIDI file, or pick a piece of the corpus.")
        return None, None
    try:
        return upload_bars(up.getvalue(), up.name), up.name
    except SkipTune as exc:
        st.error(f"{up.name} cannot be used: {exc.reason}" + (f" — {exc.detail}" if exc.detail else "")
                 + f". Accepted: {ACCEPTED}.")
        return None, None


def _medley_ui(model, ds, n_bars: int, piece_name: str, settings, qpm: float):
    st.subheader("Medley")
    other = st.selectbox("Into the corpus piece", ["(none)"] + list(CORPUS), key="st_medley")
    if other == "(none)":
        st.caption("Pick a second piece: the bars move from this piece's z to the other's, one step per bar.")
        return
    r = medley(model, ds, corpus_bars(CORPUS[other]), n_bars)
    title = f"{piece_name} → {other}"
    st.plotly_chart(roll_figure(r, f"medley · {title}"), key="st_roll_medley", width="stretch")
    play_midi_ui(rolls_to_midi_bytes(r["pitch"], r["instrument"], r["velocity"], qpm=qpm), settings,
                 key="st_play_medley", name=f"medley {title}")


def style_transfer_page():
    st.title("Style transfer")
    st.caption("MIDI-VAE (Brunner et al., ISMIR 2018): the first dims of z are a style classifier; swapping them "
               "moves a piece to the other style while the rest of z keeps its notes.")
    ckpts = midivae_checkpoints()
    if not ckpts:
        st.info("No MIDI-VAE model found in assets/midivae or $LATENT_EXPLORER_MIDIVAE_MODELS. Train one with "
                "`explorer train midivae --data PAIR.npz --out RUN` (see docs/midivae.md).")
        return
    name = st.selectbox("Style pair model", list(ckpts), key="st_model")
    model, meta = load_model(str(ckpts[name]), ckpts[name].stat().st_mtime)
    styles = list(model.config.styles)
    ds, piece_name = _piece_ui()
    if ds is None:
        return
    n_all = len(ds.piece_rows(0))
    n_bars = st.slider("Bars", 1, min(n_all, MAX_BARS), min(n_all, 8), key="st_bars") if n_all > 1 else 1
    cols = st.columns(2)
    heard = heard_style(model, ds, n_bars)  # the default target is another style
    target = cols[0].selectbox("Move to style", range(len(styles)), index=(heard + 1) % len(styles),
                               key=f"st_target_{name}_{piece_name}", format_func=lambda i: styles[i])
    strength = cols[1].slider("Strength", 0.0, 1.0, 1.0, 0.1, key="st_strength",
                              help="how far the style dims move: 0 keeps them, 1 swaps them")
    res = transfer(model, ds, n_bars, int(target), float(strength))
    st.write(f"The model's classifier hears **{styles[res['source']]}** in this piece; moving to "
             f"**{styles[int(target)]}** at strength {strength:.1f}.")
    if res["source"] == int(target):
        st.warning("That is the style it already has: swapping a style's dims with themselves changes nothing.")
    settings = SimpleNamespace(audio=audio_status()[0])
    qpm = 100.0
    for key in ("original", "reconstruction", "transferred"):
        r = res[key]
        st.plotly_chart(roll_figure(r, f"{key} · {piece_name}"), key=f"st_roll_{key}", width="stretch")
        if (r["pitch"] == SILENCE).all():
            st.caption(f"The {key} is silent.")
            continue
        play_midi_ui(rolls_to_midi_bytes(r["pitch"], r["instrument"], r["velocity"], qpm=qpm), settings,
                     key=f"st_play_{key}", name=f"{piece_name} {key}")
    st.subheader("Style dims of each bar")
    st.plotly_chart(style_map_figure(res["style_before"], res["style_after"], styles), key="st_map", width="stretch")
    _medley_ui(model, ds, n_bars, piece_name, settings, qpm)
    st.caption(f"Pitch range of the rolls: MIDI {LOWEST}–{LOWEST + SILENCE - 1}; card: see docs/midivae.md and "
               f"the model's .md file ({meta.get('card', {}).get('steps', '?')} training steps).")
