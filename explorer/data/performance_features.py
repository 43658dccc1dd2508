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

import io
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.data.performance_io import (ACCEPTED_SCORES, PerformanceDataError, PerformanceRecord, ensure_partitura,
                                         load_performance_midi, load_score)
from explorer.limits import limit, mb

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
# metrical strength and staff are computed here (partitura's give NaN for a score of one measure
# or notes without a staff, as MIDI scores have, and compute_note_array then raises)
_FEATURE_FUNCTIONS = ["articulation_feature", "loudness_direction_feature", "fermata_feature", "slur_feature",
                      "grace_feature"]


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
    # as partitura's metrical_strength_feature: downbeat; the measure's midpoint; neither
    f[:, 4] = na["is_downbeat"]
    f[:, 5] = f[:, 3] == 0.5
    f[:, 6] = f[:, 4] == f[:, 5]
    staff = {n.id: n.staff for n in part.notes_tied}
    f[:, 7] = [(staff.get(i) or 1) >= 2 for i in na["id"]]
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

def score_from_upload(data: bytes, name: str) -> tuple[ScoreNotes, str]:
    """(ScoreNotes, a note or "") of a score file the user brings: MusicXML/MXL or MIDI, bounded by
    :mod:`explorer.limits` (``score_mb``/``midi_mb``; of a MIDI file with more than ``score_notes``
    notes or ``score_bars`` bars the first bars that fit are read, and the note says so).

    Raises PerformanceDataError naming ``name`` (the user's file name) and the reason for anything
    that cannot be used: too large, unreadable, no notes, an unknown type, a failing analysis."""
    name = Path(str(name)).name or "score"
    suffix = Path(name).suffix.lower()
    if suffix in (".mid", ".midi"):
        data, note = _bounded_midi_score(data, name)
    elif suffix in (".musicxml", ".xml", ".mxl"):
        data, note = _bounded_xml_score(data, name, suffix)
    else:
        raise PerformanceDataError(f"{name}: unknown score type {suffix or '(none)'!r}; accepted: {ACCEPTED_SCORES}")
    with tempfile.TemporaryDirectory(prefix="latent-explorer-score-") as tmp:
        path = Path(tmp) / (name if name not in (".", "..") else f"score{suffix}")
        path.write_bytes(data)
        part = load_score(path)
        try:
            return score_notes(part), note
        except Exception as exc:  # partitura's analysis raises many types on a score it cannot analyse
            raise PerformanceDataError(f"{name}: the score's notes cannot be analysed ({type(exc).__name__}: "
                                       f"{str(exc)[:160]})") from None


def _bounded_xml_score(data: bytes, name: str, suffix: str) -> tuple[bytes, str]:
    """The MusicXML/MXL bytes to read: within ``score_mb`` (an .mxl also unpacked); a plain
    MusicXML of more than ``score_notes`` notes or ``score_bars`` measures cut to its first measures
    (an .mxl that long is refused: it would have to be unpacked and packed again)."""
    cap = mb("score_mb")
    size, texts = len(data), [data]
    if suffix == ".mxl" and size <= cap:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                size = sum(i.file_size for i in zf.infolist())  # unpacked: a small zip may hold gigabytes
                if size <= cap:
                    texts = [zf.read(i) for i in zf.infolist() if i.filename.lower().endswith((".xml", ".musicxml"))]
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            raise PerformanceDataError(f"{name} is not an MXL file (not a readable zip archive); accepted: "
                                       f"{ACCEPTED_SCORES}") from None
    if size > cap:
        raise PerformanceDataError(f"{name} is {size / 2**20:.1f} MB{' unpacked' if size != len(data) else ''}; "
                                   f"scores are read up to {cap / 2**20:g} MB (LATENT_EXPLORER_MAX_SCORE_MB)")
    max_notes, max_bars = int(limit("score_notes")), int(limit("score_bars"))
    notes = max((t.count(b"<note") for t in texts), default=0)
    measures = max((t.count(b"<measure") for t in texts), default=0)
    if notes <= max_notes and measures <= max_bars:
        return data, ""
    if suffix == ".mxl":
        raise PerformanceDataError(f"{name} holds about {notes:,} notes in {measures:,} measures, more than this page "
                                   f"reads ({max_notes:,} notes, {max_bars:,} measures: "
                                   "LATENT_EXPLORER_MAX_SCORE_NOTES, LATENT_EXPLORER_MAX_SCORE_BARS); upload its first "
                                   "part as MusicXML")
    return _first_measures(data, name, max_notes, max_bars)


def _first_measures(data: bytes, name: str, max_notes: int, max_bars: int) -> tuple[bytes, str]:
    """A partwise MusicXML cut to the measures that hold at most ``max_notes`` notes (counted over
    all parts) and number at most ``max_bars``; entities are not resolved, nothing is fetched."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise PerformanceDataError(f"{name} does not parse as XML ({str(exc)[:160]}); accepted: "
                                   f"{ACCEPTED_SCORES}") from None
    parts = [p for p in root if isinstance(p.tag, str) and p.tag == "part"]
    if root.tag != "score-partwise" or not parts:
        raise PerformanceDataError(f"{name} is longer than this page reads and not a partwise MusicXML score that "
                                   "could be cut; upload its first part")
    per_measure = np.zeros(max(len(p.findall("measure")) for p in parts), np.int64)
    for p in parts:
        counts = [len(m.findall("note")) for m in p.findall("measure")]
        per_measure[:len(counts)] += counts
    keep = min(max_bars, max(int(np.searchsorted(np.cumsum(per_measure), max_notes, side="right")), 1))
    for p in parts:
        for m in p.findall("measure")[keep:]:
            p.remove(m)
    kept = int(per_measure[:keep].sum())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), (
        f"{name} is longer than a score this page reads ({max_notes:,} notes, {max_bars:,} measures: "
        f"LATENT_EXPLORER_MAX_SCORE_NOTES, LATENT_EXPLORER_MAX_SCORE_BARS); its first {keep} measures "
        f"({kept:,} of its {int(per_measure.sum()):,} notes) are read")


def _bounded_midi_score(data: bytes, name: str) -> tuple[bytes, str]:
    """The MIDI bytes to read as a score: cut to the first bars that hold ``score_notes`` notes and
    number at most ``score_bars`` (partitura's time grows with the measures and the notes)."""
    from explorer.data.midi_files import midi_bars, read_midi
    from explorer.data.tune import SkipTune

    try:
        pm = read_midi(data)
    except SkipTune as exc:
        raise PerformanceDataError(f"{name} cannot be used: {exc}; accepted: {ACCEPTED_SCORES}") from None
    max_notes, max_bars = int(limit("score_notes")), int(limit("score_bars"))
    onsets = sorted(n.start for i in pm.instruments for n in i.notes)
    bars = midi_bars(pm, max_bars=max_bars)
    if len(onsets) <= max_notes and len(bars) <= max_bars:
        return data, ""
    starts = np.array([pm.tick_to_time(int(round(b.start * pm.resolution))) for b in bars] + [np.inf])
    keep = min(len(bars), max_bars)
    if len(onsets) > max_notes:  # only the bars wholly before the max_notes-th note
        keep = min(keep, max(int(np.searchsorted(starts, onsets[max_notes - 1], side="right")) - 1, 1))
    end = starts[keep]
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < end]
        for n in inst.notes:
            n.end = min(n.end, end)
    buf = io.BytesIO()
    pm.write(buf)
    kept = sum(len(i.notes) for i in pm.instruments)
    return buf.getvalue(), (f"{name} is longer than a score this page reads ({max_notes:,} notes, {max_bars:,} bars: "
                            f"LATENT_EXPLORER_MAX_SCORE_NOTES, LATENT_EXPLORER_MAX_SCORE_BARS); its first {keep} bars "
                            f"({kept:,} of its {len(onsets):,} notes) are read")


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
    if len(pna) > 3 * len(notes) + 1000:  # the alignment's time grows with the product of the two lengths
        raise PerformanceDataError(
            f"the performance has {len(pna):,} notes, far more than the chosen score's {len(notes):,}; upload a "
            "performance of this score")
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
