"""Page: melody analogies with EC²-VAE — the pitch of one melody on the rhythm of
another, under chords you choose — and the transposition demo."""
from __future__ import annotations

import streamlit as st

from explorer.latent.analogy import (ANALOGY_GROUPS, CHORD_MODES, STEPS_PER_CHORD, analogy_grid, chord_condition,
                                     chord_sequence, has_analogy_groups, transposition_distances, with_chords)
from explorer.music.chords import ChordError
from explorer.music.melody import STEPS_PER_BAR, Melody
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.player import play_ui
from explorer.ui.segment_picker import start_picker_at
from explorer.ui.sidebar import keep_across_pages, sidebar_ui
from explorer.viz.report import shift_distance_figure

CHORD_HELP = ("Accepted: lead-sheet chord symbols separated by spaces, commas or bars (|), e.g. "
              "'C G Am F', 'Dm7 | G7 | Cmaj7', 'F#m7b5 B7 Em', 'Bb/D'; N for no chord.")
SHIFT_HELP = "Accepted: a shift that keeps every note of A within MIDI pitches 0..127."


def _name(m: Melody, fallback: str) -> str:
    """A short file-name stem of a melody: its tune and bar when it came from data."""
    if "tune_id" in m.meta:
        return f"{m.meta['tune_id']}_bar{int(m.meta.get('bar', 0)) + 1}"
    return fallback


def _defaults(**values):
    """Seed widget values once per session (a widget given both a default and a
    session-state value makes Streamlit warn)."""
    for k, v in values.items():
        if k not in st.session_state:
            st.session_state[k] = v


def _chord_ui(n_steps: int):
    """The chord condition widgets; returns (chroma or None, words for the captions), or
    None after showing an error."""
    _defaults(analogy_prog="C G Am F")
    keep_across_pages("analogy_chords", "analogy_prog", "analogy_per", "analogy_recon")
    mode = st.radio("Chords under the results", list(CHORD_MODES), format_func=CHORD_MODES.get,
                    key="analogy_chords", horizontal=True)
    text, per = "", "bar"
    if mode == "typed":
        c1, c2 = st.columns([3, 1])
        text = c1.text_input("Progression", key="analogy_prog",
                             help="Lead-sheet symbols, e.g. C G Am F; repeated to fill the melody.")
        per = c2.radio("One chord per", list(STEPS_PER_CHORD), key="analogy_per", horizontal=True)
    try:
        chroma = chord_condition(mode, n_steps, text, per)
    except ChordError as exc:
        st.error(f"Chord progression: {exc}. {CHORD_HELP}")
        return None
    if mode == "typed":
        st.caption(f"Over the {n_steps // STEPS_PER_BAR} bars, one chord per {per}: "
                   + " ".join(chord_sequence(text, n_steps, per)))
    words = {"source": None, "estimated": None, "none": "none",
             "typed": f"{' '.join(chord_sequence(text, n_steps, per))} (typed, one per {per})"}[mode]
    return chroma, words, mode


def _grid_ui(tm, a: Melody, b: Melody, settings):
    st.subheader("The analogy grid")
    st.caption("Rows: whose pitch code z_p; columns: whose rhythm code z_r. The diagonal holds A and B; the other "
               "two cells are the analogies.")
    chosen = _chord_ui(tm.n_steps)
    if chosen is None:
        return
    chroma, words, mode = chosen
    own = {"A": "its own chords" if a.chroma.any() else "none (it has no chord track)",
           "B": "its own chords" if b.chroma.any() else "none (it has no chord track)"}
    if mode == "estimated":
        (a, own["A"]), (b, own["B"]) = with_chords(a), with_chords(b)
    recon = st.toggle("Show A and B as the model reconstructs them (instead of the inputs)", key="analogy_recon")
    grid = analogy_grid(tm, a, b, chroma, reconstruct=recon)
    names = {"A": _name(a, "A"), "B": _name(b, "B")}
    for p in ("A", "B"):
        cols = st.columns(2)
        for col, r in zip(cols, ("A", "B")):
            with col:
                if p == r:
                    st.markdown(f"**{p}: pitch({p}) + rhythm({p})** — melody {p} "
                                + ("as the model reconstructs it" if recon else "(input)"))
                    chords = (own[p] if words is None else words) if recon else own[p]
                    name = f"{names[p]}_reconstruction" if recon else names[p]
                else:
                    st.markdown(f"**pitch({p}) + rhythm({r})** — {p}'s pitch code, {r}'s rhythm code")
                    chords = f"{p}'s: {own[p]}" if words is None else words
                    name = f"pitch_{names[p]}_rhythm_{names[r]}"
                st.caption(f"Chords: {chords}")
                play_ui(grid[(p, r)], settings, key=f"analogy_{p}{r}", name=name)


def _transposition_ui(tm, a: Melody, settings):
    st.subheader("Transposition demo")
    st.caption("Transpose A (its chords move too), encode both and measure how far each latent group moves. "
               "In a disentangled model the pitch code z_p moves while the rhythm code z_r stays.")
    _defaults(analogy_shift=3)
    keep_across_pages("analogy_shift")
    shift = st.slider("Transpose A by (semitones)", -6, 6, key="analogy_shift")
    table = transposition_distances(tm, a)
    if shift not in table.index:
        st.error(f"Transposing A by {shift:+d} semitones moves a note outside MIDI 0..127. {SHIFT_HELP}")
        return
    dp, dr = (float(table.loc[shift, g]) for g in ANALOGY_GROUPS)
    c = st.columns(3)
    c[0].metric("‖Δz_p‖ (pitch code)", f"{dp:.3f}")
    c[1].metric("‖Δz_r‖ (rhythm code)", f"{dr:.3f}")
    c[2].metric("‖Δz_p‖ / ‖Δz_r‖", f"{dp / dr:.2f}" if dr > 1e-9 else "—")
    st.plotly_chart(shift_distance_figure(table, shift), key="analogy_shift_chart", width="stretch")
    moved = a.transpose(shift)
    cols = st.columns(2)
    with cols[0]:
        st.markdown(f"**A transposed by {shift:+d}** (input)")
        play_ui(moved, settings, key="analogy_moved", name=f"{_name(a, 'A')}_{shift:+d}")
    with cols[1]:
        st.markdown("**Its reconstruction** (encode, decode greedily)")
        play_ui(tm.reconstruct(moved)[0], settings, key="analogy_moved_recon",
                name=f"{_name(a, 'A')}_{shift:+d}_reconstruction")


def analogy_page():
    """Draw the Analogy page: melodies A and B, the 2×2 grid, the transposition demo."""
    st.title("Analogy")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None:
        st.info("Load a model in the sidebar's model picker (**Model**); this page needs an EC²-VAE checkpoint.")
        return
    if not has_analogy_groups(tm.layout):
        st.info(f"This page needs an EC²-VAE: a model with a pitch and a rhythm latent group. "
                f"{settings.model_label} is a {tm.name} model "
                + (f"with the latent groups {', '.join(tm.layout.groups)}" if tm.layout.groups else "without latent groups")
                + ". Pick an ec2vae checkpoint in the sidebar's model picker.")
        return
    st.write("EC²-VAE splits its latent code into a pitch part z_p and a rhythm part z_r. Take the pitch of one "
             "melody and the rhythm of another and decode: the model answers the analogy "
             "'A's notes, B's rhythm'.")
    if settings.dataset is None and settings.error:
        st.warning(f"Data: {settings.error}")
    start_picker_at(settings.dataset, "b", 1 / 3)  # the first grid crosses two different melodies
    cols = st.columns(2)
    with cols[0]:
        a = melody_source_ui(settings, "a", "Melody A")
    with cols[1]:
        b = melody_source_ui(settings, "b", "Melody B")
    if a is None or b is None:
        return
    wrong = [f"{n} has {m.n_steps} steps" for n, m in (("A", a), ("B", b)) if m.n_steps != tm.n_steps]
    if wrong:
        st.error(f"{' and '.join(wrong)}; this model reads melodies of {tm.n_steps} steps "
                 f"({tm.n_steps // STEPS_PER_BAR} bars). Accepted: segments of that length (data built with "
                 f"{tm.n_steps // STEPS_PER_BAR}-bar segments).")
        return
    _grid_ui(tm, a, b, settings)
    _transposition_ui(tm, a, settings)
