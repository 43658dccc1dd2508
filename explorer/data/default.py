"""The embedded default data, from the music21 corpus (pip package): melody segments for the
melody models, and scores for the performance-style model.

A built copy of the melodies ships as ``assets/data/default.npz`` (``default16.npz``: 16 bars)
so the first start does not spend minutes parsing ABC; without it the dataset is built once
into the cache folder.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from explorer.data.dataset import SegmentDataset, concat
from explorer.data.performances import ScoreNotes, load_score, score_notes
from explorer.paths import assets_dir, cache_root

DEFAULT_COLLECTIONS = ("oneills1850", "airdsAirs", "bach")
DEFAULT_NAME = "music21 corpus: O'Neill's 1850, Aird's Airs, Bach chorales"
#: The embedded default scores of the performance-style model: name → music21 corpus path.
DEFAULT_SCORES = {
    "Mozart K.545 i (exposition)": "mozart/k545/movement1_exposition.mxl",
    "Bach BWV 846 (WTC I prelude in C)": "bach/bwv846.mxl",
    "Joplin: Maple Leaf Rag": "joplin/maple_leaf_rag.mxl",
}


def _file_name(bars: int) -> str:
    return "default.npz" if bars == 2 else f"default{bars}.npz"


def shipped_default_path(bars: int = 2) -> Path:
    """The shipped default data of ``bars``-bar segments (2: default.npz, 16: default16.npz)."""
    return assets_dir() / "data" / _file_name(bars)


def cached_default_path(bars: int = 2) -> Path:
    return cache_root() / "data" / _file_name(bars)


def build_default(out=None, *, bars: int = 2, workers: int = 0, progress: bool = True,
                  collections=DEFAULT_COLLECTIONS) -> Path:
    """Build the default dataset (``bars``-bar segments of each collection) to ``out``; for long
    windows (8 bars or more) the tunes' repeats are written out, as 16-bar models need."""
    from explorer.data.build import build_dataset

    parts = []
    for coll in collections:
        ds, _ = build_dataset(f"music21:{coll}", bars=bars, workers=workers, progress=progress, log=lambda line: None,
                              expand_repeats=bars >= 8)
        parts.append(ds)
    ds = concat(parts)
    ds.meta.update({"name": DEFAULT_NAME, "collections": list(collections)})
    return ds.save(out or shipped_default_path(bars))


def load_default(*, bars: int = 2, progress: bool = False) -> SegmentDataset:
    """The default dataset of ``bars``-bar segments: the shipped file, else a cached build, else build it now
    (minutes: the ABC collections are parsed)."""
    for p in (shipped_default_path(bars), cached_default_path(bars)):
        if p.exists():
            return SegmentDataset.load(p)
    return SegmentDataset.load(build_default(cached_default_path(bars), bars=bars, progress=progress))


def default_score_notes(name: str) -> ScoreNotes:
    """The score features of one of :data:`DEFAULT_SCORES`, read from the music21 corpus."""
    if name not in DEFAULT_SCORES:
        raise ValueError(f"unknown default score {name!r}; accepted: {', '.join(DEFAULT_SCORES)}")
    from music21 import corpus

    return score_notes(load_score(corpus.getWork(DEFAULT_SCORES[name])))


def score_from_bytes(data: bytes, name: str) -> ScoreNotes:
    """The score features of a MusicXML/MXL/MIDI file the user brings instead of a default
    (PerformanceDataError when it does not parse)."""
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return score_notes(load_score(path))
