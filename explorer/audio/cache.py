"""A two-level content cache for rendered audio: an in-process LRU over a disk folder.

Keys are hex digests of everything that determines the output (see
:func:`explorer.paths.content_key`), so a hit is always correct and entries never need
invalidating; deleting the folder is always safe.
Nothing is created at import: the folder is made on the first write.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import warnings

from explorer.lru import LRU
from explorer.paths import cache_root

__all__ = ["ContentCache"]


class ContentCache:
    """Bytes stored under content keys, in memory (LRU) and in ``cache_root() / subdir``.

    Parameters
    ----------
    subdir : str
        Folder under :func:`explorer.paths.cache_root`, e.g. ``"audio"``.
    suffix : str
        File name suffix of the disk entries, e.g. ``".wav"``.
    max_entries : int
        Most entries kept in memory.
    max_bytes : int
        Most bytes kept in memory in total; an entry larger than this is only stored on disk.
    """

    def __init__(self, subdir: str, suffix: str, *, max_entries: int = 256,
                 max_bytes: int = 64 * 2**20) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"max_entries and max_bytes must be >= 1, got {max_entries} "
                             f"and {max_bytes}")
        self.subdir = subdir
        self.suffix = suffix
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._memory: LRU[str, bytes] = LRU(max_entries, max_total=max_bytes)  # thread-safe

    def __repr__(self) -> str:
        return (f"ContentCache(subdir={self.subdir!r}, suffix={self.suffix!r}, "
                f"entries_in_memory={len(self._memory)}, folder={str(self.folder)!r})")

    @property
    def folder(self) -> pathlib.Path:
        """The disk folder, resolved now from :func:`~explorer.paths.cache_root` (may not exist yet)."""
        return cache_root() / self.subdir

    def path(self, key: str) -> pathlib.Path:
        """Return the disk path of ``key`` (whether or not it exists)."""
        return self.folder / f"{key}{self.suffix}"

    def get(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, from memory, else from disk, else ``None``."""
        data = self._memory.get(key)
        if data is not None:
            return data
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        self._remember(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in memory and on disk.

        A failed disk write (read-only home, full disk) only warns: the cache is an optimisation.
        """
        self._remember(key, data)
        target = self.path(key)
        tmp_name = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees a half-written file.
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{key}.",
                                             suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                tmp.write(data)
            os.replace(tmp_name, target)
        except OSError as err:
            warnings.warn(f"could not write the cache file {target}: {err}", RuntimeWarning,
                          stacklevel=2)
            if tmp_name is not None:
                pathlib.Path(tmp_name).unlink(missing_ok=True)

    def clear_memory(self) -> None:
        """Forget the in-memory entries (the disk entries stay)."""
        self._memory.clear()

    def _remember(self, key: str, data: bytes) -> None:
        self._memory.put(key, data)  # an entry over max_bytes is not kept in memory
