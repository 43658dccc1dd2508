"""Nottingham (jukedeck cleaned MIDI): track 0 is the melody, track 1 the chords."""
from __future__ import annotations

from pathlib import Path

from explorer.data.midi_files import read_midi, tune_from_midi


def nottingham_items(path) -> list:
    """The tunes under ``path`` (the dataset's ``MIDI`` folder or its parent)."""
    p = Path(path)
    if (p / "MIDI").is_dir():
        p = p / "MIDI"
    if not p.is_dir():
        raise FileNotFoundError(f"Nottingham MIDI folder not found: {p} (expected .../nottingham/MIDI)")
    files = sorted(f for f in p.glob("*.mid"))
    if not files:
        raise FileNotFoundError(f"no .mid files in {p}")
    return [str(f) for f in files]


def load_nottingham_item(path) -> list:
    pm = read_midi(path)
    melody = 0 if len(pm.instruments) >= 1 and not pm.instruments[0].is_drum else None
    return [tune_from_midi(pm, "nottingham", Path(path).stem, melody_track=melody, title=Path(path).stem)]
