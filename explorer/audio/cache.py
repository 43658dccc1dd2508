"""A two-level content cache for rendered audio: an in-process LRU over a disk folder.

Keys are hex digests of everything that determines the output (see
:func:`explorer.paths.content_key`), so a hit is always correct and entries never need
invalidating; deleting the folder is always safe.
Nothing is created at import: the folder is made on the first write.

The disk folder is bounded by the ``audio_cache_mb`` limit (:mod:`explorer.limits`): after a
write, the least recently used files (by modification time, which a disk hit refreshes) are
removed until the folder fits; an entry larger than the whole cap is kept in memory only.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import warnings

from explorer.limits import mb
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
        # bytes on disk per folder as last counted, plus what this process wrote since: a write
        # scans the folder only when that passes the cap (a scan stats every file: ~10k clips)
        self._disk_known: dict[str, int] = {}

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
        path = self.path(key)
        try:
            data = path.read_bytes()
            os.utime(path)  # recently used: the last to be evicted
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
        cap = self.max_disk_bytes()
        if len(data) > cap:
            return
        tmp_name = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees a half-written file.
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{key}.",
                                             suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                tmp.write(data)
            os.replace(tmp_name, target)
            folder = str(target.parent)
            known = self._disk_known.get(folder)
            known = self.disk_bytes() if known is None else known + len(data)
            if known > cap:
                self.evict(cap)
                known = self.disk_bytes()
            self._disk_known[folder] = known
        except OSError as err:
            warnings.warn(f"could not write the cache file {target}: {err}", RuntimeWarning,
                          stacklevel=2)
            if tmp_name is not None:
                pathlib.Path(tmp_name).unlink(missing_ok=True)

    @staticmethod
    def max_disk_bytes() -> int:
        """The disk cap in bytes now (the ``audio_cache_mb`` limit)."""
        return mb("audio_cache_mb")

    def disk_bytes(self) -> int:
        """Bytes the disk entries take now (0 when the folder does not exist)."""
        return sum(size for _, _, size in self._entries())

    def evict(self, cap: int | None = None) -> int:
        """Remove the least recently used disk entries until they take at most ``cap`` bytes
        (default :meth:`max_disk_bytes`); return how many were removed."""
        cap = self.max_disk_bytes() if cap is None else cap
        entries = sorted(self._entries())  # oldest first
        total = sum(size for _, _, size in entries)
        removed = 0
        for _, path, size in entries:
            if total <= cap:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        return removed

    def _entries(self) -> list[tuple[int, pathlib.Path, int]]:
        """(mtime_ns, path, size) of the finished disk entries (not the temporary files)."""
        out = []
        try:
            with os.scandir(self.folder) as it:
                for e in it:
                    if e.name.endswith(self.suffix) and not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        out.append((st.st_mtime_ns, pathlib.Path(e.path), st.st_size))
        except OSError:
            return []
        return out

    def clear_memory(self) -> None:
        """Forget the in-memory entries (the disk entries stay)."""
        self._memory.clear()

    def _remember(self, key: str, data: bytes) -> None:
        self._memory.put(key, data)  # an entry over max_bytes is not kept in memory
