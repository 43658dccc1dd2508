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


@functools.lru_cache(maxsize=256)
def midi_notes(midi_bytes: bytes) -> list[list[float]]:
    """The notes of a MIDI file as ``[pitch, start s, end s]`` (ms precision, by start), the
    piano roll a player draws its playhead over; ``[]`` for a file pretty_midi cannot read."""
    import io

    import pretty_midi

    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    except Exception:  # noqa: BLE001 - a roll is a nicety: the player still plays and downloads
        return []
    notes = sorted((n.start, n.end, n.pitch) for i in pm.instruments if not i.is_drum for n in i.notes)
    return [[p, round(a, 3), round(b, 3)] for a, b, p in notes]


@functools.lru_cache(maxsize=64)
def _svg_roll(tokens: bytes, chroma: bytes, n_steps: int, title: str | None, key: str) -> str:
    """:func:`_roll` as an SVG image (:mod:`explorer.viz.pianoroll_svg`, :func:`svg_image`): what a page that redraws
    the roll on every move uses, as the browser draws it in milliseconds, not a plotly chart's ~170 ms."""
    from explorer.viz.pianoroll_svg import pianoroll_svg

    tok = np.frombuffer(tokens, dtype=np.uint8)
    mel = Melody(tok, np.frombuffer(chroma, dtype=np.uint8).reshape(n_steps, 12))
    return svg_image(pianoroll_svg(mel, title=title, key=key), key)  # cached with the roll: a rerun re-encodes nothing


def svg_image(svg: str, key: str) -> str:
    """An SVG as an ``<img>`` with the SVG in a data URI: ``st.html`` sanitises with DOMPurify's HTML
    profile, which drops inline ``<svg>`` elements (the roll would not show)."""
    import base64

    data = base64.b64encode(svg.encode()).decode()
    return (f'<img class="explorer-roll-img" data-key="{key}" alt="piano roll" style="width:100%" '
            f'src="data:image/svg+xml;base64,{data}">')


def melody_clips(melodies, program: int, qpm: float | None) -> tuple[list[bytes], list[list]]:
    """(FLAC clips, notes) of ``melodies``, each rendered alone: what a live player switches
    between. The renders are cached by content, so a repeated melody costs once. Audio must be on."""
    from explorer.ui.resources import flac_of_wav, wav_bytes

    midis = [melody_to_midi_bytes(m, program, qpm) for m in melodies]
    return [flac_of_wav(wav_bytes(b))[0] for b in midis], [midi_notes(b) for b in midis]


def play_ui(melody: Melody, settings, *, key: str, name: str = "melody", roll: bool | str = True,
            title: str | None = None, autoplay: bool = False, main: bool = False):
    """Draw the piano roll (a plotly chart; ``roll="svg"``: the same roll as an inline SVG, for a
    part that redraws it on every move; False: none), an audio player and the downloads."""
    if roll == "svg":
        st.html(_svg_roll(np.asarray(melody.tokens, np.uint8).tobytes(), melody.chroma.tobytes(), melody.n_steps,
                          title, f"{key}_roll"))
    elif roll:
        fig = _roll(np.asarray(melody.tokens, np.uint8).tobytes(), melody.chroma.tobytes(), melody.n_steps, title)
        st.plotly_chart(fig, key=f"{key}_roll", width="stretch")
    play_midi_ui(melody_to_midi_bytes(melody, settings.program, settings.qpm), settings, key=key, name=name,
                 autoplay=autoplay, main=main)


def play_midi_ui(midi_bytes: bytes, settings, *, key: str, name: str, autoplay: bool = False, main: bool = False):
    """Draw an audio player of ``midi_bytes`` (when audio is on) with MIDI and WAV downloads
    named ``name`` (made file-safe) with ``.mid`` / ``.wav``, over a small piano roll of its notes
    with a playhead; ``autoplay`` plays (looped) a clip that replaces another; ``main`` makes it
    the one space plays. The audio is embedded in the element (:mod:`explorer.ui.clip_player`),
    so the player and its downloads keep working after interrupted reruns."""
    from explorer.ui.clip_player import clip_player
    from explorer.ui.resources import flac_of_wav, wav_bytes

    wav = wav_bytes(midi_bytes) if settings.audio else None
    flac, rate = flac_of_wav(wav) if wav is not None else (None, 0)
    clip_player(flac, midi_bytes, key=key, name=_slug(name), sample_rate=rate, autoplay=autoplay, loop=autoplay,
                note="Audio is off (see the sidebar); the MIDI download still works.",
                notes=midi_notes(midi_bytes) if flac is not None else None, main=main)


def play_sequence_ui(melodies, settings, *, key: str, name: str, gap_steps: int = 0, main: bool = False):
    """One audio of ``melodies`` one after another (at the sidebar's tempo, else the first's), with
    MIDI and WAV downloads."""
    from explorer.music.convert import melodies_to_midi, midi_to_bytes

    qpm = settings.qpm or melodies[0].qpm
    mels = [Melody(m.tokens, m.chroma, qpm) for m in melodies]
    midi = midi_to_bytes(melodies_to_midi(mels, gap_steps=gap_steps, program=settings.program))
    play_midi_ui(midi, settings, key=key, name=name, main=main)
