"""Any MIDI file: checks, the melody-track heuristic, bars from the metre map.

Melody track heuristic (``choose_melody_track``), in order:

1. the user's choice (a track index or a case-insensitive track name);
2. the first pitched track whose name says melody (``melody``, ``vocal``,
   ``voice``, ``lead``, ``soprano``, ``tune``, ``melodie``);
3. among pitched tracks with at least 8 notes (or all pitched tracks when none
   has 8), those that are mostly monophonic (at most 20% of notes start while
   another note of the track still sounds), the one with the highest mean pitch;
4. failing that, the pitched track with the highest mean pitch (its skyline
   becomes the melody).

The chord chroma comes from every other pitched track. A file with no time
signature is read as 4/4 from time 0 (the MIDI default).
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pretty_midi

from explorer.data.tune import Bar, SkipTune, Tune, make_tune

MAX_MIDI_BYTES = 8 * 1024 * 1024
MIDI_SUFFIXES = (".mid", ".midi", ".MID", ".MIDI", ".Mid")
_MELODY_NAME = re.compile(r"melod|vocal|voice|lead|soprano|tune", re.I)


def read_midi(source, *, max_bytes: int | None = None) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from a path or bytes, or SkipTune saying why not.

    Reasons: ``"file too large"``, ``"empty file"``, ``"unreadable MIDI"``,
    ``"zero length"``, ``"no notes"``, ``"drum-only"``. ``max_bytes``
    defaults to ``MAX_MIDI_BYTES`` (read at call time).
    """
    max_bytes = MAX_MIDI_BYTES if max_bytes is None else max_bytes
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        size = path.stat().st_size
        if size > max_bytes:
            raise SkipTune("file too large", f"{size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise SkipTune("file too large", f"{len(data) / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB")
    if not data:
        raise SkipTune("empty file", "0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido and pretty_midi raise many kinds
        why = str(exc).strip() or {"EOFError": "the file ends early"}.get(type(exc).__name__, "")
        raise SkipTune("unreadable MIDI", f"{type(exc).__name__}: {why}"[:200] if why else type(exc).__name__) from None
    notes = sum(len(i.notes) for i in pm.instruments)
    if notes == 0:
        raise SkipTune("no notes")
    if all(i.is_drum for i in pm.instruments if i.notes):
        raise SkipTune("drum-only", "every note is on a drum channel")
    if pm.get_end_time() <= 0:
        raise SkipTune("zero length")
    return pm


def _polyphony(inst: pretty_midi.Instrument) -> float:
    notes = sorted(inst.notes, key=lambda n: n.start)
    if len(notes) < 2:
        return 0.0
    starts = np.array([n.start for n in notes])
    ends = np.maximum.accumulate(np.array([n.end for n in notes]))
    # a note overlaps when an earlier note is still sounding 30 ms after it starts
    return float(np.mean(ends[:-1] > starts[1:] + 0.03))


def choose_melody_track(pm: pretty_midi.PrettyMIDI, override=None) -> tuple[int, str]:
    """Index of the melody track and why it was chosen (see module doc)."""
    pitched = [i for i, inst in enumerate(pm.instruments) if not inst.is_drum and inst.notes]
    if not pitched:
        raise SkipTune("drum-only", "no pitched track with notes")
    if override is not None and override != "":
        if isinstance(override, int) or (isinstance(override, str) and override.isdigit()):
            idx = int(override)
            if idx not in pitched:
                raise SkipTune("no melody track", f"track {idx} is not a pitched track with notes; pitched: {pitched}")
            return idx, f"track {idx} (chosen by the user)"
        for i in pitched:
            if pm.instruments[i].name.strip().lower() == str(override).strip().lower():
                return i, f"track {i} {pm.instruments[i].name!r} (chosen by the user)"
        names = [pm.instruments[i].name for i in pitched]
        raise SkipTune("no melody track", f"no pitched track named {override!r}; names: {names}")
    for i in pitched:
        if _MELODY_NAME.search(pm.instruments[i].name or ""):
            return i, f"track {i} {pm.instruments[i].name!r} (its name says melody)"
    big = [i for i in pitched if len(pm.instruments[i].notes) >= 8] or pitched

    def mean_pitch(i):
        return float(np.mean([n.pitch for n in pm.instruments[i].notes]))

    mono = [i for i in big if _polyphony(pm.instruments[i]) <= 0.2]
    if mono:
        best = max(mono, key=mean_pitch)
        return best, f"track {best} (highest mostly-monophonic track)"
    best = max(big, key=mean_pitch)
    return best, f"track {best} (highest track; polyphonic, skyline taken)"


def midi_bars(pm: pretty_midi.PrettyMIDI) -> list[Bar]:
    """Bars in quarters from the time-signature map, until the last note ends."""
    res = pm.resolution
    end_q = pm.time_to_tick(pm.get_end_time()) / res
    tss = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    if not tss or pm.time_to_tick(tss[0].time) > 0:
        tss = [pretty_midi.TimeSignature(4, 4, 0.0)] + tss
    bars: list[Bar] = []
    for k, ts in enumerate(tss):
        q0 = pm.time_to_tick(ts.time) / res
        q1 = pm.time_to_tick(tss[k + 1].time) / res if k + 1 < len(tss) else end_q
        length = ts.numerator * 4.0 / ts.denominator
        t = q0
        while t < q1 - 1e-6:
            bar_len = length if k + 1 == len(tss) else min(length, q1 - t)
            bars.append(Bar(t, bar_len, (ts.numerator, ts.denominator)))
            t += length
    return bars


def tune_from_midi(pm: pretty_midi.PrettyMIDI, source: str, tune_id: str, *, melody_track=None, title: str = "") -> Tune:
    """Quantise a MIDI file (see the module doc for the choices made)."""
    mi, why = choose_melody_track(pm, melody_track)
    res = pm.resolution

    def q(t):
        return pm.time_to_tick(t) / res

    mel = [(n.pitch, q(n.start), q(n.end)) for n in pm.instruments[mi].notes]
    chords = [
        (n.pitch, q(n.start), q(n.end))
        for i, inst in enumerate(pm.instruments)
        if i != mi and not inst.is_drum
        for n in inst.notes
    ]
    tempi = pm.get_tempo_changes()[1]
    qpm = float(tempi[0]) if len(tempi) else 120.0
    tune = make_tune(source, tune_id, mel, midi_bars(pm), chord_notes=chords, qpm=qpm, title=title)
    tune.stats["melody_track"] = why
    return tune


def list_midi_files(path) -> list[Path]:
    """MIDI files under ``path`` (a file or a folder, searched recursively), sorted."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"no such file or folder: {p}")
    return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in MIDI_SUFFIXES)


def load_midi_item(item) -> list[Tune]:
    """Worker for a folder of MIDI: ``item = (path, root, melody_track)``."""
    path, root, melody_track = item
    pm = read_midi(path)
    rel = os.path.relpath(path, root) if root and os.path.isdir(root) else os.path.basename(path)
    return [tune_from_midi(pm, "midi", rel, melody_track=melody_track, title=Path(path).stem)]
