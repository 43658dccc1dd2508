"""MIDI-VAE's multi-track rolls and their way to MIDI: one track per voice with its GM family's
instrument and the velocities of its onsets.

A roll of N bars: ``pitch`` (N, V, 16) classes (MIDI :data:`LOWEST` + class; :data:`SILENCE` for none),
``instrument`` (N, V) GM families (program // 8), ``velocity`` (N, V, 16): 0.5 + 0.5·v/127 at an onset,
0 elsewhere. A note starts at an onset or where the pitch changes, and lasts while its pitch holds.
"""
from __future__ import annotations

import io

import numpy as np
import pretty_midi

LOWEST, HIGHEST = 24, 83
SILENCE = HIGHEST - LOWEST + 1  # 60
N_PITCH = SILENCE + 1  # 61 classes
STEPS = 16
DEFAULT_VELOCITY = 90  # where a source has none (scores), and for a note the model gave no onset velocity
FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
            "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects")
#: The program each family is played with: its first (0 piano, 40 violin, 48 string ensemble, …).
FAMILY_PROGRAM = tuple(8 * f for f in range(16))


def velocity_value(v) -> np.ndarray:
    """MIDI velocity (1–127) → the velocity roll's value at an onset, 0.5 + 0.5·v/127."""
    return 0.5 + 0.5 * np.asarray(v, dtype=np.float32) / 127.0


def midi_velocity(value) -> np.ndarray:
    """The inverse of :func:`velocity_value` (values below 0.5 give 0), as int MIDI velocities."""
    return np.clip(np.round((np.asarray(value, dtype=np.float32) - 0.5) * 254.0), 0, 127).astype(int)


def voice_notes(pitch: np.ndarray, velocity: np.ndarray) -> list[tuple[int, int, int, int]]:
    """One voice's (pitch class (S,), velocity (S,)) → [(MIDI pitch, start step, end step, MIDI velocity)]."""
    notes, cur = [], None
    for t, (p, v) in enumerate(zip(pitch.tolist(), velocity.tolist())):
        new = p != SILENCE and (cur is None or cur[0] != p + LOWEST or v > 0)
        if cur is not None and (p == SILENCE or new):
            notes.append(tuple(cur[:2]) + (t, cur[2]))
            cur = None
        if new:
            vel = int(midi_velocity(v)) if v > 0 else DEFAULT_VELOCITY
            cur = [p + LOWEST, t, max(vel, 1)]
    if cur is not None:
        notes.append((cur[0], cur[1], len(pitch), cur[2]))
    return notes


def rolls_to_midi(pitch, instrument, velocity, *, qpm: float = 120.0) -> pretty_midi.PrettyMIDI:
    """Bars (N, V, 16) of one song in order → a PrettyMIDI with a track per voice that has notes,
    named ``voice k · family``, on the family's program; 16 steps per 4/4 bar at ``qpm``."""
    pitch, velocity, instrument = np.asarray(pitch), np.asarray(velocity), np.asarray(instrument)
    if pitch.ndim != 3 or velocity.shape != pitch.shape or instrument.shape != pitch.shape[:2]:
        raise ValueError(f"pitch and velocity (N, V, 16) and instrument (N, V) expected, got {pitch.shape}, "
                         f"{velocity.shape}, {instrument.shape}")
    n, v, s = pitch.shape
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    step = 60.0 / qpm / 4
    for k in range(v):
        flat_p = pitch[:, k].reshape(-1)
        notes = voice_notes(flat_p, velocity[:, k].reshape(-1))
        if not notes:
            continue
        # the family of the bar where most of the voice's notes are (a voice keeps one track)
        fam = int(np.bincount(instrument[:, k], weights=(pitch[:, k] != SILENCE).sum(1), minlength=16).argmax())
        inst = pretty_midi.Instrument(program=FAMILY_PROGRAM[fam], name=f"voice {k + 1} · {FAMILIES[fam]}")
        inst.notes = [pretty_midi.Note(vel, p, a * step, b * step) for p, a, b, vel in notes]
        pm.instruments.append(inst)
    return pm


def rolls_to_midi_bytes(pitch, instrument, velocity, *, qpm: float = 120.0) -> bytes:
    buf = io.BytesIO()
    rolls_to_midi(pitch, instrument, velocity, qpm=qpm).write(buf)
    return buf.getvalue()
