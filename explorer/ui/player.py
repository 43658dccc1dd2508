"""Show and play a melody: piano roll, audio, MIDI and WAV downloads."""
from __future__ import annotations

import functools
import re

import numpy as np
import streamlit as st

from explorer.music.convert import melody_to_midi_bytes
from explorer.music.melody import Melody
from explorer.viz.pianoroll import pianoroll_figure


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "melody"


@functools.lru_cache(maxsize=64)
def _roll(tokens: bytes, chroma: bytes, n_steps: int, title: str | None):
    """The piano roll of a melody, built once per content (a slider rerun redraws unchanged rolls)."""
    tok = np.frombuffer(tokens, dtype=np.uint8)
    return pianoroll_figure(Melody(tok, np.frombuffer(chroma, dtype=np.uint8).reshape(n_steps, 12)), title=title)


def play_ui(melody: Melody, settings, *, key: str, name: str = "melody", roll: bool = True,
            title: str | None = None):
    """Draw the piano roll (optional), an audio player and the downloads."""
    if roll:
        fig = _roll(np.asarray(melody.tokens, np.uint8).tobytes(), melody.chroma.tobytes(), melody.n_steps, title)
        st.plotly_chart(fig, key=f"{key}_roll", width="stretch")
    play_midi_ui(melody_to_midi_bytes(melody, settings.program, settings.qpm), settings, key=key, name=name)


def play_midi_ui(midi_bytes: bytes, settings, *, key: str, name: str):
    """Draw an audio player of ``midi_bytes`` (when audio is on) and its MIDI and WAV downloads.

    The downloads are named ``name`` (made file-safe) with ``.mid`` / ``.wav`` and keyed
    ``{key}_mid`` / ``{key}_wav``.
    """
    from explorer.ui.resources import wav_bytes

    cols = st.columns([3, 1, 1])
    wav = wav_bytes(midi_bytes) if settings.audio else None
    with cols[0]:
        if wav is not None:
            st.audio(wav, format="audio/wav")
        else:
            st.caption("Audio is off (see the sidebar); the MIDI download still works.")
    cols[1].download_button("MIDI", midi_bytes, file_name=f"{_slug(name)}.mid", mime="audio/midi", key=f"{key}_mid")
    if wav is not None:
        cols[2].download_button("WAV", wav, file_name=f"{_slug(name)}.wav", mime="audio/wav", key=f"{key}_wav")
