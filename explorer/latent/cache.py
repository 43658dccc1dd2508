"""Arrays kept on disk under content keys: latents and projections of a dataset.

Each entry is one ``.npz`` file named by a hex key that hashes everything the
arrays depend on (model file, data, method, parameters), so a hit is always
valid and deleting the folder is always safe. Files are written to a temporary
name and renamed, so a reader never sees half an entry. Nothing is created at
import: folders are made on the first write.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

#: Environment variable that moves the cache root away from ``~/.cache/latent-explorer``.
CACHE_ENV_VAR = "LATENT_EXPLORER_CACHE"


def cache_root() -> Path:
    """``$LATENT_EXPLORER_CACHE`` when set and non-empty, else ``~/.cache/latent-explorer``.

    Read at call time, so tests and users can redirect it.
    """
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "latent-explorer").expanduser()


def cache_key(*parts: object) -> str:
    """sha256 hex digest of ``parts``: ``bytes`` as they are, anything else by ``repr``.

    Each part is length-prefixed, so ``("ab", "c")`` and ``("a", "bc")`` differ.
    """
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


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
