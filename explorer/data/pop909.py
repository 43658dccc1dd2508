"""POP909: the MELODY track, quantised on the beats of ``beat_midi.txt``.

The MIDI files are unquantised and their time signatures are wrong, so time
goes through the annotated beats: seconds map to beats by linear
interpolation between beat times, a bar runs from one downbeat (third column
= 1) to the next, and bars of 4 beats are kept. Chords come from
``chord_midi.txt`` (Harte labels).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.data.midi_files import read_midi
from explorer.data.tune import Bar, SkipTune, make_tune
from explorer.music.chords import ChordError, harte_to_chroma


def pop909_items(path) -> list:
    p = Path(path)
    if (p / "POP909").is_dir():
        p = p / "POP909"
    if not p.is_dir():
        raise FileNotFoundError(f"POP909 folder not found: {p} (expected .../pop909/POP909)")
    songs = sorted(d for d in p.iterdir() if d.is_dir() and (d / f"{d.name}.mid").exists())
    if not songs:
        raise FileNotFoundError(f"no POP909 song folders (NNN/NNN.mid) in {p}")
    return [str(d) for d in songs]


def _seconds_to_beats(beat_times: np.ndarray):
    n = len(beat_times)
    idx = np.arange(n, dtype=float)
    first = beat_times[1] - beat_times[0]
    last = beat_times[-1] - beat_times[-2]

    def f(t):
        t = np.asarray(t, dtype=float)
        out = np.interp(t, beat_times, idx)
        out = np.where(t < beat_times[0], (t - beat_times[0]) / first, out)
        return np.where(t > beat_times[-1], n - 1 + (t - beat_times[-1]) / last, out)

    return f


def load_pop909_item(song_dir) -> list:
    d = Path(song_dir)
    pm = read_midi(d / f"{d.name}.mid")
    mel_tracks = [i for i in pm.instruments if i.name.strip().upper() == "MELODY"]
    if not mel_tracks or not mel_tracks[0].notes:
        raise SkipTune("no melody track", "no MELODY track with notes")
    try:
        beats = np.loadtxt(d / "beat_midi.txt", ndmin=2)
    except (OSError, ValueError) as exc:
        raise SkipTune("no beat annotation", str(exc)) from None
    if len(beats) < 8:
        raise SkipTune("no beat annotation", "fewer than 8 beats")
    to_q = _seconds_to_beats(beats[:, 0])
    down = np.flatnonzero(beats[:, 2] > 0.5)
    bars = []
    for k, b in enumerate(down):
        nb = (down[k + 1] if k + 1 < len(down) else len(beats)) - b
        # bars of 3, 5, ... beats are another metre; a lone 2-beat bar is a
        # partial 4/4 bar (never paired like 2/4): either breaks the run
        bars.append(Bar(float(b), float(nb), (4, 4) if nb in (2, 4) else (int(nb), 4)))
    mel = mel_tracks[0].notes
    starts, ends = to_q([n.start for n in mel]), to_q([n.end for n in mel])
    notes = [(n.pitch, s, e) for n, s, e in zip(mel, starts, ends)]
    spans = []
    chord_file = d / "chord_midi.txt"
    if chord_file.exists():
        for line in chord_file.read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            try:
                c = harte_to_chroma(parts[2])
            except ChordError:
                continue
            spans.append((float(to_q(float(parts[0]))), float(to_q(float(parts[1]))), c))
    qpm = float(60.0 / np.median(np.diff(beats[:, 0])))
    return [make_tune("pop909", d.name, notes, bars, chord_spans=spans, qpm=qpm, title=d.name)]
