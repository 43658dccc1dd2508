"""Multi-track bars as MIDI-VAE (Brunner et al., ISMIR 2018) defines them, from MIDI, music21
scores, aligned piano performances and POP909, with provenance and a split by piece.

One sample is one 4/4 bar (or two 2/4 bars) on a 16th-note grid, up to :data:`N_VOICES` monophonic
voices:

- **pitch** (V, 16): MIDI 24–83 as classes 0–59, :data:`SILENCE` (60) where the voice is silent; a
  held note repeats its pitch (the velocity roll marks where it starts); pitches outside 24–83 are
  moved by octaves into the range;
- **velocity** (V, 16): 0.5 + 0.5·v/127 at an onset, 0 elsewhere;
- **instrument** (V,): the General MIDI family (program // 8, 16 families) of the voice's track.

Voices: the tracks with notes (drums left out), highest mean pitch first; each gives its highest
sounding note per step. With fewer than V tracks, further voices are the next-highest notes of the
polyphonic tracks (the track and depth sounding on most steps first); with more than V, the V tracks
with most notes are kept. A file with only drums, no notes, more than :data:`MAX_TRACKS` pitched
tracks or a metre other than 4/4, 2/2 or 2/4 raises :class:`~explorer.data.tune.SkipTune` saying so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.data.dataset import SPLITS, split_of
from explorer.data.tune import FULL_BAR_METRES, HALF_BAR_METRES, SkipTune
from explorer.music.multitrack_midi import (DEFAULT_VELOCITY, FAMILIES, HIGHEST, LOWEST, N_PITCH,  # noqa: F401
                                            SILENCE, STEPS, velocity_value)

N_VOICES = 4
N_FAMILIES = len(FAMILIES)
MAX_TRACKS = 16  # a GM file has 16 channels; more pitched tracks than that is not a band we can voice
ACCEPTED = (f"a Standard MIDI File with 1 to {MAX_TRACKS} pitched tracks (drums are left out) in 4/4, 2/2 or 2/4")


@dataclass(frozen=True)
class Track:
    """One instrument's notes: ``notes`` (M, 4) float = pitch, start, end (quarters), MIDI velocity."""

    family: int
    notes: np.ndarray
    name: str = ""

    def __repr__(self):
        return f"Track({self.name!r}, {FAMILIES[self.family]}, {len(self.notes)} notes)"


@dataclass
class Piece:
    """A piece's tracks and where its samples start: ``anchor`` (quarters) is a barline, samples are
    consecutive 4-quarter windows from it. ``group`` is what the split hashes (the piece, shared by
    several performances of it)."""

    source: str
    piece_id: str
    tracks: list
    anchor: float = 0.0
    group: str = ""
    has_velocity: bool = True

    @property
    def split(self) -> str:
        return split_of(self.source, self.group or self.piece_id)


def check_metre(signatures) -> None:
    """SkipTune("metre …") unless every (numerator, denominator) is 4/4, 2/2 or 2/4, one bar length."""
    sigs = sorted({(int(n), int(d)) for n, d in signatures})
    odd = [s for s in sigs if s not in FULL_BAR_METRES | HALF_BAR_METRES]
    if odd:
        raise SkipTune(f"metre {odd[0][0]}/{odd[0][1]}", "MIDI-VAE's bars are 16 sixteenths: 4/4, 2/2 or 2/4 only "
                       f"(this piece has {', '.join(f'{n}/{d}' for n, d in sigs)})")
    if any(s in HALF_BAR_METRES for s in sigs) and any(s in FULL_BAR_METRES for s in sigs):
        raise SkipTune("changing metre", f"2/4 bars mixed with 4/4 or 2/2 ({sigs}) do not pair into 16-step samples")


def make_tracks(raw, *, max_tracks: int = MAX_TRACKS) -> list[Track]:
    """Tracks with notes from ``raw`` [(family, notes (M, 4), name)], drums already left out.
    SkipTune when none has notes or there are more than ``max_tracks``."""
    tracks = [Track(int(f), np.asarray(n, np.float64).reshape(-1, 4), name) for f, n, name in raw if len(n)]
    if not tracks:
        raise SkipTune("no notes", "no pitched track has a note")
    if len(tracks) > max_tracks:
        raise SkipTune("too many tracks", f"{len(tracks)} pitched tracks; MIDI-VAE voices at most {max_tracks} "
                       f"(it keeps {N_VOICES}); merge or delete tracks and try again")
    return tracks


# ------------------------------------------------------------------------------------ voices
def _owner_grid(notes: np.ndarray, n_steps: int) -> np.ndarray:
    """(n_steps, 128) index of the note sounding at each step and pitch, -1 where none (a later
    note on the same pitch takes over)."""
    grid = np.full((n_steps, 128), -1, np.int32)
    starts = np.round(notes[:, 1] * 4).astype(int)
    ends = np.maximum(np.round(notes[:, 2] * 4).astype(int), starts + 1)
    for i in np.argsort(starts, kind="stable"):
        grid[max(starts[i], 0):max(ends[i], 0), int(notes[i, 0])] = i
    return grid


def _depth_notes(grid: np.ndarray, depth: int) -> np.ndarray:
    """(n_steps,) the note index giving the ``depth``-th highest sounding pitch (1 = highest), -1 none."""
    sounding = grid >= 0
    rank = np.cumsum(sounding[:, ::-1], axis=1)[:, ::-1]  # 1 at the highest sounding pitch
    hit = sounding & (rank == depth)
    out = np.full(len(grid), -1, np.int32)
    rows, cols = np.nonzero(hit)
    out[rows] = grid[rows, cols]
    return out


def choose_voices(tracks: list[Track], n_voices: int = N_VOICES) -> list[tuple[int, int]]:
    """(track index, depth) of each voice, in voice order (see the module docstring)."""
    order = sorted(range(len(tracks)), key=lambda i: -float(tracks[i].notes[:, 0].mean()))
    if len(order) > n_voices:
        keep = sorted(order, key=lambda i: -len(tracks[i].notes))[:n_voices]
        order = [i for i in order if i in keep]
    voices = [(i, 1) for i in order]
    if len(voices) < n_voices:
        steps = int(np.ceil(max(t.notes[:, 2].max() for t in tracks) * 4)) + 1
        extra = []
        for i in order:
            poly = (_owner_grid(tracks[i].notes, steps) >= 0).sum(1)
            extra += [(-int((poly >= d).sum()), i, d) for d in range(2, n_voices + 1) if (poly >= d).any()]
        voices += [(i, d) for _, i, d in sorted(extra)[: n_voices - len(voices)]]
    return sorted(voices, key=lambda v: (order.index(v[0]), v[1]))


def fold_pitch(p: np.ndarray) -> np.ndarray:
    """MIDI pitches moved by octaves into LOWEST..HIGHEST."""
    p = np.asarray(p, dtype=int).copy()
    while (p < LOWEST).any() or (p > HIGHEST).any():
        p = np.where(p < LOWEST, p + 12, np.where(p > HIGHEST, p - 12, p))
    return p


def piece_rolls(piece: Piece, n_voices: int = N_VOICES):
    """(pitch (V, S) class, velocity (V, S), instrument (V,)) of the whole piece from its anchor;
    S is a whole number of 16-step samples."""
    first = int(round(piece.anchor * 4))
    end = int(np.ceil(max(t.notes[:, 2].max() for t in piece.tracks) * 4))
    n_steps = first + max(int(np.ceil((end - first) / STEPS)), 1) * STEPS
    pitch = np.full((n_voices, n_steps), SILENCE, np.uint8)
    vel = np.zeros((n_voices, n_steps), np.float32)
    inst = np.zeros(n_voices, np.uint8)
    grids = {}
    for v, (ti, depth) in enumerate(choose_voices(piece.tracks, n_voices)):
        tr = piece.tracks[ti]
        grids.setdefault(ti, _owner_grid(tr.notes, n_steps))
        idx = _depth_notes(grids[ti], depth)
        on = idx >= 0
        pitch[v, on] = fold_pitch(tr.notes[idx[on], 0]) - LOWEST
        starts = np.round(tr.notes[:, 1] * 4).astype(int)
        onset = on & (np.r_[-2, idx[:-1]] != idx) | on & (starts[np.maximum(idx, 0)] == np.arange(n_steps))
        vel[v, onset] = velocity_value(np.clip(tr.notes[idx[onset], 3], 1, 127))
        inst[v] = tr.family
    return pitch[:, first:], vel[:, first:], inst


# ------------------------------------------------------------------------------------ the dataset
@dataclass
class MultiTrackBars:
    """N bars: ``pitch`` (N, V, 16) uint8, ``velocity`` (N, V, 16) float32, ``instrument`` (N, V) uint8,
    ``style`` (N,) int, ``piece`` (N,) index into the piece table, ``bar`` (N,) the sample's index in
    its piece, ``prev`` (N,) the row of the bar before it (-1: none). Piece table: ``piece_source``,
    ``piece_id``, ``piece_split``, ``piece_style``; ``styles`` the style names."""

    pitch: np.ndarray
    velocity: np.ndarray
    instrument: np.ndarray
    style: np.ndarray
    piece: np.ndarray
    bar: np.ndarray
    prev: np.ndarray
    piece_source: np.ndarray
    piece_id: np.ndarray
    piece_split: np.ndarray
    piece_style: np.ndarray
    styles: tuple
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.pitch)

    def __repr__(self):
        return (f"MultiTrackBars({len(self)} bars, {len(self.piece_id)} pieces, styles {list(self.styles)}, "
                f"splits {self.counts()})")

    @property
    def split(self) -> np.ndarray:
        return self.piece_split[self.piece]

    def counts(self) -> dict:
        return {s: {st: int(((self.split == s) & (self.style == k)).sum()) for k, st in enumerate(self.styles)}
                for s in SPLITS}

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def balanced_weights(self, rows: np.ndarray) -> np.ndarray:
        """Sampling probabilities over ``rows`` giving each style the same share of bars."""
        counts = np.bincount(self.style[rows], minlength=len(self.styles)).astype(float)
        w = 1.0 / np.maximum(counts[self.style[rows]], 1)
        return w / w.sum()

    def piece_rows(self, p: int) -> np.ndarray:
        """The rows of piece ``p`` in bar order."""
        r = np.flatnonzero(self.piece == p)
        return r[np.argsort(self.bar[r], kind="stable")]

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in ("pitch", "velocity", "instrument", "style", "piece", "bar", "prev",
                                               "piece_source", "piece_id", "piece_split", "piece_style")}
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, **arrays, styles=np.asarray(self.styles), meta=json.dumps(self.meta))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "MultiTrackBars":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no multi-track dataset at {path} (build one with "
                                    "`python -m explorer.data.multitrack PAIR OUT`)")
        try:
            z = np.load(path, allow_pickle=False)
            a = {k: z[k] for k in z.files}
            return cls(**{k: a[k] for k in ("pitch", "velocity", "instrument", "style", "piece", "bar", "prev",
                                            "piece_source", "piece_id", "piece_split", "piece_style")},
                       styles=tuple(str(s) for s in a["styles"]), meta=json.loads(str(a["meta"])))
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path.name} is not a multi-track dataset ({exc})") from None


def bars_of_pieces(pieces: list[Piece], styles: list[str], piece_styles: list[int], *,
                   n_voices: int = N_VOICES, meta: dict | None = None) -> MultiTrackBars:
    """The bars with a note of every piece; silent bars are dropped (the next bar then has no history)."""
    cols = {k: [] for k in ("pitch", "velocity", "instrument", "style", "piece", "bar", "prev")}
    n = 0
    for p, (piece, style) in enumerate(zip(pieces, piece_styles)):
        pitch, vel, inst = piece_rolls(piece, n_voices)
        prev = -1
        for b in range(pitch.shape[1] // STEPS):
            sl = slice(b * STEPS, (b + 1) * STEPS)
            if (pitch[:, sl] == SILENCE).all():
                prev = -1
                continue
            for k, v in (("pitch", pitch[:, sl]), ("velocity", vel[:, sl]), ("instrument", inst), ("style", style),
                         ("piece", p), ("bar", b), ("prev", prev)):
                cols[k].append(v)
            prev, n = n, n + 1
    if not n:
        raise SkipTune("no bars", "no 16-step bar with a note")
    return MultiTrackBars(
        np.stack(cols["pitch"]).astype(np.uint8), np.stack(cols["velocity"]).astype(np.float32),
        np.stack(cols["instrument"]).astype(np.uint8), np.asarray(cols["style"], np.int16),
        np.asarray(cols["piece"], np.int32), np.asarray(cols["bar"], np.int32), np.asarray(cols["prev"], np.int32),
        np.asarray([pc.source for pc in pieces]), np.asarray([pc.piece_id for pc in pieces]),
        np.asarray([pc.split for pc in pieces]), np.asarray(piece_styles, np.int16), tuple(styles), meta or {})


# ------------------------------------------------------------------------------------ sources
def piece_from_midi(pm, source: str, piece_id: str, *, max_tracks: int = MAX_TRACKS) -> Piece:
    """A :class:`Piece` of a pretty_midi object, timed by its ticks (exact for a quantised file).
    SkipTune for drums only, no notes, too many tracks or an odd metre."""
    if not any(i.notes for i in pm.instruments):
        raise SkipTune("no notes", "the file has no notes")
    if all(i.is_drum for i in pm.instruments if i.notes):
        raise SkipTune("drum-only", "every note is on a drum channel; MIDI-VAE voices pitched tracks")
    check_metre([(t.numerator, t.denominator) for t in pm.time_signature_changes] or [(4, 4)])
    q = lambda t: pm.time_to_tick(t) / pm.resolution  # noqa: E731

    def notes(inst):
        return [(n.pitch, q(n.start), q(n.end), n.velocity) for n in inst.notes]

    tracks = make_tracks([(inst.program // 8, notes(inst), inst.name) for inst in pm.instruments if not inst.is_drum],
                         max_tracks=max_tracks)
    anchor = q(pm.time_signature_changes[0].time) if pm.time_signature_changes else 0.0
    return Piece(source, piece_id, tracks, anchor=anchor)


def piece_from_midi_bytes(data: bytes, name: str, *, max_bytes: int | None = None) -> Piece:
    """An uploaded multi-track MIDI file → Piece, or SkipTune (reason and detail) saying why not."""
    from explorer.data.midi_files import read_midi

    return piece_from_midi(read_midi(data, max_bytes=max_bytes), "upload", name)


def _music21_program(part, default: int) -> int:
    inst = part.getInstrument(returnDefault=True)
    return int(inst.midiProgram) if inst is not None and inst.midiProgram is not None else default


def piece_from_music21(score, source: str, piece_id: str, *, default_program: int = 52) -> Piece:
    """A :class:`Piece` of a music21 score: a track per part (its instrument's GM program, else
    ``default_program``: 52, choir, for the vocal parts of chorales), ties joined, grace notes
    dropped, velocities from the notes' volume where set (else :data:`DEFAULT_VELOCITY`)."""
    check_metre([(t.numerator, t.denominator) for t in score.recurse().getElementsByClass("TimeSignature")]
                or [(4, 4)])
    raw = []
    for part in score.parts:
        rows = []
        for n in part.stripTies().flatten().notes:
            ql = float(n.duration.quarterLength)
            if ql <= 0 or not hasattr(n, "pitches"):
                continue
            v = n.volume.velocity  # None where the score sets none
            rows += [(p.midi, float(n.offset), float(n.offset) + ql, v or DEFAULT_VELOCITY) for p in n.pitches]
        raw.append((_music21_program(part, default_program) // 8, rows, str(part.partName or "")))
    measures = score.parts[0].getElementsByClass("Measure") if score.parts else []
    bar = 4.0 if not measures or measures[0].barDuration.quarterLength >= 4 else 2.0
    full = [float(m.offset) for m in measures if float(m.duration.quarterLength) >= bar - 1e-6]
    return Piece(source, piece_id, make_tracks(raw), anchor=full[0] if full else 0.0, has_velocity=False)


def piece_from_score_notes(note_array, velocity, source: str, piece_id: str, group: str = "") -> Piece:
    """A :class:`Piece` of an aligned performance: the score's notes (partitura's note array, quarter
    onsets) with the performed MIDI ``velocity`` (N,) of each; a piano track per staff."""
    na = np.asarray(note_array)
    check_metre(set(zip(na["ts_beats"].tolist(), na["ts_beat_type"].tolist())))
    rows = np.stack([na["pitch"], na["onset_quarter"], na["onset_quarter"] + na["duration_quarter"],
                     np.asarray(velocity, float)], axis=1)
    staff = na["staff_feature.staff"] if "staff_feature.staff" in na.dtype.names else np.ones(len(na))
    raw = [(0, rows[staff == s], f"staff {int(s)}") for s in sorted(set(staff.tolist()))]
    down = na["onset_quarter"][(na["is_downbeat"] == 1) & (na["rel_onset_div"] == 0)]
    return Piece(source, piece_id, make_tracks(raw), anchor=float(down.min()) if len(down) else 0.0, group=group)


def piece_from_pop909(song_dir) -> Piece:
    """POP909's MELODY, BRIDGE and PIANO tracks on the beats of ``beat_midi.txt`` (its MIDI is not
    quantised), anchored on the first annotated downbeat; velocities as played."""
    from explorer.data.midi_files import read_midi
    from explorer.data.pop909 import _seconds_to_beats

    d = Path(song_dir)
    pm = read_midi(d / f"{d.name}.mid")
    beats = np.loadtxt(d / "beat_midi.txt", ndmin=2)
    if len(beats) < 8:
        raise SkipTune("no beat annotation", "fewer than 8 beats")
    to_q = _seconds_to_beats(beats[:, 0])
    raw = []
    for inst in pm.instruments:
        if inst.name.strip().upper() in ("MELODY", "BRIDGE", "PIANO") and inst.notes:
            n = np.array([(x.pitch, x.start, x.end, x.velocity) for x in inst.notes], float)
            n[:, 1], n[:, 2] = to_q(n[:, 1]), to_q(n[:, 2])
            raw.append((inst.program // 8, n, inst.name.strip().upper()))
    down = np.flatnonzero(beats[:, 2] > 0.5)
    return Piece("pop909", d.name, make_tracks(raw), anchor=float(down[0]) if len(down) else 0.0)


# ------------------------------------------------------------------------------------ the style pairs
def _skip(skipped: dict, reason: str):
    skipped[reason] = skipped.get(reason, 0) + 1


def _performed_pieces(root, sources, skipped: dict) -> list[Piece]:
    """Every aligned performance of ``sources`` as a Piece (grouped by piece for the split); a piece
    whose first performance is in another metre is left out without reading the others."""
    import warnings

    from explorer.data.performance_cache import load_example
    from explorer.data.performance_io import PerformanceDataError, list_performances

    out, refused = [], set()
    for r in list_performances(root, sources=sources):
        if r.piece in refused:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = load_example(r)
            out.append(piece_from_score_notes(e.score.note_array, e.targets[:, 1] * 127.0, r.source,
                                              f"{r.piece}:{r.pianist}", group=r.piece))
        except SkipTune as exc:  # another metre: 3/4, 6/8 …
            _skip(skipped, exc.reason)
            refused.add(r.piece)
        except (PerformanceDataError, ValueError, KeyError, IndexError) as exc:
            _skip(skipped, type(exc).__name__)
    return out


def _music21_pieces(composer: str, skipped: dict, limit: int | None = None) -> list[Piece]:
    from music21 import corpus

    out = []
    for path in sorted(str(p) for p in corpus.getComposer(composer))[:limit]:
        rel = path.split("corpus/")[-1]
        try:
            out.append(piece_from_music21(corpus.parse(path), f"music21-{composer}", rel))
        except SkipTune as exc:
            _skip(skipped, exc.reason)
        except Exception as exc:  # music21 raises many kinds on odd files; they are left out, counted
            _skip(skipped, type(exc).__name__)
    return out


def _pop909_pieces(root, skipped: dict, limit: int | None = None) -> list[Piece]:
    from explorer.data.pop909 import pop909_items

    out = []
    for d in pop909_items(Path(root) / "pop909")[:limit]:
        try:
            out.append(piece_from_pop909(d))
        except SkipTune as exc:
            _skip(skipped, exc.reason)
        except (OSError, ValueError) as exc:
            _skip(skipped, type(exc).__name__)
    return out


def without_velocity(pieces: list[Piece]) -> list[Piece]:
    """The pieces with every velocity set to DEFAULT_VELOCITY (so that a style pair whose one side
    has no velocities cannot be told apart by them)."""
    def flat(t):
        n = t.notes.copy()
        n[:, 3] = DEFAULT_VELOCITY
        return Track(t.family, n, t.name)

    return [Piece(p.source, p.piece_id, [flat(t) for t in p.tracks], p.anchor, p.group, False) for p in pieces]


PAIRS = {
    "classic-pop": ("classic", "pop"),
    "bach-mozart": ("bach", "mozart"),
    "renaissance-baroque": ("renaissance", "baroque"),
}


def build_pair(pair: str, root, *, limit: int | None = None) -> MultiTrackBars:
    """The dataset of style ``pair`` (:data:`PAIRS`) from the data folder ``root`` and music21's corpus;
    ``limit`` caps the pieces read per corpus (quick builds)."""
    if pair not in PAIRS:
        raise ValueError(f"unknown style pair {pair!r}; known: {sorted(PAIRS)}")
    skipped: dict = {}
    if pair == "classic-pop":
        a = _performed_pieces(root, ("vienna4x22", "batik"), skipped)[:limit]
        b = _pop909_pieces(root, skipped, limit)
        note = "Classic: Vienna 4x22 + Batik score notes with performed velocities; Pop: POP909 MELODY/BRIDGE/PIANO"
    elif pair == "renaissance-baroque":
        a = _music21_pieces("palestrina", skipped, limit) + _music21_pieces("monteverdi", skipped, limit)
        b = _music21_pieces("bach", skipped, limit)
        note = "Renaissance: music21 palestrina + monteverdi; Baroque: music21 bach (scores, no velocities)"
    else:
        a = _music21_pieces("bach", skipped, limit)
        b = _music21_pieces("mozart", skipped, limit) + without_velocity(_performed_pieces(root, ("batik",), skipped)[:limit])
        note = "Bach: music21 bach; Mozart: music21 mozart + Batik's score notes; no velocities (scores have none)"
    return bars_of_pieces(a + b, list(PAIRS[pair]), [0] * len(a) + [1] * len(b),
                          meta={"pair": pair, "note": note, "skipped": skipped,
                                "pieces": {PAIRS[pair][0]: len(a), PAIRS[pair][1]: len(b)}})


def main(argv=None) -> int:
    """``python -m explorer.data.multitrack PAIR OUT.npz [--data ROOT] [--limit N]``."""
    import argparse
    import sys

    from explorer.data.performance_io import default_data_root

    p = argparse.ArgumentParser(prog="python -m explorer.data.multitrack", description="build a MIDI-VAE style pair")
    p.add_argument("pair", choices=sorted(PAIRS))
    p.add_argument("out")
    p.add_argument("--data", default=None, help="the shared data folder (default: $LATENT_EXPLORER_DATA or ../shared/data)")
    p.add_argument("--limit", type=int, default=None, help="at most N pieces per corpus")
    args = p.parse_args(argv)
    try:
        ds = build_pair(args.pair, args.data or default_data_root(), limit=args.limit)
    except (FileNotFoundError, SkipTune, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ds.save(args.out)
    print(ds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
