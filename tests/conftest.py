"""Shared fixtures: where the real corpora are, tiny music made in code."""
from __future__ import annotations

import os
from pathlib import Path

import pretty_midi
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LATENT_EXPLORER_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Keep every cache the code writes out of the home folder."""
    old = os.environ.get("LATENT_EXPLORER_CACHE")
    os.environ["LATENT_EXPLORER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("LATENT_EXPLORER_CACHE", None)
    else:
        os.environ["LATENT_EXPLORER_CACHE"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real corpora are not at {SHARED_DATA} (set LATENT_EXPLORER_DATA)")
    return SHARED_DATA


def make_midi(notes, *, qpm=120.0, metre=(4, 4), chords=(), drums=False, extra_ts=()) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from ``(pitch, start_q, end_q)`` tuples in quarter notes.

    ``chords`` are more such tuples for a second track; ``extra_ts`` are
    ``(num, den, time_q)`` time-signature changes.
    """
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    spq = 60.0 / qpm
    mel = pretty_midi.Instrument(program=0, is_drum=drums, name="melody")
    for p, s, e in notes:
        mel.notes.append(pretty_midi.Note(90, p, s * spq, e * spq))
    pm.instruments.append(mel)
    if chords:
        ch = pretty_midi.Instrument(program=0, name="chords")
        for p, s, e in chords:
            ch.notes.append(pretty_midi.Note(60, p, s * spq, e * spq))
        pm.instruments.append(ch)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(metre[0], metre[1], 0.0))
    for num, den, tq in extra_ts:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, tq * spq))
    return pm
