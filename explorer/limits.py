"""The limits on the work one file or one request may cause, in one place.

Every uploader, the folder data source, ``explorer render``, ``explorer data build``, the audio
renderer and the audio disk cache read their bounds here, so a file past a limit gets the same
answer everywhere: a message naming the file and the limit, and where it makes sense the first
part that fits (the first ``bars`` bars of a long melody, the first ``audio_seconds`` of audio).

Each limit is read when it is used from ``LATENT_EXPLORER_MAX_<NAME>`` (e.g.
``LATENT_EXPLORER_MAX_MIDI_MB=4``), so a deployment or a test can move it without code. The
defaults keep one request under about 1 GB of memory and a minute of CPU (measured figures:
docs/security.md). ``.streamlit/config.toml``'s ``maxUploadSize`` must be at least the largest
upload limit (``checkpoint_mb``); a test checks that.

The lowest layer: imports nothing from ``explorer``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["LIMITS", "Limit", "LimitError", "env_name", "limit", "mb", "table"]


class LimitError(ValueError):
    """A file or request past one of :data:`LIMITS`; the message names the file and the limit."""


@dataclass(frozen=True)
class Limit:
    """One bound: its default, its unit and what it bounds (one line for the docs and help texts)."""

    default: float
    unit: str
    what: str


#: name → Limit. Sizes in MB are 2**20 bytes.
LIMITS: dict[str, Limit] = {
    "midi_mb": Limit(1, "MB", "a MIDI file: upload, folder file, `explorer render` and `data build` input"),
    "score_mb": Limit(8, "MB", "a MusicXML/MXL score upload (an .mxl also unpacked)"),
    "checkpoint_mb": Limit(32, "MB", "a checkpoint upload"),
    "notes": Limit(100_000, "notes", "notes in one MIDI file (more: the file is refused)"),
    "bars": Limit(1_000, "bars", "bars read from one file (more: the first ones are kept, with a message)"),
    "score_notes": Limit(5_000, "notes", "notes in an uploaded MIDI score (more: the first measures are kept)"),
    "score_bars": Limit(300, "bars", "bars of an uploaded MIDI score (more: the first ones are kept)"),
    "audio_seconds": Limit(600, "s", "seconds of audio one render writes (longer: the first ones, with a message)"),
    "analysis_seconds": Limit(60, "s", "time one folder is read for (more: the files read so far are used)"),
    "folder_files": Limit(2_000, "files", "MIDI files listed in one folder (more: the first ones, sorted)"),
    "folder_scan_seconds": Limit(10, "s", "time one folder is searched for MIDI files"),
    "audio_cache_mb": Limit(512, "MB", "the audio disk cache (least recently used files removed first)"),
    "segments_per_tune": Limit(256, "segments", "segments one tune gives a dataset (more: spread evenly)"),
}


def env_name(name: str) -> str:
    """The environment variable that overrides limit ``name`` (``LATENT_EXPLORER_MAX_<NAME>``)."""
    return f"LATENT_EXPLORER_MAX_{name.upper()}"


def limit(name: str) -> float:
    """The value of limit ``name`` now: its environment variable when set, else its default.

    Raises
    ------
    KeyError
        For a name not in :data:`LIMITS` (the message lists them).
    ValueError
        When the environment variable is not a positive number (the message names it).
    """
    if name not in LIMITS:
        raise KeyError(f"unknown limit {name!r}; known: {', '.join(LIMITS)}")
    raw = os.environ.get(env_name(name), "").strip()
    if not raw:
        return LIMITS[name].default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{env_name(name)}={raw!r} must be a positive number ({LIMITS[name].unit})")
    return value


def mb(name: str) -> int:
    """A size limit (``*_mb``) in bytes."""
    return int(limit(name) * 2**20)


def table() -> list[tuple[str, str, str, str]]:
    """(name, value now with unit, environment variable, what it bounds) per limit, for docs and help."""
    return [(k, f"{limit(k):g} {v.unit}", env_name(k), v.what) for k, v in LIMITS.items()]
