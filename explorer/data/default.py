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


def shipped_default_path() -> Path:
    return assets_dir() / "data" / "default.npz"


def cached_default_path() -> Path:
    return cache_root() / "data" / "default.npz"


def build_default(out=None, *, workers: int = 0, progress: bool = True, collections=DEFAULT_COLLECTIONS) -> Path:
    """Build the default dataset (2-bar segments of each collection) to ``out``."""
    from explorer.data.build import build_dataset

    parts = []
    for coll in collections:
        ds, _ = build_dataset(f"music21:{coll}", bars=2, workers=workers, progress=progress, log=lambda line: None)
        parts.append(ds)
    ds = concat(parts)
    ds.meta.update({"name": DEFAULT_NAME, "collections": list(collections)})
    return ds.save(out or shipped_default_path())


def load_default(*, progress: bool = False) -> SegmentDataset:
    """The default dataset: the shipped file, else a cached build, else build it now."""
    for p in (shipped_default_path(), cached_default_path()):
        if p.exists():
            return SegmentDataset.load(p)
    return SegmentDataset.load(build_default(cached_default_path(), progress=progress))
