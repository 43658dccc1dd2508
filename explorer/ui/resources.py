"""Cached loaders: datasets and audio are computed once per content; where an uploaded
checkpoint is written (a folder of this browser session's own)."""
from __future__ import annotations

import functools
import io
import os
import re
import tempfile
import time
from pathlib import Path

import streamlit as st

from explorer.audio import audio_status, render_wav_bytes
from explorer.data.dataset import SegmentDataset
from explorer.lru import LRU


@st.cache_resource(show_spinner="Loading the default corpus (other segment lengths than the shipped ones are "
                                "built once: minutes)…")
def default_dataset(bars: int = 2) -> SegmentDataset:
    from explorer.data.default import load_default

    return load_default(bars=bars)


@st.cache_data(show_spinner="Looking for MIDI files…", ttl=60, max_entries=16)
def _folder_key(path: str, root: str) -> tuple:
    """The folder's MIDI files with their mtimes and sizes (the dataset's cache key); the scan
    is bounded (see scan_midi_files) and kept for a minute, so reruns do not walk the folder."""
    from explorer.data.midi_files import scan_midi_files

    files, _ = scan_midi_files(path, within=Path(root))
    out = []
    for f in files:
        try:
            st_ = f.stat()
        except OSError:
            continue
        out.append((str(f), st_.st_mtime_ns, st_.st_size))
    return tuple(out)


@st.cache_resource(show_spinner=False, max_entries=4)
def _folder_dataset(path: str, root: str, key: tuple, melody_track, bars: int = 2):
    from explorer.data.build import build_dataset
    from explorer.limits import limit

    progress = st.progress(0.0, text=f"Reading {len(key)} MIDI files…")
    ds, report = build_dataset("midi", path, bars=bars, workers=1, progress=False, log=lambda line: None,
                               melody_track=melody_track, max_seconds=limit("analysis_seconds"), within=Path(root))
    progress.progress(1.0, text=f"Read {len(key)} files: {len(ds)} segments")
    return ds, report.summary(ds) | {"messages": report.messages}  # files named relative to `path`


def folder_dataset(path: str, melody_track=None, bars: int = 2):
    """(dataset, summary) of a folder of MIDI files in ``bars``-bar segments; cached by the files' mtimes.

    ``path`` must lie in one of the allowed folders (:func:`explorer.data.midi_files.folder_roots`):
    FolderNotAllowed (a PermissionError) otherwise, FileNotFoundError when it does not exist."""
    from explorer.data.midi_files import is_inside, confine, folder_roots

    roots = folder_roots()
    real = confine(path, roots)
    root = next(r for r in roots if is_inside(real, r))
    return _folder_dataset(str(real), str(root), _folder_key(str(real), str(root)), melody_track, bars)


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(real: str, manifest_mtime_ns: int):
    from explorer.data.store import open_store

    return open_store(real)


def store_resource(path: str):
    """The store (explorer.data.store.Store) at ``path``, which must lie in one of the allowed folders
    (:func:`explorer.data.midi_files.folder_roots`); opened again when its manifest changes. Raises
    StoreError (a ValueError) for a folder that is not a readable store, FolderNotAllowed (a
    PermissionError) or FileNotFoundError as :func:`folder_dataset` does."""
    from explorer.data.midi_files import confine
    from explorer.data.store import MANIFEST, StoreError

    real = confine(path)
    try:
        mtime = (real / MANIFEST).stat().st_mtime_ns
    except OSError:
        raise StoreError(f"{path} is not a store: it has no {MANIFEST} (make one with "
                         "`explorer data build SOURCE --path DIR --out STORE`)") from None
    return _store(str(real), mtime)


@st.cache_resource(show_spinner="Reading a sample of the store…", max_entries=4,
                   hash_funcs={"explorer.data.store.Store": lambda s: (str(s.path), len(s), str(s.manifest))})
def store_sample(store, n: int) -> SegmentDataset:
    """A fixed random sample of at most ``n`` segments of ``store`` (in store order) as a SegmentDataset."""
    from explorer.latent.projection import subset_rows

    return store.to_dataset(subset_rows(len(store), n))


@st.cache_data(show_spinner=False, max_entries=16)
def upload_dataset(data: bytes, name: str, melody_track=None, bars: int = 2):
    from explorer.data.upload import dataset_from_midi_bytes

    return dataset_from_midi_bytes(data, name, bars=bars, melody_track=melody_track)


def upload_note(info: dict | None) -> str:
    """A line for an upload that was read only in part (its first bars), or ""."""
    from explorer.limits import limit

    if not info or not info.get("bars_cut"):
        return ""
    return (f"Only the first {info['bars_cut']:,} bars of this file were read "
            f"(LATENT_EXPLORER_MAX_BARS = {limit('bars'):,.0f}).")


_SESSION_DIR_KEY = "_upload_dir"


def session_upload_dir() -> Path:
    """This browser session's own temporary folder (mode 700), removed when the session ends
    (its TemporaryDirectory lives in the session state and cleans up when that is dropped) and
    at the latest when the server process exits."""
    if _SESSION_DIR_KEY not in st.session_state:
        st.session_state[_SESSION_DIR_KEY] = tempfile.TemporaryDirectory(prefix="latent-explorer-session-")
    return Path(st.session_state[_SESSION_DIR_KEY].name)


def save_checkpoint_upload(data: bytes, name: str, folder: Path | None = None) -> Path:
    """Write an uploaded checkpoint under the user's file name (letters, digits, ``._-`` kept) in
    ``folder`` (default :func:`session_upload_dir`) and return its path. The write creates a new
    file and never follows a link (O_CREAT | O_EXCL | O_NOFOLLOW); a file of the same name from an
    earlier upload is replaced by removing it first.

    Raises LimitError (a ValueError) naming the file when it is larger than the ``checkpoint_mb``
    limit."""
    from explorer.limits import LimitError, limit, mb

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(name)).name).lstrip(".") or "checkpoint.safetensors"
    if len(data) > mb("checkpoint_mb"):
        raise LimitError(f"{safe} is {len(data) / 2**20:.1f} MB; checkpoints are read up to "
                         f"{limit('checkpoint_mb'):g} MB (LATENT_EXPLORER_MAX_CHECKPOINT_MB)")
    path = (folder or session_upload_dir()) / safe
    try:
        path.unlink()  # a link planted here is removed, not followed
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def wav_bytes(midi_bytes: bytes) -> bytes | None:
    """WAV of a MIDI file (program and tempo are in the MIDI); None when audio is unavailable.
    ``render_wav_bytes`` caches by content (memory and disk), so no Streamlit cache here."""
    if not audio_status()[0]:
        return None
    return render_wav_bytes(midi_bytes)


@functools.lru_cache(maxsize=64)  # three live ranges of 21; a long performance's WAV is megabytes
def flac_of_wav(wav: bytes) -> tuple[bytes, int]:
    """(FLAC bytes, sample rate in Hz) of a 16-bit WAV: lossless, about half the size, and quick
    to write (~10 ms for 5 s, where OGG Vorbis takes ~70 ms); what the clip player embeds."""
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format="FLAC", subtype="PCM_16")
    return out.getvalue(), int(rate)


# ---- memory: latents, projections and placements stay in this process -----------------
@st.cache_resource(show_spinner=False)
def page_memory() -> LRU:
    return LRU(16)


def computed(key, label: str, compute, memory: LRU | None = None):
    """The value under ``key`` in ``memory`` (default: the pages'), else ``compute(progress)`` inside a
    status box with a progress bar; ``compute`` returns (value, what was done, in words)."""
    memory = page_memory() if memory is None else memory
    value = memory.get(key)
    if value is None:
        with st.status(label, expanded=True) as status:
            bar = st.progress(0.0)
            t0 = time.perf_counter()
            value, how = compute(lambda done, total, unit: bar.progress(done / total, text=f"{done} / {total} {unit}"))
            status.update(label=f"{how} in {time.perf_counter() - t0:.1f} s", state="complete", expanded=False)
        memory.put(key, value)
    return value
