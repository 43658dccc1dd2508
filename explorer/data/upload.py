"""One MIDI file given as bytes (an upload) → its segments, or a clear reason."""
from __future__ import annotations

from explorer.data.dataset import SegmentDataset, segment_tunes
from explorer.data.midi_files import read_midi, tune_from_midi
from explorer.data.tune import SkipTune
from explorer.limits import LIMITS, limit


def accepted(value=limit) -> str:
    """What an upload must be, with the limits now (see :mod:`explorer.limits`)."""
    return (f"a Standard MIDI File (.mid/.midi) with a pitched melody in 4/4, 2/2 or 2/4, at most "
            f"{value('midi_mb'):g} MB and {value('notes'):,.0f} notes (of a longer file the first "
            f"{value('bars'):,.0f} bars are read)")


#: The same with the default limits (no environment read at import); call accepted() for the limits now.
ACCEPTED = accepted(lambda name: LIMITS[name].default)


def dataset_from_midi_bytes(data: bytes, name: str, *, bars: int = 2, melody_track=None,
                            max_bytes: int | None = None) -> tuple[SegmentDataset, dict]:
    """Segments of an uploaded MIDI file and what was done with it.

    Raises
    ------
    SkipTune
        With a short ``reason`` (``"unreadable MIDI"``, ``"drum-only"``,
        ``"metre 3/4"``, ``"file too large"``, ...) and a detail.
    """
    pm = read_midi(data, max_bytes=max_bytes)
    tune = tune_from_midi(pm, "upload", name, melody_track=melody_track, title=name)
    skipped: dict = {}
    ds = segment_tunes([tune], bars=bars, skipped=skipped)
    if len(ds) == 0:
        raise SkipTune("no segment", f"no {bars}-bar window with notes on 4/4, 2/2 or paired 2/4 bars")
    ds.meta.update({"source": "upload", "name": name})
    info = {
        "melody_track": tune.stats.get("melody_track"),
        "segments": len(ds),
        "bars_dropped": tune.stats.get("bars_dropped", {}),
        "off_grid_notes": tune.stats.get("off_grid", 0),
        "notes_outside_kept_bars": tune.stats.get("outside", 0),
        "bars_cut": tune.stats.get("bars_cut"),
        "skipped": skipped,
        "tracks": [f"{i}: {inst.name or '(unnamed)'}{' [drums]' if inst.is_drum else ''} · {len(inst.notes)} notes"
                   for i, inst in enumerate(pm.instruments)],
    }
    return ds, info
