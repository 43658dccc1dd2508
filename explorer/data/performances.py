"""Aligned piano performances (Vienna 4x22, Batik plays Mozart, emotion performances), read
with partitura, turned into per-note score features and performance targets.

Score side (per score note, :data:`SCORE_FEATURES`): pitch, duration in beats, position in the
beat and the measure, metrical strength, staff, voice, the time signature and marks (accents,
staccato, fermatas, slurs, dynamics) where the score has them — all from
``partitura.musicanalysis.compute_note_array``.
Performance side (per performed note, :data:`TARGETS`): partitura's performance codec
(``encode_performance``): local beat period, velocity, onset deviation and articulation.

The split is by piece: Vienna's Schubert D783 no. 15 (22 pianists) is the test set; every
other piece trains. Nothing here is copied from the data: the loaders take the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.paths import cache_root

DATA_ENV = "LATENT_EXPLORER_DATA"
TEST_PIECES = ("Schubert_D783_no15",)
EMOTIONS = ("Anger", "Enjoy", "OR", "Relax", "Sad")
#: What the performance codec gives per note, as the model sees it.
TARGETS = ("log2_beat_period", "velocity", "timing", "articulation_log")
_MARKS = ("articulation_feature.accent", "articulation_feature.staccato", "articulation_feature.tenuto",
          "fermata_feature.fermata", "slur_feature.slur_incr", "slur_feature.slur_decr",
          "loudness_direction_feature.loudness_incr", "loudness_direction_feature.loudness_decr",
          "grace_feature.grace_note")
_DYNAMICS = {"pp": -2.0, "p": -1.0, "mp": -0.5, "mf": 0.5, "f": 1.0, "ff": 2.0}
SCORE_FEATURES = (("pitch", "log2_duration_beat", "beat_phase", "measure_phase", "downbeat", "strength_secondary",
                   "strength_weak", "staff2", "voice", "ts_beats", "ts_beat_type", "dynamic_mark")
                  + tuple(m.split(".")[1] for m in _MARKS) + tuple(f"pc{i}" for i in range(12)))
_FEATURE_FUNCTIONS = ["metrical_strength_feature", "staff_feature", "articulation_feature",
                      "loudness_direction_feature", "fermata_feature", "slur_feature", "grace_feature"]
ACCEPTED_SCORES = "MusicXML (.musicxml, .xml, .mxl), MIDI (.mid, .midi) or a match file (.match)"


class PerformanceDataError(ValueError):
    """A score or performance that cannot be used, with the reason."""


def ensure_partitura():
    """Import partitura without its import-time soundfont download (see explorer.compat)."""
    from explorer.compat import ensure_partitura_offline

    ensure_partitura_offline()
    import partitura

    return partitura


def default_data_root() -> Path:
    """``$LATENT_EXPLORER_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass(frozen=True)
class PerformanceRecord:
    """One aligned performance on disk and its labels."""

    source: str           # "vienna4x22" | "batik" | "emotion"
    piece: str
    pianist: str
    emotion: str          # one of EMOTIONS, or "" outside the emotion set
    path: Path            # the alignment (.match or *_infer_match.txt)
    score_path: Path | None = None  # MusicXML for the emotion set (match files carry their score)

    @property
    def name(self) -> str:
        return f"{self.piece} · {self.pianist}" + (f" · {self.emotion}" if self.emotion else "")

    @property
    def split(self) -> str:
        return "test" if self.piece in TEST_PIECES else "train"


def list_performances(root=None, sources=("vienna4x22", "batik", "emotion")) -> list[PerformanceRecord]:
    """The aligned performances under ``root`` (default :func:`default_data_root`), sorted.

    Raises FileNotFoundError when ``root`` has none of the three folders."""
    root = Path(root) if root is not None else default_data_root()
    out = []
    if "vienna4x22" in sources:
        for p in sorted((root / "vienna4x22" / "match").glob("*.match")):
            piece, pianist = p.stem.rsplit("_", 1)
            out.append(PerformanceRecord("vienna4x22", piece, pianist, "", p))
    if "batik" in sources:
        for p in sorted((root / "batik_plays_mozart" / "match").glob("*.match")):
            out.append(PerformanceRecord("batik", p.stem, "Batik", "", p))
    if "emotion" in sources:
        for p in sorted((root / "emotion_performances").glob("*/*_infer_match.txt")):
            emotion, player = p.name[: -len("_infer_match.txt")].split("_", 1)
            out.append(PerformanceRecord("emotion", p.parent.name, f"{p.parent.name}:{player}", emotion, p,
                                         p.parent / "musicxml_cleaned.musicxml"))
    if not out:
        raise FileNotFoundError(f"no aligned performances under {root} (expected vienna4x22/match, "
                                "batik_plays_mozart/match or emotion_performances/; set --data or $LATENT_EXPLORER_DATA)")
    return out


def split_records(records) -> dict[str, list[PerformanceRecord]]:
    """``{"train": [...], "test": [...]}`` by piece (the test pieces: :data:`TEST_PIECES`)."""
    out = {"train": [], "test": []}
    for r in records:
        out[r.split].append(r)
    return out


# --------------------------------------------------------------------------------------------- scores

def _one_part(score):
    """The single part of a score (piano staves merged), notes given ids where the file had none."""
    pt = ensure_partitura()
    parts = list(score.parts) if hasattr(score, "parts") else [score]
    if not parts:
        raise PerformanceDataError("the score has no parts")
    part = parts[0] if len(parts) == 1 else pt.score.merge_parts(parts)
    seen = set()
    for i, n in enumerate(part.notes_tied):
        if n.id is None or n.id in seen:  # compute_note_array's mark features look notes up by id
            n.id = f"auto{i}"
        seen.add(n.id)
    if not part.notes_tied:
        raise PerformanceDataError("the score has no notes")
    return part


def load_score(path):
    """A partitura Part from a MusicXML/MXL, MIDI or match file; PerformanceDataError names what failed."""
    pt = ensure_partitura()
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if suffix in (".musicxml", ".xml", ".mxl"):
                score = pt.load_musicxml(str(path))
            elif suffix in (".mid", ".midi"):
                score = pt.load_score_midi(str(path))
            elif suffix == ".match":
                score = pt.load_match(str(path), create_score=True)[2]
            else:
                raise PerformanceDataError(f"{path.name}: unknown score type {suffix!r}; accepted: {ACCEPTED_SCORES}")
    except PerformanceDataError:
        raise
    except Exception as exc:  # partitura raises many types for a file it cannot parse
        raise PerformanceDataError(f"{path.name} does not parse as a score ({type(exc).__name__}: "
                                   f"{str(exc)[:200]}); accepted: {ACCEPTED_SCORES}") from None
    return _one_part(score)


@dataclass
class ScoreNotes:
    """Per-note score features of a part, notes sorted by onset then pitch.

    ``features`` (N, len(SCORE_FEATURES)) float32; ``beat`` and ``measure`` (N,) int64 indices
    counted from 0 (the hierarchy of the score encoder); ``note_array`` the partitura note array
    in the same order (ids, onset_beat, duration_beat, pitch, …)."""

    note_array: np.ndarray
    features: np.ndarray
    beat: np.ndarray
    measure: np.ndarray

    def __len__(self) -> int:
        return len(self.note_array)

    def __repr__(self) -> str:
        return f"ScoreNotes({len(self)} notes, {self.n_measures} measures)"

    @property
    def n_measures(self) -> int:
        return int(self.measure.max()) + 1 if len(self) else 0

    def take(self, idx) -> "ScoreNotes":
        idx = np.asarray(idx)
        beat, measure = self.beat[idx], self.measure[idx]
        return ScoreNotes(self.note_array[idx], self.features[idx], np.unique(beat, return_inverse=True)[1],
                          np.unique(measure, return_inverse=True)[1])

    def first_measures(self, n: int) -> "ScoreNotes":
        """The notes of the first ``n`` measures (for scores too long to render interactively)."""
        return self.take(np.flatnonzero(self.measure < n))


def score_notes(part) -> ScoreNotes:
    """The :class:`ScoreNotes` of a partitura part (see :data:`SCORE_FEATURES`)."""
    ensure_partitura()
    from partitura.musicanalysis import compute_note_array

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        na = compute_note_array(part, include_metrical_position=True, include_time_signature=True,
                                feature_functions=_FEATURE_FUNCTIONS, force_fixed_size=True)
    na = na[np.lexsort((na["pitch"], na["onset_div"]))]
    measure_no = np.asarray(part.measure_number_map(na["onset_div"]), dtype=np.int64)
    n = len(na)
    f = np.zeros((n, len(SCORE_FEATURES)), np.float32)
    f[:, 0] = (na["pitch"] - 60) / 24.0
    f[:, 1] = np.log2(np.maximum(na["duration_beat"], 1 / 32)) / 3.0
    f[:, 2] = na["onset_beat"] - np.floor(na["onset_beat"])
    f[:, 3] = na["rel_onset_div"] / np.maximum(na["tot_measure_div"], 1)
    f[:, 4] = na["metrical_strength_feature.metrical_strength_downbeat"]
    f[:, 5] = na["metrical_strength_feature.metrical_strength_secondary"]
    f[:, 6] = na["metrical_strength_feature.metrical_strength_weak"]
    f[:, 7] = na["staff_feature.staff"] >= 2
    f[:, 8] = np.minimum(na["voice"], 8) / 8.0
    f[:, 9] = na["ts_beats"] / 8.0
    f[:, 10] = na["ts_beat_type"] / 8.0
    f[:, 11] = sum(v * na[f"loudness_direction_feature.{k}"] for k, v in _DYNAMICS.items()) / 2.0
    for j, m in enumerate(_MARKS):
        f[:, 12 + j] = na[m]
    f[np.arange(n), 12 + len(_MARKS) + na["pitch"] % 12] = 1.0
    beat = np.unique(np.floor(na["onset_beat"] + 1e-6), return_inverse=True)[1]
    measure = np.unique(measure_no, return_inverse=True)[1]
    return ScoreNotes(na, np.nan_to_num(f), beat.astype(np.int64), measure.astype(np.int64))


# ------------------------------------------------------------------------------------- performances

def _emotion_alignment(record: PerformanceRecord, part):
    """(performance note array, alignment to ``part``'s note ids) of a Nakamura-style alignment.

    Nakamura's score ids refer to the score's own MIDI rendering (``midi_cleaned.mid``, times
    in ms); we find each reference note in the MusicXML part by its onset in quarters and pitch."""
    import pretty_midi
    from partitura.io.importnakamura import load_nakamuramatch

    perf, ref, alignment = load_nakamuramatch(str(record.path))
    qpm = float(pretty_midi.PrettyMIDI(str(record.path.parent / "midi_cleaned.mid")).get_tempo_changes()[1][0])
    na = part.note_array()
    index = {(int(round(q * 12)), int(p)): i for q, p, i in zip(na["onset_quarter"], na["pitch"], na["id"])}
    ref_q = {r["id"]: r["onset_div"] / 1000.0 * qpm / 60.0 for r in ref}  # onset_div holds ms here
    ref_pitch = {r["id"]: r["pitch"] for r in ref}
    out = []
    for a in alignment:
        if a["label"] != "match":
            continue
        sid = index.get((int(round(ref_q[a["score_id"]] * 12)), int(ref_pitch[a["score_id"]])))
        if sid is not None:
            out.append({"label": "match", "score_id": sid, "performance_id": a["performance_id"]})
    perf = perf.copy()
    perf["onset_sec"] -= perf["onset_sec"].min()
    return perf, out


def load_aligned(record: PerformanceRecord):
    """(part, performance note array or PerformedPart, alignment) of a record."""
    pt = ensure_partitura()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if record.source == "emotion":
            part = load_score(record.score_path)
            perf, alignment = _emotion_alignment(record, part)
            return part, perf, alignment
        performance, alignment, score = pt.load_match(str(record.path), create_score=True)
    return _one_part(score), performance, alignment


def encode_targets(part, performance, alignment):
    """Partitura's codec on an aligned performance: (score ids, targets (M, 4) float32) over the
    matched notes, targets in :data:`TARGETS` order (log2 seconds per beat, MIDI velocity / 127,
    seconds early, log2 of performed/score duration)."""
    ensure_partitura()
    from partitura.musicanalysis import encode_performance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, snote_ids = encode_performance(part, performance, alignment)
    t = np.stack([np.log2(np.maximum(params["beat_period"], 1e-3)), params["velocity"], params["timing"],
                  params["articulation_log"]], axis=1).astype(np.float32)
    return np.asarray(snote_ids), t


@dataclass
class PerformanceExample:
    """A performance ready for the model: the matched notes' score features and targets."""

    record: PerformanceRecord
    score: ScoreNotes
    targets: np.ndarray  # (N, 4), rows in score order
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PerformanceExample({self.record.name!r}, {len(self.score)} notes)"


def match_targets(notes: ScoreNotes, snote_ids, targets) -> PerformanceExample | tuple:
    """Keep the score notes that the performance played; (ScoreNotes, targets in that order)."""
    pos = {str(s): i for i, s in enumerate(snote_ids)}
    keep = np.array([i for i, sid in enumerate(notes.note_array["id"]) if str(sid) in pos], dtype=np.int64)
    if len(keep) == 0:
        raise PerformanceDataError("the performance matches none of the score's notes")
    rows = np.array([pos[str(notes.note_array["id"][i])] for i in keep])
    return notes.take(keep), targets[rows]


def _cache_file(record: PerformanceRecord) -> Path:
    st = record.path.stat()
    key = hashlib.sha1(f"v1|{record.path.resolve()}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:20]
    return cache_root() / "performances" / f"{key}.npz"


def load_example(record: PerformanceRecord, *, cache: bool = True) -> PerformanceExample:
    """Read, align and encode one performance (cached on disk by the file's path and mtime)."""
    f = _cache_file(record) if cache else None
    if f is not None and f.exists():
        z = np.load(f, allow_pickle=False)
        notes = ScoreNotes(z["note_array"], z["features"], z["beat"], z["measure"])
        return PerformanceExample(record, notes, z["targets"], json.loads(str(z["meta"])))
    part, perf, alignment = load_aligned(record)
    notes = score_notes(part)
    ids, t = encode_targets(part, perf, alignment)
    notes, t = match_targets(notes, ids, t)
    meta = {"score_notes": int(len(part.notes_tied)), "matched": int(len(notes))}
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f.stem + ".tmp.npz")
        np.savez(tmp, note_array=notes.note_array, features=notes.features, beat=notes.beat,
                 measure=notes.measure, targets=t, meta=json.dumps(meta))
        tmp.replace(f)
    return PerformanceExample(record, notes, t, meta)


def load_examples(records, *, progress: bool = False, cache: bool = True) -> list[PerformanceExample]:
    """:func:`load_example` over ``records``; a performance that fails is reported and left out."""
    from tqdm import tqdm

    out = []
    for r in tqdm(records, desc="performances", disable=not progress):
        try:
            out.append(load_example(r, cache=cache))
        except (PerformanceDataError, ValueError, KeyError, IndexError) as exc:
            warnings.warn(f"left out {r.name}: {exc}")
    return out


def label_of(record: PerformanceRecord, key: str) -> str:
    """A record's label for the style map: ``key`` in piece | pianist | emotion | source."""
    if key not in ("piece", "pianist", "emotion", "source"):
        raise ValueError(f"unknown label {key!r}; accepted: piece, pianist, emotion, source")
    value = getattr(record, key)
    return value or ("—" if key == "emotion" else "")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


class _NoteArrayScore:
    """What ``decode_performance`` reads of a score (only ``note_array()``), for a subset of notes."""

    def __init__(self, note_array):
        self._na = note_array

    def note_array(self, *args, **kwargs):
        return self._na


def decode_targets(notes: ScoreNotes, targets) -> np.ndarray:
    """Partitura's codec backwards: ``targets`` (N, 4) in :data:`TARGETS` order, rows in ``notes``'
    order → the performed note array (fields onset_sec, duration_sec, pitch, velocity, id; rows in
    ``notes``' order, the first onset at 0 s)."""
    ensure_partitura()
    from partitura.musicanalysis import decode_performance

    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (len(notes), len(TARGETS)):
        raise ValueError(f"targets must be ({len(notes)}, {len(TARGETS)}), got {targets.shape}")
    params = np.zeros(len(notes), dtype=[("beat_period", "f4"), ("velocity", "f4"), ("timing", "f4"),
                                         ("articulation_log", "f4")])
    params["beat_period"] = np.exp2(targets[:, 0])
    params["velocity"] = np.clip(targets[:, 1], 1 / 127, 1.0)
    params["timing"] = targets[:, 2]
    params["articulation_log"] = np.clip(targets[:, 3], -6.0, 3.0)
    ids = [str(i) for i in notes.note_array["id"]]
    # notes are already sorted by (onset_div, pitch), the order decode_performance sorts into
    ppart = decode_performance(_NoteArrayScore(notes.note_array), params, snote_ids=ids)
    pna = ppart.note_array()
    order = {sid: k for k, sid in enumerate(ids)}
    return pna[np.argsort([order[str(i)] for i in pna["id"]], kind="stable")]


def performed_to_midi(pna, program: int = 0):
    """A one-piano pretty_midi.PrettyMIDI of a performed note array (onset_sec, duration_sec, pitch, velocity)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, name="piano")
    for on, dur, p, v in zip(pna["onset_sec"], pna["duration_sec"], pna["pitch"], pna["velocity"]):
        inst.notes.append(pretty_midi.Note(int(np.clip(v, 1, 127)), int(p), float(on), float(on + max(dur, 0.02))))
    pm.instruments.append(inst)
    return pm


def piece_score(record: PerformanceRecord):
    """The score part a record is aligned to (its MusicXML for the emotion set, else its match file's)."""
    return load_score(record.score_path or record.path)


def targets_from_midi(notes: ScoreNotes, midi_path, *, min_matched: float = 0.7):
    """Align a performance MIDI file to ``notes`` and encode it: (the matched ScoreNotes, targets (M, 4)).

    A light aligner for uploads, not a full score follower: score notes in (onset, pitch) order
    against performed notes in (chord, pitch) order (notes within 35 ms form a chord), matched
    by their pitch sequences with difflib. PerformanceDataError when fewer than ``min_matched``
    of the score's notes are found (the performance is of another piece, or far from the score)."""
    import difflib

    pt = ensure_partitura()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pna = pt.load_performance_midi(str(midi_path)).note_array()
    except Exception as exc:  # partitura/mido raise many types for a bad file
        raise PerformanceDataError(f"the performance does not parse as MIDI ({type(exc).__name__}); "
                                   "accepted: a .mid/.midi file of the chosen score") from None
    if len(pna) == 0:
        raise PerformanceDataError("the performance MIDI has no notes")
    pna = pna[np.argsort(pna["onset_sec"], kind="stable")]
    chord = np.cumsum(np.r_[0, np.diff(pna["onset_sec"]) > 0.035])
    pna = pna[np.lexsort((pna["pitch"], chord))]
    sm = difflib.SequenceMatcher(None, notes.note_array["pitch"].tolist(), pna["pitch"].tolist(), autojunk=False)
    alignment = [{"label": "match", "score_id": str(notes.note_array["id"][b.a + k]),
                  "performance_id": str(pna["id"][b.b + k])} for b in sm.get_matching_blocks() for k in range(b.size)]
    if len(alignment) < min_matched * len(notes):
        raise PerformanceDataError(
            f"the performance does not match the chosen score: only {len(alignment)} of the score's {len(notes)} "
            f"notes were found in its {len(pna)} notes (need {min_matched:.0%}); upload a performance of this "
            "score, or pick a reference performance from the list")
    ids, t = encode_targets(notes.note_array, pna, alignment)
    return match_targets(notes, ids, t)
