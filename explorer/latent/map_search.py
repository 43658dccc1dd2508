"""Finding points on a latent map: by tune title, by source collection, by an attribute's range;
and a box or lasso selection put in playing order. Pure numpy on a SegmentDataset.

::

    keep = search_mask(ds, rows, title="drowsy", sources=["oneills"], ranges={"note_density": (0.2, 0.6)},
                       attrs=ds.attributes())
    order = playing_order(selected_rows, rows, coords)      # left to right across the map
"""
from __future__ import annotations

import numpy as np

#: A selection plays at most this many segments (a lasso can take thousands).
MAX_PLAYED = 32


def search_mask(ds, rows: np.ndarray, *, title: str = "", sources=None, ranges: dict | None = None,
                attrs: dict | None = None) -> np.ndarray:
    """Mask (M,) of the map's points ``ds[rows]`` whose tune title (or id) contains ``title``
    (case-insensitive; "" matches all), whose source is in ``sources`` (None: any) and whose
    attributes lie in ``ranges`` ``{name: (low, high)}`` (inclusive; ``attrs`` maps each name to
    (N,) values of the whole dataset). A NaN attribute is outside every range.

    Raises KeyError naming the attributes there are when a range names another.
    """
    rows = np.asarray(rows, np.int64)
    keep = np.ones(len(rows), bool)
    needle = title.strip().lower()
    if needle:
        names = np.char.lower(np.array([f"{t or ''} {i}" for t, i in zip(ds.tune_title, ds.tune_id)], dtype=str))
        keep &= np.char.find(names, needle)[ds.tune[rows]] >= 0
    if sources is not None:
        keep &= np.isin(ds.source[rows], list(sources))
    for name, (lo, hi) in (ranges or {}).items():
        if attrs is None or name not in attrs:
            raise KeyError(f"no attribute {name!r}; there are {sorted(attrs or {})}")
        v = np.asarray(attrs[name], np.float64)[rows]
        keep &= (v >= lo - 1e-9) & (v <= hi + 1e-9)
    return keep


def playing_order(selected: list[int], rows: np.ndarray, coords: np.ndarray) -> list[int]:
    """The dataset rows ``selected`` (as a box or lasso hands them back, in any order, maybe
    repeated) that are on the map (``rows`` (M,) sorted, ``coords`` (M, 2)), once each, left to
    right across the map (then bottom to top)."""
    rows = np.asarray(rows, np.int64)
    sel = np.unique(np.asarray(selected, np.int64))
    pos = np.searchsorted(rows, sel)
    on_map = (pos < len(rows)) & (rows[np.minimum(pos, len(rows) - 1)] == sel) if len(rows) else sel < 0
    pos = pos[on_map]
    order = np.lexsort((coords[pos, 1], coords[pos, 0]))
    return rows[pos[order]].tolist()
