"""Per-note score features and performance targets: partitura's note features on the score
side, its performance codec on the performance side, and the way back to performed notes.

Score side (per score note, :data:`SCORE_FEATURES`): pitch, duration in beats, position in the
beat and the measure, metrical strength, staff, voice, the time signature and marks (accents,
staccato, fermatas, slurs, dynamics) where the score has them — all from
``partitura.musicanalysis.compute_note_array``.
Performance side (per performed note, :data:`TARGETS`): partitura's performance codec
(``encode_performance``): local beat period, velocity, onset deviation and articulation.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from explorer.data.performance_io import (PerformanceDataError, PerformanceRecord, ensure_partitura,
                                         load_performance_midi)

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


def match_targets(notes: ScoreNotes, snote_ids, targets) -> tuple[ScoreNotes, np.ndarray]:
    """Keep the score notes that the performance played; (ScoreNotes, targets in that order)."""
    pos = {str(s): i for i, s in enumerate(snote_ids)}
    keep = np.array([i for i, sid in enumerate(notes.note_array["id"]) if str(sid) in pos], dtype=np.int64)
    if len(keep) == 0:
        raise PerformanceDataError("the performance matches none of the score's notes")
    rows = np.array([pos[str(notes.note_array["id"][i])] for i in keep])
    return notes.take(keep), targets[rows]

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

def targets_from_midi(notes: ScoreNotes, midi_path, *, min_matched: float = 0.7):
    """Align a performance MIDI file to ``notes`` and encode it: (the matched ScoreNotes, targets (M, 4)).

    A light aligner for uploads, not a full score follower: score notes in (onset, pitch) order
    against performed notes in (chord, pitch) order (notes within 35 ms form a chord), matched
    by their pitch sequences with difflib. PerformanceDataError when fewer than ``min_matched``
    of the score's notes are found (the performance is of another piece, or far from the score)."""
    import difflib

    pna = load_performance_midi(midi_path)
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
