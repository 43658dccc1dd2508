"""The embedded default data: melodies from the music21 corpus (pip package).

A built copy ships as ``assets/data/default.npz`` so the first start does not
spend minutes parsing ABC; without it the dataset is built once into the
cache folder.
"""
from __future__ import annotations

from pathlib import Path

from explorer.data.dataset import SegmentDataset, concat
from explorer.paths import cache_root

DEFAULT_COLLECTIONS = ("oneills1850", "airdsAirs", "bach")
DEFAULT_NAME = "music21 corpus: O'Neill's 1850, Aird's Airs, Bach chorales"


def assets_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "assets"


def _file_name(bars: int) -> str:
    return "default.npz" if bars == 2 else f"default{bars}.npz"


def shipped_default_path(bars: int = 2) -> Path:
    """The shipped default data of ``bars``-bar segments (2: default.npz, 16: default16.npz)."""
    return assets_dir() / "data" / _file_name(bars)


def cached_default_path(bars: int = 2) -> Path:
    return cache_root() / "data" / _file_name(bars)


def build_default(out=None, *, bars: int = 2, workers: int = 0, progress: bool = True,
                  collections=DEFAULT_COLLECTIONS) -> Path:
    """Build the default dataset (``bars``-bar segments of each collection) to ``out``."""
    from explorer.data.build import build_dataset

    parts = []
    for coll in collections:
        ds, _ = build_dataset(f"music21:{coll}", bars=bars, workers=workers, progress=progress, log=lambda line: None)
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
