"""Cached loaders: datasets and audio are computed once per content."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.audio import audio_status, render_wav_bytes
from explorer.data.dataset import SegmentDataset


@st.cache_resource(show_spinner="Loading the default corpus (other segment lengths than the shipped ones are "
                                "built once: minutes)…")
def default_dataset(bars: int = 2) -> SegmentDataset:
    from explorer.data.default import load_default

    return load_default(bars=bars)


def _folder_key(path: str) -> tuple:
    from explorer.data.midi_files import list_midi_files

    files = list_midi_files(path)
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


@st.cache_resource(show_spinner=False, max_entries=4)
def _folder_dataset(path: str, key: tuple, melody_track, bars: int = 2):
    from explorer.data.build import build_dataset

    progress = st.progress(0.0, text=f"Reading {len(key)} MIDI files…")
    lines = []

    def log(line):
        lines.append(line)

    ds, report = build_dataset("midi", path, bars=bars, workers=1, progress=False, log=log, melody_track=melody_track)
    progress.progress(1.0, text=f"Read {len(key)} files: {len(ds)} segments")
    return ds, report.summary(ds) | {"messages": report.messages}


def folder_dataset(path: str, melody_track=None, bars: int = 2):
    """(dataset, summary) of a folder of MIDI files in ``bars``-bar segments; cached by the files' mtimes."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no such folder: {p}")
    return _folder_dataset(str(p), _folder_key(str(p)), melody_track, bars)


@st.cache_data(show_spinner=False, max_entries=16)
def upload_dataset(data: bytes, name: str, melody_track=None, bars: int = 2):
    from explorer.data.upload import dataset_from_midi_bytes

    return dataset_from_midi_bytes(data, name, bars=bars, melody_track=melody_track)


def wav_bytes(midi_bytes: bytes) -> bytes | None:
    """WAV of a MIDI file (program and tempo are in the MIDI); None when audio is unavailable.
    ``render_wav_bytes`` caches by content (memory and disk), so no Streamlit cache here."""
    if not audio_status()[0]:
        return None
    return render_wav_bytes(midi_bytes)
