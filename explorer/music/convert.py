"""Conversions between pretty_midi objects and the grid representation.

``midi_to_melody`` reads a one-track-melody MIDI laid out on 4/4 bars starting
at time 0 (what ``melody_to_midi`` writes, and what a user's 2-bar clip
usually is); whole songs with metre changes go through ``explorer.data``.
"""
from __future__ import annotations

import io

import numpy as np
import pretty_midi

from explorer.music.chords import chroma_to_pitches
from explorer.music.grid import notes_to_grid_steps
from explorer.music.melody import (
    DEFAULT_QPM,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    Melody,
    REST,
    MelodyError,
    tokens_to_notes,
)

MELODY_PROGRAM = 0  # acoustic grand
CHORD_PROGRAM = 0


def melody_to_midi(
    melody: Melody,
    *,
    program: int = MELODY_PROGRAM,
    velocity: int = 96,
    with_chords: bool = True,
    chord_velocity: int = 56,
    chord_octave: int = 4,
) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI of ``melody`` at its tempo: track "melody" and, when the
    chroma has any pitch class, a track "chords" holding each chroma as a block
    chord (pitch classes placed in octave ``chord_octave``) for as long as it
    stays the same."""
    if not 0 <= program <= 127:
        raise ValueError(f"program must be a GM program 0..127, got {program}")
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(melody.qpm))
    sec_per_step = 60.0 / melody.qpm / STEPS_PER_QUARTER
    inst = pretty_midi.Instrument(program=program, name="melody")
    for n in tokens_to_notes(melody.tokens):
        inst.notes.append(pretty_midi.Note(velocity, n.pitch, n.start * sec_per_step, n.end * sec_per_step))
    pm.instruments.append(inst)
    chroma = np.asarray(melody.chroma)
    if with_chords and chroma.any():
        ch = pretty_midi.Instrument(program=program, name="chords")
        start = 0
        for t in range(1, len(chroma) + 1):
            if t == len(chroma) or not np.array_equal(chroma[t], chroma[start]):
                for p in chroma_to_pitches(chroma[start], octave=chord_octave):
                    ch.notes.append(pretty_midi.Note(chord_velocity, p, start * sec_per_step, t * sec_per_step))
                start = t
        pm.instruments.append(ch)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    return pm


def midi_to_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """The standard MIDI file bytes of ``pm``."""
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def melody_to_midi_bytes(melody: Melody, program: int = MELODY_PROGRAM, qpm: float | None = None) -> bytes:
    """The standard MIDI file of ``melody`` (and its chords) played by GM ``program`` at ``qpm``
    quarter notes per minute (None: the melody's own tempo); what the pages play and offer for download."""
    if qpm:
        melody = Melody(melody.tokens, melody.chroma, qpm, melody.meta)
    return midi_to_bytes(melody_to_midi(melody, program=program))


def melodies_to_midi(melodies, *, gap_steps: int = 0, **kwargs) -> pretty_midi.PrettyMIDI:
    """One PrettyMIDI that plays ``melodies`` one after another (a timeline),
    with ``gap_steps`` of silence between them, at the first melody's tempo."""
    melodies = list(melodies)
    if not melodies:
        raise MelodyError("melodies_to_midi needs at least one melody")
    qpm = melodies[0].qpm

    toks, chs = [], []
    for i, m in enumerate(melodies):
        toks.append(m.tokens)
        chs.append(m.chroma)
        if gap_steps and i < len(melodies) - 1:
            toks.append(np.full(gap_steps, REST, dtype=np.uint8))
            chs.append(np.zeros((gap_steps, 12), dtype=np.uint8))
    return melody_to_midi(Melody(np.concatenate(toks), np.concatenate(chs), qpm), **kwargs)


def midi_to_melody(
    pm: pretty_midi.PrettyMIDI,
    *,
    melody_track: int = 0,
    n_steps: int | None = None,
    chord_tracks: list[int] | None = None,
) -> Melody:
    """Read track ``melody_track`` of ``pm`` onto the grid, bars from time 0.

    Times convert to quarters through the MIDI's own tempo map. The chroma per
    step comes from ``chord_tracks`` (default: every other pitched track).
    ``n_steps`` defaults to the melody's length rounded up to whole bars.
    """
    pitched = [i for i, inst in enumerate(pm.instruments) if not inst.is_drum]
    if melody_track not in range(len(pm.instruments)) or pm.instruments[melody_track].is_drum:
        raise MelodyError(f"melody_track {melody_track} is not a pitched track; pitched tracks: {pitched}")
    if chord_tracks is None:
        chord_tracks = [i for i in pitched if i != melody_track]
    res = pm.resolution

    def q(t):
        return pm.time_to_tick(t) / res

    mel = [(n.pitch, q(n.start), q(n.end)) for n in pm.instruments[melody_track].notes]
    if not mel:
        raise MelodyError("the melody track has no notes")
    end_q = max(e for _, _, e in mel)
    if n_steps is None:
        n_steps = int(np.ceil(end_q * STEPS_PER_QUARTER / STEPS_PER_BAR - 1e-6)) * STEPS_PER_BAR
    step_q = np.arange(n_steps) / STEPS_PER_QUARTER
    chords = [(n.pitch, q(n.start), q(n.end)) for i in chord_tracks for n in pm.instruments[i].notes]
    tokens, chroma, _ = notes_to_grid_steps(mel, chords, step_q)
    tempi = pm.get_tempo_changes()[1]
    qpm = float(tempi[0]) if len(tempi) else DEFAULT_QPM
    return Melody(tokens, chroma, qpm)
