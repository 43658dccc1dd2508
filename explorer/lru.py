"""A small least-recently-used memory: a mapping that forgets its oldest entries.

Used wherever a process keeps computed values in memory (rendered audio, the latent map's
latents and projections, the pages' fingerprints). No imports beyond the standard library,
so any layer may use it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``max_entries`` values, and with ``max_total`` at most that much ``size(value)``
    in all; reading or storing a key makes it the newest, and the oldest go first.

    Safe to share between threads (Streamlit runs each session's script in its own thread).

    Parameters
    ----------
    max_entries : int
        Most values kept (≥ 1).
    max_total : int, optional
        Most total ``size`` kept; a value larger than this on its own is not kept at all.
    size : callable, optional
        The size of a value, for ``max_total`` (default ``len``).

    Examples
    --------
    >>> m = LRU(2)
    >>> _ = m.put("a", 1), m.put("b", 2), m.get("a"), m.put("c", 3)  # "b" is now the oldest
    >>> "b" in m, m.keys()
    (False, ['a', 'c'])
    """

    def __init__(self, max_entries: int, *, max_total: int | None = None,
                 size: Callable[[V], int] = len) -> None:
        if max_entries < 1 or (max_total is not None and max_total < 1):
            raise ValueError(f"max_entries and max_total must be >= 1, got {max_entries} and {max_total}")
        self.max_entries, self.max_total, self._size = max_entries, max_total, size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        limit = "" if self.max_total is None else f", total={self._total}/{self.max_total}"
        return f"LRU({len(self)}/{self.max_entries} entries{limit})"

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def keys(self) -> list[K]:
        """The keys, oldest first."""
        with self._lock:
            return list(self._items)

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value under ``key`` (now the newest), else ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` as the newest, drop the oldest beyond the limits; returns ``value``."""
        weight = self._size(value) if self.max_total is not None else 0
        if self.max_total is not None and weight > self.max_total:
            return value
        with self._lock:
            if key in self._items:
                self._total -= self._weight(self._items.pop(key))
            self._items[key] = value
            self._total += weight
            while len(self._items) > self.max_entries or (self.max_total is not None and self._total > self.max_total):
                _, dropped = self._items.popitem(last=False)
                self._total -= self._weight(dropped)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()
            self._total = 0

    def _weight(self, value: V) -> int:
        return self._size(value) if self.max_total is not None else 0
