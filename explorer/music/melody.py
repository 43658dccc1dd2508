"""The melody representation: a 16th-note grid of 130 tokens per step.

Token ``0..127`` is the onset of that MIDI pitch, ``HOLD`` (128) continues the
previous note and ``REST`` (129) is silence: the EC²-VAE encoding (Yang et al.,
ISMIR 2019). A chord condition is a 12-dim pitch-class chroma per step. The
rhythm view collapses a token sequence to 3 classes: onset, hold, rest.

Times are in quarter notes ("q") unless a name says seconds; one step is a
16th note, so ``STEPS_PER_QUARTER = 4`` and a 4/4 bar is ``STEPS_PER_BAR = 16``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_PITCHES = 128
HOLD = 128
REST = 129
N_TOKENS = 130
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
DEFAULT_BARS = 2
DEFAULT_QPM = 120.0

# rhythm classes
ONSET, SUSTAIN, SILENCE = 0, 1, 2
N_RHYTHM = 3


class MelodyError(ValueError):
    """A token sequence or note list that is not a valid melody."""


def ensure_tokens(tokens) -> np.ndarray:
    """Return ``tokens`` as an integer array of shape (..., T), checked.

    Raises
    ------
    MelodyError
        When a value lies outside ``0..129``.
    """
    arr = np.asarray(tokens)
    if arr.ndim == 0:
        raise MelodyError(f"tokens must be a sequence, got a scalar {arr!r}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer)):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise MelodyError(f"tokens must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= N_TOKENS):
        raise MelodyError(
            f"tokens must lie in 0..{N_TOKENS - 1} (pitch onsets, {HOLD}=hold, {REST}=rest); "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return arr


def tokens_to_rhythm(tokens) -> np.ndarray:
    """Map tokens (..., T) to rhythm classes (..., T): 0 onset, 1 hold, 2 rest."""
    tok = ensure_tokens(tokens)
    out = np.full(tok.shape, ONSET, dtype=np.int64)
    out[tok == HOLD] = SUSTAIN
    out[tok == REST] = SILENCE
    return out


def clean_tokens(tokens) -> np.ndarray:
    """Turn a HOLD that follows a rest (or starts the sequence) into a REST.

    A decoder can emit such holds; they have no note to continue. Works on
    (..., T) arrays and returns a new array.
    """
    tok = ensure_tokens(tokens).copy()
    prev_is_silent = np.ones(tok.shape[:-1], dtype=bool)
    for t in range(tok.shape[-1]):
        col = tok[..., t]
        bad = (col == HOLD) & prev_is_silent
        col[bad] = REST
        tok[..., t] = col
        prev_is_silent = col == REST
    return tok


@dataclass(frozen=True)
class Note:
    """One note on the grid: MIDI ``pitch``, ``start`` and ``end`` in steps."""

    pitch: int
    start: int
    end: int

    def __post_init__(self):
        if not 0 <= self.pitch < N_PITCHES:
            raise MelodyError(f"pitch must lie in 0..127, got {self.pitch}")
        if self.end <= self.start or self.start < 0:
            raise MelodyError(f"a note needs 0 <= start < end, got start={self.start}, end={self.end}")


def tokens_to_notes(tokens) -> list[Note]:
    """Notes (pitch, start step, end step) of a 1-D token sequence."""
    tok = ensure_tokens(tokens)
    if tok.ndim != 1:
        raise MelodyError(f"tokens_to_notes takes one sequence (T,), got shape {tok.shape}")
    notes: list[Note] = []
    pitch, start = None, 0
    for t, v in enumerate(tok.tolist()):
        if v < N_PITCHES:
            if pitch is not None:
                notes.append(Note(pitch, start, t))
            pitch, start = v, t
        elif v == REST:
            if pitch is not None:
                notes.append(Note(pitch, start, t))
            pitch = None
    if pitch is not None:
        notes.append(Note(pitch, start, len(tok)))
    return notes


def notes_to_tokens(notes, n_steps: int) -> np.ndarray:
    """Tokens (n_steps,) of notes given as ``(pitch, start_step, end_step)``.

    Monophonic reduction: where several notes start on the same step the
    highest wins (skyline); a note sounding when the next one starts is cut
    there. Notes are clipped to ``n_steps``. Returns ``uint8``.
    """
    tok = np.full(n_steps, REST, dtype=np.uint8)
    items = []
    for n in notes:
        p, s, e = (n.pitch, n.start, n.end) if isinstance(n, Note) else n
        s, e = int(s), int(e)
        if s >= n_steps or e <= 0 or not 0 <= p < N_PITCHES:
            continue
        items.append((max(s, 0), -int(p), min(max(e, s + 1), n_steps)))
    items.sort()
    onsets = {}
    for s, negp, e in items:
        if s not in onsets:  # highest pitch first because of the sort
            onsets[s] = (-negp, e)
    starts = sorted(onsets)
    for i, s in enumerate(starts):
        p, e = onsets[s]
        nxt = starts[i + 1] if i + 1 < len(starts) else n_steps
        e = min(e, nxt)
        tok[s] = p
        tok[s + 1:e] = HOLD
    return tok


@dataclass
class Melody:
    """A melody on the grid with its chord condition.

    Attributes
    ----------
    tokens : (T,) uint8, values 0..129
    chroma : (T, 12) uint8, 1 where a pitch class sounds in the chord
    qpm : float, tempo in quarter notes per minute
    """

    tokens: np.ndarray
    chroma: np.ndarray | None = None
    qpm: float = DEFAULT_QPM
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tokens = ensure_tokens(self.tokens).astype(np.uint8)
        if self.tokens.ndim != 1:
            raise MelodyError(f"Melody.tokens must be 1-D (T,), got shape {self.tokens.shape}")
        if self.chroma is None:
            self.chroma = np.zeros((len(self.tokens), 12), dtype=np.uint8)
        self.chroma = np.asarray(self.chroma, dtype=np.uint8)
        if self.chroma.shape != (len(self.tokens), 12):
            raise MelodyError(
                f"chroma must have shape (T, 12) = ({len(self.tokens)}, 12), got {self.chroma.shape}"
            )
        if not self.qpm > 0:
            raise MelodyError(f"qpm must be > 0, got {self.qpm}")

    def __repr__(self) -> str:
        n = int(np.sum(self.tokens < N_PITCHES))
        return f"Melody(steps={len(self.tokens)}, bars={len(self.tokens) / STEPS_PER_BAR:g}, notes={n}, qpm={self.qpm:g})"

    @property
    def n_steps(self) -> int:
        return len(self.tokens)

    def notes(self) -> list[Note]:
        return tokens_to_notes(self.tokens)

    def rhythm(self) -> np.ndarray:
        return tokens_to_rhythm(self.tokens)

    def transpose(self, semitones: int) -> "Melody":
        """A copy moved by ``semitones``; raises MelodyError when a pitch leaves 0..127."""
        return Melody(transpose_tokens(self.tokens, semitones), roll_chroma(self.chroma, semitones), self.qpm, dict(self.meta))


def transpose_tokens(tokens, semitones: int) -> np.ndarray:
    """Shift the pitch tokens of (..., T) by ``semitones``; holds and rests stay."""
    tok = ensure_tokens(tokens).astype(np.int64)
    pitched = tok < N_PITCHES
    out = tok.copy()
    out[pitched] += int(semitones)
    if pitched.any() and (out[pitched].min() < 0 or out[pitched].max() >= N_PITCHES):
        raise MelodyError(f"transposing by {semitones} moves a pitch outside 0..127")
    return out.astype(np.uint8)


def roll_chroma(chroma, semitones: int) -> np.ndarray:
    """Rotate a (..., 12) chroma by ``semitones`` pitch classes."""
    return np.roll(np.asarray(chroma), int(semitones), axis=-1)
