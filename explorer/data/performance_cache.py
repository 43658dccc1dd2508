"""Aligned performances ready for the model, cached on disk: read (performance_io), featurised
and encoded (performance_features) once per file, then loaded from ``cache_root()/performances``."""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from explorer.data.performance_features import (PerformanceExample, ScoreNotes, encode_targets, match_targets,
                                                score_notes)
from explorer.data.performance_io import PerformanceDataError, PerformanceRecord, load_aligned
from explorer.paths import cache_root


def _cache_file(record: PerformanceRecord) -> Path:
    st = record.path.stat()
    key = hashlib.sha1(f"v1|{record.path.resolve()}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:20]
    return cache_root() / "performances" / f"{key}.npz"


def load_example(record: PerformanceRecord, *, cache: bool = True) -> PerformanceExample:
    """Read, align and encode one performance (cached on disk by the file's path and mtime)."""
    f = _cache_file(record) if cache else None
    if f is not None and f.exists():
        z = np.load(f, allow_pickle=False)
        notes = ScoreNotes(z["note_array"], z["features"], z["beat"], z["measure"])
        return PerformanceExample(record, notes, z["targets"], json.loads(str(z["meta"])))
    part, perf, alignment = load_aligned(record)
    notes = score_notes(part)
    ids, t = encode_targets(part, perf, alignment)
    notes, t = match_targets(notes, ids, t)
    meta = {"score_notes": int(len(part.notes_tied)), "matched": int(len(notes))}
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f.stem + ".tmp.npz")
        np.savez(tmp, note_array=notes.note_array, features=notes.features, beat=notes.beat,
                 measure=notes.measure, targets=t, meta=json.dumps(meta))
        tmp.replace(f)
    return PerformanceExample(record, notes, t, meta)


def load_examples(records, *, progress: bool = False, cache: bool = True) -> list[PerformanceExample]:
    """:func:`load_example` over ``records``; a performance that fails is reported and left out."""
    from tqdm import tqdm

    out = []
    for r in tqdm(records, desc="performances", disable=not progress):
        try:
            out.append(load_example(r, cache=cache))
        except (PerformanceDataError, ValueError, KeyError, IndexError) as exc:
            warnings.warn(f"left out {r.name}: {exc}")
    return out
