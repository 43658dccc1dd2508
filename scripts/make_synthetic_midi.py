"""Write N small MIDI files of random melodies (seeded) for the store and Ray tests and figures.

    python scripts/make_synthetic_midi.py OUT_DIR --n 20000 [--seed 0] [--per-folder 500]

Each file is 4/4 at a random tempo: a track named "Melody" (a random walk in a major key, notes of
an 8th to a half note, some rests) over a "Chords" track (one triad per bar), 4 to 24 bars. Files
go into sub-folders of ``--per-folder`` files, as a large collection would be laid out. One file in
10 is a transposed copy of an earlier one under another name (a duplicate a build must keep in one
split), and one in 200 is not MIDI at all (a file a build must skip and report).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pretty_midi

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])


def random_tune(rng: np.random.Generator) -> tuple[float, list, list]:
    """(qpm, melody notes, chord notes) as (pitch, start, end) in quarters."""
    key = int(rng.integers(0, 12))
    bars = int(rng.integers(4, 25))
    degree = int(rng.integers(0, 7))
    mel, chords, t = [], [], 0.0
    while t < bars * 4 - 1e-9:
        dur = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0]))
        dur = min(dur, bars * 4 - t)
        if rng.random() > 0.1:
            degree = int(np.clip(degree + rng.integers(-3, 4), -3, 12))
            pitch = 60 + key + 12 * (degree // 7) + MAJOR[degree % 7]
            mel.append((int(pitch), t, t + dur))
        t += dur
    for b in range(bars):
        root = int(rng.choice([0, 3, 4, 5]))
        for d in (0, 2, 4):
            s = root + d
            chords.append((int(48 + key + 12 * (s // 7) + MAJOR[s % 7]), 4.0 * b, 4.0 * b + 4))
    return float(rng.integers(80, 160)), mel, chords


def tune_to_midi(qpm: float, mel: list, chords: list, shift: int = 0) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    sec = 60.0 / qpm
    for name, program, notes in (("Melody", 73, mel), ("Chords", 0, chords)):
        inst = pretty_midi.Instrument(program=program, name=name)
        inst.notes = [pretty_midi.Note(90, p + shift, s * sec, e * sec) for p, s, e in notes]
        pm.instruments.append(inst)
    return pm


def make_corpus(out, n: int, *, seed: int = 0, per_folder: int = 500) -> list[Path]:
    """Write ``n`` files under ``out`` (see the module doc); returns their paths."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    written, tunes = [], []
    for k in range(n):
        path = out / f"set-{k // per_folder:03d}" / f"tune-{k:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        if k % 200 == 199:
            path.write_bytes(b"this is not a MIDI file")
        elif k % 10 == 9 and tunes:
            qpm, mel, chords = tunes[int(rng.integers(0, len(tunes)))]
            tune_to_midi(qpm, mel, chords, shift=int(rng.integers(-5, 6))).write(str(path))
        else:
            tune = random_tune(rng)
            tunes.append(tune)
            tune_to_midi(*tune).write(str(path))
        written.append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the folder to write into")
    ap.add_argument("--n", type=int, default=1000, help="number of files (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-folder", type=int, default=500, help="files per sub-folder")
    args = ap.parse_args(argv)
    if args.n < 1 or args.per_folder < 1:
        ap.error(f"--n and --per-folder must be ≥ 1, got {args.n}, {args.per_folder}")
    files = make_corpus(args.out, args.n, seed=args.seed, per_folder=args.per_folder)
    print(f"wrote {len(files)} files under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
