"""What the app tests share: paths, a tiny melody as MIDI bytes, a corrupt MIDI."""
from __future__ import annotations

import io
from pathlib import Path

import pretty_midi

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
SEGMENT_PAGE = "pages/segment_player.py"

#: Starts like a MIDI header, then nothing a MIDI reader can parse.
BROKEN_MIDI = b"MThd garbage not a midi"

# (pitch, start, end) in 16ths: two 4/4 bars of C major, eighths and quarters on the 16th grid.
TWO_BARS = [(60, 0, 2), (62, 2, 4), (64, 4, 8), (65, 8, 10), (67, 10, 12), (69, 12, 16),
            (67, 16, 20), (64, 20, 22), (62, 22, 24), (60, 24, 32)]


def melody_midi_bytes(notes=TWO_BARS, *, qpm: float = 120.0, name: str = "melody") -> bytes:
    """A one-track 4/4 MIDI file of ``notes`` ``(pitch, start, end)`` in 16ths at ``qpm``."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=0, name=name)
    sixteenth = 60.0 / qpm / 4
    inst.notes.extend(pretty_midi.Note(90, p, s * sixteenth, e * sixteenth) for p, s, e in notes)
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()
