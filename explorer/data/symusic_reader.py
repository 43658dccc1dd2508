"""Read a MIDI file with symusic (C++) into the PrettyMIDI that pretty_midi's own reader makes.

``read_with_symusic(data)`` returns a real :class:`pretty_midi.PrettyMIDI` (instruments with
notes, drum flags, names and programs; time and key signatures; lyrics; the tempo map, so
``time_to_tick``, ``get_end_time`` and ``get_tempo_changes`` work), built from symusic's notes in
ticks. The rest of :mod:`explorer.data.midi_files` runs on it unchanged. What it copies from
pretty_midi 0.2.11, and why (docs/midi-parsers.md lists what it cannot copy):

- each track chunk is parsed on its own (a one-track file per chunk), as mido reads the chunks the
  header announces: so the tempo map and the time and key signatures come from the first track
  only, and every instrument knows its track;
- the tempo map is pretty_midi's: a tempo at tick 0 replaces 120 qpm, a later one that repeats the
  current tick scale is skipped, and seconds come from the same tick-to-time table;
- a note-off ends every sounding note of its pitch that began before it (pretty_midi's rule;
  symusic ends only the oldest one), and notes of length 0 are dropped (:func:`pretty_midi_notes`);
- the instruments of one track come in the order their first note ends (pretty_midi makes an
  instrument when its first note-off arrives; symusic sorts them by channel and program), and
  notes in the order they end;
- what pretty_midi refuses is refused here with the same kind of error: no tracks, an empty track
  chunk, a tick past ``pretty_midi.pretty_midi.MAX_TICK``, a key signature mido cannot name.

Errors are raised as ValueError (or symusic's RuntimeError); :func:`explorer.data.midi_files.read_midi`
turns every exception into ``SkipTune("unreadable MIDI")`` as it does for pretty_midi's.
"""
from __future__ import annotations

import struct

import numpy as np
import pretty_midi
from pretty_midi.pretty_midi import MAX_TICK


def split_chunks(data: bytes) -> tuple[int, list[bytes]]:
    """(ticks per quarter, the body of each track chunk) as mido reads them.

    mido reads the header's number of chunks, each of which must be ``MTrk``, and ignores what
    follows them; the division is read as a signed 16-bit number.

    Raises
    ------
    ValueError
        No ``MThd``, a chunk that is not ``MTrk``, or a file that ends inside a chunk.
    """
    if len(data) < 8 or data[:4] != b"MThd":
        raise ValueError("MThd not found. Probably not a MIDI file")
    size = struct.unpack(">L", data[4:8])[0]
    if size < 6 or len(data) < 8 + 6:
        raise ValueError("the file ends inside its header")
    _fmt, n_tracks, division = struct.unpack(">hhh", data[8:14])
    pos = 8 + size
    bodies = []
    for k in range(n_tracks):
        if pos + 8 > len(data):
            raise ValueError(f"the file ends before track {k} of {n_tracks}")
        name, length = struct.unpack(">4sL", data[pos:pos + 8])
        if name != b"MTrk":
            raise ValueError(f"no MTrk header at start of track {k}")
        if pos + 8 + length > len(data):
            raise ValueError(f"the file ends inside track {k}")
        bodies.append(data[pos + 8:pos + 8 + length])
        pos += 8 + length
    return division, bodies


def _one_track_file(division: int, body: bytes) -> bytes:
    return b"MThd" + struct.pack(">LhhH", 6, 0, 1, division & 0xFFFF) + b"MTrk" + struct.pack(">L", len(body)) + body


def tick_scales(tempos, resolution: int) -> list[tuple[int, float]]:
    """pretty_midi's ``_tick_scales`` from ``(tick, microseconds per quarter)`` of the first track."""
    scales = [(0, 60.0 / (120.0 * resolution))]
    for tick, mspq in tempos:
        if tick == 0:
            scales = [(0, 60.0 / ((6e7 / mspq) * resolution))]
        else:
            scale = 60.0 / ((6e7 / mspq) * resolution)
            if scale != scales[-1][1]:
                scales.append((tick, scale))
    return scales


def key_number(sharps: int, minor: int) -> int:
    """pretty_midi's key number (0-11 major, 12-23 minor from C) of a key signature, or ValueError
    where mido cannot name it (as mido's KeySignatureError)."""
    if not (-7 <= sharps <= 7 and minor in (0, 1)):
        raise ValueError(f"Could not decode key with {sharps} sharps and mode {minor}")
    tonic = (7 * sharps) % 12
    return (tonic + 9) % 12 + 12 if minor else tonic


def _within(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set`` (a tenth of its time on small arrays)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[idx] == values


def pretty_midi_notes(start: np.ndarray, end: np.ndarray, pitch: np.ndarray,
                      on_before_off=None) -> tuple[np.ndarray, np.ndarray]:
    """(which notes pretty_midi keeps, their ends under its rule), from symusic's notes of one track.

    symusic pairs the note-ons and note-offs of a pitch first in, first out, and keeps a note whose
    note-off shares its note-on's tick (length 0). In pretty_midi a note-off ends every note of its
    pitch that began on an earlier tick, and one that finds only notes begun on its own tick drops
    them. Every note-off that ended a note in symusic is one that pretty_midi sees, so:

    - a note ends at the first of those note-offs after its start;
    - a note that starts on the tick of such a note-off, where the file has the note-on first, is
      dropped unless another kept note ends on that tick.

    ``on_before_off(ticks, pitches)`` says for each (tick, pitch) whether the file has a note-off
    after a note-on there (symusic does not report the order of events on one tick); it is asked
    only when some note may be dropped; without it every such tick is taken as note-on first.
    """
    pitch = pitch.astype(np.int64)
    big = int(end.max(initial=0)) + 1
    key_on, key_off = pitch * big + start, pitch * big + end
    offs = np.sort(key_off)
    new_end = offs[np.searchsorted(offs, key_on, side="right")]
    keep = end > start
    on_an_off = _within(key_on, offs) & keep
    if (on_an_off & ~_within(key_on, np.sort(new_end[keep]))).any():
        risky = on_an_off.copy()
        if on_before_off is not None:
            risky[on_an_off] = on_before_off(start[on_an_off], pitch[on_an_off])
        while True:  # a dropped note ends nothing: repeat until no more are dropped (once or twice)
            dropped = risky & keep & ~_within(key_on, np.sort(new_end[keep]))
            if not dropped.any():
                break
            keep &= ~dropped
    return keep, new_end - pitch * big


#: Data bytes after a status byte (channel messages by their high nibble; system common by byte).
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2,
             0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}


def _vlq(body: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = body[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def note_on_before_off(body: bytes, ticks, pitches) -> np.ndarray:
    """For each (tick, pitch), whether the track chunk ``body`` has a note-off of that pitch after
    a note-on of it on that tick (any channel). A plain scan of the chunk, read as mido reads it;
    it stops at the last tick asked about, and at bytes it cannot read (what it found so far holds)."""
    wanted = {(int(t), int(p)) for t, p in zip(ticks, pitches)}
    last = max(t for t, _ in wanted)
    seen_on, after = set(), set()
    pos, tick, running = 0, 0, None
    try:
        while pos < len(body):
            delta, pos = _vlq(body, pos)
            tick += delta
            if tick > last:
                break
            status = body[pos]
            if status < 0x80:
                status = running
            else:
                pos += 1
                if status != 0xFF:
                    running = status
            if status == 0xFF:
                length, pos = _vlq(body, pos + 1)  # after the meta type byte
                pos += length
            elif status in (0xF0, 0xF7):
                length, pos = _vlq(body, pos)
                pos += length
            else:
                kind = status & 0xF0 if status < 0xF0 else status
                data = body[pos:pos + _DATA_LEN[kind]]
                pos += _DATA_LEN[kind]
                if kind in (0x80, 0x90) and (tick, data[0]) in wanted:
                    if kind == 0x90 and data[1] > 0:
                        seen_on.add((tick, data[0]))
                    elif (tick, data[0]) in seen_on:
                        after.add((tick, data[0]))
    except (IndexError, KeyError, TypeError):
        pass
    return np.array([(int(t), int(p)) in after for t, p in zip(ticks, pitches)], dtype=bool)


def _track_instruments(score, body: bytes, t2t: np.ndarray) -> list[pretty_midi.Instrument]:
    """The instruments of one track chunk, in the order their first note ends."""
    made = []
    for tr in score.tracks:
        arr = tr.notes.numpy()
        start = arr["time"].astype(np.int64)
        end = start + arr["duration"].astype(np.int64)
        keep, end = pretty_midi_notes(start, end, arr["pitch"], lambda t, p: note_on_before_off(body, t, p))
        if not keep.any():
            continue
        start, end, pitch, vel = start[keep], end[keep], arr["pitch"][keep], arr["velocity"][keep]
        order = np.lexsort((start, end))
        inst = pretty_midi.Instrument(int(tr.program), bool(tr.is_drum), tr.name)
        # seconds from pretty_midi's own table, as Python floats (the same doubles)
        inst.notes = [pretty_midi.Note(v, p, s, e) for v, p, s, e in zip(
            vel[order].tolist(), pitch[order].tolist(), t2t[start[order]].tolist(), t2t[end[order]].tolist())]
        cc = tr.controls.numpy()
        inst.control_changes = [pretty_midi.ControlChange(n, v, t) for n, v, t in zip(
            cc["number"].tolist(), cc["value"].tolist(), t2t[cc["time"]].tolist())]
        pb = tr.pitch_bends.numpy()
        inst.pitch_bends = [pretty_midi.PitchBend(v, t) for v, t in zip(pb["value"].tolist(), t2t[pb["time"]].tolist())]
        made.append((int(end.min()), inst))
    made.sort(key=lambda m: m[0])  # stable: ties keep symusic's channel order
    return [inst for _, inst in made]


def read_with_symusic(data: bytes) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from MIDI bytes, parsed by symusic (see the module doc).

    Raises
    ------
    ValueError, RuntimeError
        What pretty_midi would refuse (see the module doc) and what symusic cannot parse.
    """
    import symusic

    division, bodies = split_chunks(data)
    if not bodies:
        raise ValueError("the file has no tracks")
    if any(not b for b in bodies):
        raise ValueError("a track chunk holds no events")
    scores = [symusic.Score.from_midi(_one_track_file(division, b)) for b in bodies]
    max_tick = max(max(s.end(), 0) for s in scores) + 1
    if max_tick > MAX_TICK:
        raise ValueError(f"MIDI file has a largest tick of {max_tick}, it is likely corrupt")
    for s in scores:
        for ks in s.key_signatures:
            key_number(int(ks.key), int(ks.tonality))
    first = scores[0]
    pm = pretty_midi.PrettyMIDI(resolution=division)
    pm._tick_scales = tick_scales([(int(t.time), int(t.mspq)) for t in first.tempos], division)
    pm._update_tick_to_time(max_tick)
    t2t = pm._PrettyMIDI__tick_to_time
    pm.time_signature_changes = [pretty_midi.TimeSignature(int(ts.numerator), int(ts.denominator), t2t[ts.time])
                                 for ts in first.time_signatures]
    pm.key_signature_changes = [pretty_midi.KeySignature(key_number(int(ks.key), int(ks.tonality)), t2t[ks.time])
                                for ks in first.key_signatures]
    pm.lyrics = sorted((pretty_midi.Lyric(ly.text, t2t[ly.time]) for s in scores for tr in s.tracks
                        for ly in tr.lyrics), key=lambda ly: ly.time)
    pm.instruments = [inst for s, body in zip(scores, bodies) for inst in _track_instruments(s, body, t2t)]
    return pm
