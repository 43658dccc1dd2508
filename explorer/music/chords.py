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
