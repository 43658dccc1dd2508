"""Reading aligned piano performances and scores with partitura: the records on disk (Vienna
4x22, Batik plays Mozart, the emotion performances), scores from MusicXML / MIDI / match files,
their alignments, performance MIDI in, performed notes out as MIDI.

The split is by piece: Vienna's Schubert D783 no. 15 (22 pianists) is the test set; every
other piece trains. Nothing here is copied from the data: the loaders take the folder.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "LATENT_EXPLORER_DATA"
TEST_PIECES = ("Schubert_D783_no15",)
EMOTIONS = ("Anger", "Enjoy", "OR", "Relax", "Sad")
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

def label_of(record: PerformanceRecord, key: str) -> str:
    """A record's label for the style map: ``key`` in piece | pianist | emotion | source."""
    if key not in ("piece", "pianist", "emotion", "source"):
        raise ValueError(f"unknown label {key!r}; accepted: piece, pianist, emotion, source")
    value = getattr(record, key)
    return value or ("—" if key == "emotion" else "")

# --------------------------------------------------------------------------------------------- scores

def _one_part(score):
    """The single part of a score (piano staves merged), notes given ids where the file had none."""
    pt = ensure_partitura()
    parts = list(score.parts) if hasattr(score, "parts") else [score]
    if not parts:
        raise PerformanceDataError("the score has no parts")
    _assign_staves(parts)
    part = parts[0] if len(parts) == 1 else pt.score.merge_parts(parts)
    seen = set()
    for i, n in enumerate(part.notes_tied):
        if n.id is None or n.id in seen:  # compute_note_array's mark features look notes up by id
            n.id = f"auto{i}"
        seen.add(n.id)
    if not part.notes_tied:
        raise PerformanceDataError("the score has no notes")
    return part


def _assign_staves(parts) -> None:
    """Give every note without a staff one (a MIDI score has none): with two tracks, the lower
    track is the left hand (staff 2); otherwise notes below middle C go to staff 2."""
    if all(n.staff is not None for p in parts for n in p.notes_tied):
        return
    if len(parts) == 2 and all(p.notes_tied for p in parts):
        low = min(range(2), key=lambda i: np.mean([n.midi_pitch for n in parts[i].notes_tied]))
        for i, p in enumerate(parts):
            for n in p.notes_tied:
                n.staff = n.staff if n.staff is not None else (2 if i == low else 1)
        return
    for p in parts:
        for n in p.notes_tied:
            n.staff = n.staff if n.staff is not None else (2 if n.midi_pitch < 60 else 1)


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
    try:
        return _one_part(score)
    except PerformanceDataError as exc:
        raise PerformanceDataError(f"{path.name}: {exc}") from None

def piece_score(record: PerformanceRecord):
    """The score part a record is aligned to (its MusicXML for the emotion set, else its match file's)."""
    return load_score(record.score_path or record.path)

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

def load_performance_midi(path) -> np.ndarray:
    """The performed note array (onset_sec, duration_sec, pitch, velocity, id, …) of a MIDI file,
    sorted by onset; PerformanceDataError when it does not parse or has no notes."""
    pt = ensure_partitura()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pna = pt.load_performance_midi(str(path)).note_array()
    except Exception as exc:  # partitura/mido raise many types for a bad file
        raise PerformanceDataError(f"the performance does not parse as MIDI ({type(exc).__name__}); "
                                   "accepted: a .mid/.midi file of the chosen score") from None
    if len(pna) == 0:
        raise PerformanceDataError("the performance MIDI has no notes")
    return pna[np.argsort(pna["onset_sec"], kind="stable")]


def performed_to_midi(pna, program: int = 0):
    """A one-piano pretty_midi.PrettyMIDI of a performed note array (onset_sec, duration_sec, pitch, velocity)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, name="piano")
    for on, dur, p, v in zip(pna["onset_sec"], pna["duration_sec"], pna["pitch"], pna["velocity"]):
        inst.notes.append(pretty_midi.Note(int(np.clip(v, 1, 127)), int(p), float(on), float(on + max(dur, 0.02))))
    pm.instruments.append(inst)
    return pm
