"""Arrays kept on disk under content keys: latents and projections of a dataset.

Each entry is one ``.npz`` file named by a hex key that hashes everything the
arrays depend on (model file, data, method, parameters), so a hit is always
valid and deleting the folder is always safe. Files are written to a temporary
name and renamed, so a reader never sees half an entry. Nothing is created at
import: folders are made on the first write.
"""
from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from explorer.paths import cache_root


def entry_path(subdir: str, key: str) -> Path:
    """Where the entry ``key`` of ``subdir`` (``"latents"``, ``"projections"``) lives."""
    return cache_root() / subdir / f"{key}.npz"


def load_arrays(subdir: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or None when there is no readable entry.

    A damaged file counts as a miss (it will be overwritten), never as an error.
    """
    path = entry_path(subdir, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def save_arrays(subdir: str, key: str, **arrays: np.ndarray) -> Path | None:
    """Store ``arrays`` under ``key`` atomically; returns the path, or None when the
    disk write failed (read-only home, full disk: the cache is only an optimisation)."""
    path = entry_path(subdir, key)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{key}.", suffix=".tmp", delete=False) as fh:
            tmp = fh.name
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        return path
    except OSError as exc:
        warnings.warn(f"could not write the cache file {path}: {exc}", RuntimeWarning, stacklevel=2)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return None
