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

Bounds (:mod:`explorer.limits`): a file over ``midi_mb`` or with more than ``notes`` notes is
refused; of a file longer than ``bars`` bars the first ``bars`` are read (``stats["bars_cut"]``).
A folder is searched for at most ``folder_files`` files and ``folder_scan_seconds``.
"""
from __future__ import annotations

import io
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pretty_midi

from explorer.data.tune import Bar, SkipTune, Tune, make_tune
from explorer.limits import limit, mb

MIDI_SUFFIXES = (".mid", ".midi")  # compared lower-cased
_MELODY_NAME = re.compile(r"melod|vocal|voice|lead|soprano|tune", re.I)


#: The MIDI parsers :func:`read_midi` accepts; pretty_midi is the default (docs/midi-parsers.md).
PARSERS = ("pretty_midi", "symusic")


def check_parser(parser: str) -> str:
    """``parser`` when it is one of :data:`PARSERS`, else ValueError naming it and the choices."""
    if parser not in PARSERS:
        raise ValueError(f"unknown MIDI parser {parser!r}; choose one of {', '.join(PARSERS)}")
    return parser


def read_midi(source, *, max_bytes: int | None = None, parser: str = "pretty_midi") -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from a path or bytes, or SkipTune saying why not.

    Reasons: ``"file too large"``, ``"empty file"``, ``"unreadable MIDI"``,
    ``"zero length"``, ``"no notes"``, ``"too many notes"``, ``"drum-only"``. ``max_bytes``
    defaults to the ``midi_mb`` limit (read at call time). ``parser`` is ``"pretty_midi"``
    (default) or ``"symusic"`` (C++, faster; gives a PrettyMIDI-like object, see
    :mod:`explorer.data.symusic_reader` and docs/midi-parsers.md).
    """
    check_parser(parser)
    max_bytes = mb("midi_mb") if max_bytes is None else max_bytes
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        size = path.stat().st_size
        if size > max_bytes:
            raise SkipTune("file too large", _size_detail(size, max_bytes))
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise SkipTune("file too large", _size_detail(len(data), max_bytes))
    if not data:
        raise SkipTune("empty file", "0 bytes")
    try:
        pm = _parse(data, parser)
    except Exception as exc:  # mido and pretty_midi raise many kinds
        why = str(exc).strip() or {"EOFError": "the file ends early"}.get(type(exc).__name__, "")
        raise SkipTune("unreadable MIDI", f"{type(exc).__name__}: {why}"[:200] if why else type(exc).__name__) from None
    notes = sum(len(i.notes) for i in pm.instruments)
    if notes == 0:
        raise SkipTune("no notes")
    if notes > limit("notes"):
        raise SkipTune("too many notes", f"{notes:,}, more than {limit('notes'):,.0f}: LATENT_EXPLORER_MAX_NOTES")
    if all(i.is_drum for i in pm.instruments if i.notes):
        raise SkipTune("drum-only", "every note is on a drum channel")
    if pm.get_end_time() <= 0:
        raise SkipTune("zero length")
    return pm


def _parse(data: bytes, parser: str) -> pretty_midi.PrettyMIDI:
    if parser == "symusic":
        from explorer.data.symusic_reader import read_with_symusic

        return read_with_symusic(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(io.BytesIO(data))


def _size_detail(size: int, max_bytes: int) -> str:
    return f"{size / 2**20:.1f} MB, more than {max_bytes / 2**20:g} MB: LATENT_EXPLORER_MAX_MIDI_MB"


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


def midi_bars(pm: pretty_midi.PrettyMIDI, max_bars: int | None = None) -> list[Bar]:
    """Bars in quarters from the time-signature map, until the last note ends (at most
    ``max_bars`` + 1 of them: enough to tell that a file is longer than ``max_bars``)."""
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
            if max_bars is not None and len(bars) > max_bars:
                return bars
    return bars


def times_to_ticks(pm: pretty_midi.PrettyMIDI, times) -> np.ndarray:
    """``pm.time_to_tick`` of each of ``times`` (seconds), at once: the same ticks (int64).

    pretty_midi takes the nearest tick of its tick-to-time table (the earlier one on a tie), and
    past the table's end extends it with the last tempo, rounding half to even.
    """
    table = np.asarray(pm._PrettyMIDI__tick_to_time, dtype=float)
    t = np.asarray(times, dtype=float)
    n = len(table)
    tick = np.searchsorted(table, t, side="left")
    inside = tick < n
    ti, tv = tick[inside], t[inside]
    closer_before = (ti > 0) & (np.abs(tv - table[np.maximum(ti - 1, 0)]) < np.abs(tv - table[ti]))
    out = np.empty(len(t), dtype=np.int64)
    out[inside] = np.where(closer_before, ti - 1, ti)
    if not inside.all():
        scale = pm._tick_scales[-1][1]
        out[~inside] = np.rint((n - 1) + (t[~inside] - table[n - 1]) / scale)
    return out


def _quarters(pm: pretty_midi.PrettyMIDI, notes) -> list[tuple[int, float, float]]:
    """(pitch, start, end) in quarters, through pretty_midi's time-to-tick."""
    if not notes:
        return []
    q = times_to_ticks(pm, [t for n in notes for t in (n.start, n.end)]) / pm.resolution
    return [(n.pitch, float(a), float(b)) for n, a, b in zip(notes, q[0::2], q[1::2])]


def tune_from_midi(pm: pretty_midi.PrettyMIDI, source: str, tune_id: str, *, melody_track=None, title: str = "") -> Tune:
    """Quantise a MIDI file (see the module doc for the choices made)."""
    mi, why = choose_melody_track(pm, melody_track)
    mel = _quarters(pm, pm.instruments[mi].notes)
    chords = _quarters(pm, [n for i, inst in enumerate(pm.instruments) if i != mi and not inst.is_drum
                            for n in inst.notes])
    tempi = pm.get_tempo_changes()[1]
    qpm = float(tempi[0]) if len(tempi) else 120.0
    cap = int(limit("bars"))
    bars = midi_bars(pm, max_bars=cap)
    cut = len(bars) > cap
    if cut:  # read the first `cap` bars only: the notes after them are dropped before quantising
        bars = bars[:cap]
        end = bars[-1].start + bars[-1].length
        mel = [(p, s, min(e, end)) for p, s, e in mel if s < end]
        chords = [(p, s, min(e, end)) for p, s, e in chords if s < end]
    tune = make_tune(source, tune_id, mel, bars, chord_notes=chords, qpm=qpm, title=title)
    tune.stats["melody_track"] = why
    if cut:
        tune.stats["bars_cut"] = cap
    return tune


#: Folders the app's folder source may read, separated by os.pathsep; replaces the defaults.
ROOTS_ENV = "LATENT_EXPLORER_FOLDER_ROOTS"
#: The user's own folder, chosen when the app starts (scripts/app.sh --folder, or set by hand).
START_FOLDER_ENV = "LATENT_EXPLORER_FOLDER"


class FolderNotAllowed(PermissionError):
    """A folder outside the roots the folder source may read (the message shows no server path)."""


def folder_roots() -> list[Path]:
    """The folders the app's folder source may read, resolved: ``$LATENT_EXPLORER_FOLDER_ROOTS``
    when set, else the data folder of the README (``$LATENT_EXPLORER_DATA`` or ``../shared/data``)
    and ``$LATENT_EXPLORER_FOLDER``; only those that exist."""
    from explorer.data.performance_io import default_data_root

    raw = os.environ.get(ROOTS_ENV, "").strip()
    if raw:
        cands = [Path(r).expanduser() for r in raw.split(os.pathsep) if r.strip()]
    else:
        start = os.environ.get(START_FOLDER_ENV, "").strip()
        cands = [default_data_root()] + ([Path(start).expanduser()] if start else [])
    out = []
    for c in cands:
        real = Path(os.path.realpath(c))
        if real.is_dir() and real not in out:
            out.append(real)
    return out


def is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def confine(text: str, roots: list[Path] | None = None) -> Path:
    """The real path of the folder or MIDI file ``text`` names, when it lies in one of ``roots``
    (default :func:`folder_roots`); a relative ``text`` is read against each root in turn.

    Raises
    ------
    FolderNotAllowed
        When it lies outside every root (also for a link that leads out of one); the message
        repeats no path, and names the roots by their last component only.
    FileNotFoundError
        When it is inside a root but does not exist.
    """
    roots = folder_roots() if roots is None else roots
    if not roots:
        raise FolderNotAllowed(f"the folder source is off: no allowed folder exists (set {ROOTS_ENV} or "
                               f"{START_FOLDER_ENV} before starting the app)")
    given = Path(text.strip())
    if given.is_absolute() or text.strip().startswith("~"):
        cands = [Path(os.path.realpath(os.path.expanduser(text.strip())))]
    else:
        cands = [Path(os.path.realpath(r / given)) for r in roots]
    inside = [c for c in cands if any(is_inside(c, r) for r in roots)]
    for c in inside:
        if c.exists():
            if c.is_file() and not is_midi_name(c):
                raise FileNotFoundError(f"{text.strip()} is not a MIDI file (.mid, .midi)")
            return c
    if inside and not any(c.exists() for c in cands):
        raise FileNotFoundError(f"no such folder: {text.strip()}")
    names = ", ".join(r.name or str(r) for r in roots)
    raise FolderNotAllowed(f"That folder is outside the folders this app may read ({names}); type a folder "
                           f"inside one of them, or ask whoever runs the app to add it to {ROOTS_ENV}")


def is_midi_name(path) -> bool:
    """Whether ``path`` ends in .mid or .midi (any case)."""
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def scan_midi_files(path, *, max_files: int | None = None, max_seconds: float | None = None,
                    within: Path | None = None) -> tuple[list[Path], str]:
    """(MIDI files under ``path``, sorted; why the scan stopped early or "").

    ``path`` is a file or a folder searched recursively without following links to folders. The
    scan stops after ``max_files`` files or ``max_seconds`` (defaults: the ``folder_files`` and
    ``folder_scan_seconds`` limits); folders it may not read are passed over. With ``within``, a
    file whose real path (links followed) leaves that folder is left out.
    """
    p = Path(path)
    if p.is_file():
        if not is_midi_name(p):
            raise FileNotFoundError(f"{p.name} is not a MIDI file (.mid, .midi)")
        return [p], ""
    if not p.is_dir():
        raise FileNotFoundError(f"no such file or folder: {p}")
    max_files = int(limit("folder_files")) if max_files is None else max_files
    deadline = time.monotonic() + (limit("folder_scan_seconds") if max_seconds is None else max_seconds)
    found: list[Path] = []
    for folder, dirs, files in os.walk(p, onerror=lambda err: None):
        dirs.sort()
        for f in sorted(files):
            full = Path(folder) / f
            if within is not None and is_midi_name(f) and not is_inside(Path(os.path.realpath(full)), within):
                continue
            if is_midi_name(f) and full.is_file():
                found.append(full)
                if len(found) >= max_files:
                    return sorted(found), f"stopped after {max_files} files (LATENT_EXPLORER_MAX_FOLDER_FILES)"
        if time.monotonic() > deadline:
            return sorted(found), "stopped after the scan time limit (LATENT_EXPLORER_MAX_FOLDER_SCAN_SECONDS)"
    return sorted(found), ""


def list_midi_files(path) -> list[Path]:
    """MIDI files under ``path`` (a file or a folder, searched recursively), sorted; bounded as
    :func:`scan_midi_files`."""
    return scan_midi_files(path)[0]


def load_midi_item(item, *, parser: str = "pretty_midi") -> list[Tune]:
    """Worker for a folder of MIDI: ``item = (path, root, melody_track)``; ``parser`` as in
    :func:`read_midi`."""
    path, root, melody_track = item
    pm = read_midi(path, parser=parser)
    rel = os.path.relpath(path, root) if root and os.path.isdir(root) else os.path.basename(path)
    return [tune_from_midi(pm, "midi", rel, melody_track=melody_track, title=Path(path).stem)]
