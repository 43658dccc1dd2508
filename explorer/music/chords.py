"""Chord labels to 12-dim chroma.

Harte labels (``"A:min7/b3"``, ``"N"``: POP909's ``chord_midi.txt``) go through
mir_eval, the field's reference parser. Lead-sheet symbols (``"Am"``, ``"G7"``,
``"F#m7b5"``) go through music21's ChordSymbol.
"""
from __future__ import annotations

import re

import numpy as np


class ChordError(ValueError):
    """A chord label that cannot be parsed."""


def harte_to_chroma(label: str) -> np.ndarray:
    """(12,) uint8 chroma of a Harte chord label; "N" and "X" give zeros.

    The bass note of an inversion counts as a sounding pitch class.
    """
    import mir_eval.chord

    label = label.strip()
    try:
        root, bitmap, bass = mir_eval.chord.encode(label)
    except Exception as exc:  # mir_eval raises InvalidChordException and others
        raise ChordError(f"not a Harte chord label: {label!r} ({exc})") from None
    out = np.zeros(12, dtype=np.uint8)
    if root < 0:
        return out
    out[:] = np.roll(np.asarray(bitmap, dtype=np.uint8), root)
    if bass >= 0:
        out[(root + bass) % 12] = 1
    return out


_SYMBOL_FIXES = [(re.compile(r"^([A-Ga-g][#b-]?)min"), r"\1m")]


def symbol_to_chroma(symbol: str) -> np.ndarray:
    """(12,) uint8 chroma of a lead-sheet chord symbol such as ``"Am"`` or ``"G7"``."""
    from music21 import harmony

    text = symbol.strip()
    if not text:
        raise ChordError("empty chord symbol")
    if text.upper() in {"N", "N.C.", "NC"}:
        return np.zeros(12, dtype=np.uint8)
    fixed = text[0].upper() + text[1:]
    for pat, rep in _SYMBOL_FIXES:
        fixed = pat.sub(rep, fixed)
    try:
        cs = harmony.ChordSymbol(fixed)
        pcs = {p.pitchClass for p in cs.pitches}
    except Exception as exc:
        raise ChordError(f"not a chord symbol: {symbol!r} ({exc}); use e.g. C, Am, G7, F#m7b5, Bb/D") from None
    if not pcs:
        raise ChordError(f"not a chord symbol: {symbol!r}; use e.g. C, Am, G7, F#m7b5, Bb/D")
    out = np.zeros(12, dtype=np.uint8)
    out[sorted(pcs)] = 1
    return out


def chroma_to_pitches(chroma, octave: int = 4) -> list[int]:
    """MIDI pitches of a (12,) chroma's pitch classes in octave ``octave`` (C4 = 60)."""
    base = 12 * (octave + 1)
    return [base + pc for pc in np.flatnonzero(np.asarray(chroma))]


def progression_to_chroma(text: str, n_steps: int, steps_per_chord: int) -> np.ndarray:
    """(n_steps, 12) chroma of a typed progression such as ``"C G Am F"``,
    each chord lasting ``steps_per_chord`` steps, the list repeated to fill."""
    symbols = text.replace("|", " ").replace(",", " ").split()
    if not symbols:
        raise ChordError("the progression is empty; type chords such as 'C G Am F'")
    if steps_per_chord <= 0:
        raise ChordError(f"steps_per_chord must be > 0, got {steps_per_chord}")
    chromas = [symbol_to_chroma(s) for s in symbols]
    out = np.zeros((n_steps, 12), dtype=np.uint8)
    for t in range(n_steps):
        out[t] = chromas[(t // steps_per_chord) % len(chromas)]
    return out


# the 24 major and minor triads as (24, 12) templates: rows 0-11 C..B major, 12-23 C..B minor
TRIADS = np.array([np.roll([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)]
                  + [np.roll([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)], dtype=np.uint8)
TRIAD_NAMES = [n + q for q in ("", "m") for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")]


def estimate_chords(tokens, steps_per_chord: int = 8, stay_bonus: float = 0.15) -> tuple[np.ndarray, list[str]]:
    """Chords guessed from a melody alone, for a melody without a chord track.

    Each window of ``steps_per_chord`` steps gets the major or minor triad that best covers
    the pitch classes sounding in it (weighted by duration, onsets on beats count double),
    minus half the weight of pitch classes outside the triad; keeping the previous window's
    chord earns ``stay_bonus`` of the window's weight. A window without notes keeps the
    previous chord (the first chord that is found fills any silent start).

    Returns the (T, 12) uint8 chroma and the chord names per window ("" for none at all).
    """
    from explorer.music.melody import HOLD, N_PITCHES

    tok = np.asarray(tokens).astype(np.int64)
    if tok.ndim != 1:
        raise ValueError(f"tokens must have shape (T,), got {tok.shape}")
    if steps_per_chord <= 0:
        raise ValueError(f"steps_per_chord must be > 0, got {steps_per_chord}")
    t = len(tok)
    sounding = np.full(t, -1)
    cur = -1
    for i, x in enumerate(tok):
        cur = x if x < N_PITCHES else (cur if x == HOLD else -1)
        sounding[i] = cur
    weight = np.ones(t) + ((tok < N_PITCHES) & (np.arange(t) % 4 == 0))
    n_win = -(-t // steps_per_chord)
    picks: list[int | None] = []
    prev = None
    for w in range(n_win):
        sl = slice(w * steps_per_chord, min(t, (w + 1) * steps_per_chord))
        hist = np.zeros(12)
        on = sounding[sl] >= 0
        np.add.at(hist, sounding[sl][on] % 12, weight[sl][on])
        if hist.sum() == 0:
            picks.append(prev)
            continue
        score = TRIADS @ hist - 0.5 * (1 - TRIADS) @ hist
        if prev is not None:
            score[prev] += stay_bonus * hist.sum()
        prev = int(np.argmax(score))
        picks.append(prev)
    first = next((p for p in picks if p is not None), None)
    picks = [first if p is None else p for p in picks]
    chroma = np.zeros((t, 12), dtype=np.uint8)
    for w, p in enumerate(picks):
        if p is not None:
            chroma[w * steps_per_chord:(w + 1) * steps_per_chord] = TRIADS[p]
    return chroma, [TRIAD_NAMES[p] if p is not None else "" for p in picks]


def estimate_missing_chords(tokens: np.ndarray, chroma: np.ndarray) -> tuple[np.ndarray, int]:
    """``chroma`` with chords estimated from the notes (``estimate_chords``, one per
    half bar) in every row that has none — what the app gives a chord-conditioned model for a
    melody without a chord track — and how many rows got chords (rows without notes get none)."""
    out = np.array(chroma, dtype=np.float32, copy=True)
    filled = 0
    for i in np.flatnonzero(~out.reshape(len(out), -1).any(1)):
        out[i] = estimate_chords(tokens[i])[0]
        filled += bool(out[i].any())  # a segment without notes gets no chords: not counted
    return out, filled
