"""Build a segment dataset from a named source, with progress and a report."""
from __future__ import annotations

import functools
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from explorer.data.dataset import SegmentDataset, segment_tunes
from explorer.data.tune import SkipTune

SOURCE_NAMES = ("nottingham", "pop909", "midi", "music21:<collection>")


@dataclass
class BuildReport:
    """What a build kept and left out: ``skipped`` counts by reason, and one
    line per skipped file or tune in ``messages``."""

    source: str
    items: int = 0
    tunes: int = 0
    skipped: Counter = field(default_factory=Counter)
    messages: list = field(default_factory=list)
    bars_dropped: Counter = field(default_factory=Counter)
    bars_joined: int = 0
    off_grid_notes: int = 0
    seconds: float = 0.0

    def summary(self, ds: SegmentDataset) -> dict:
        return {
            "source": self.source,
            "segments": ds.counts(),
            "skipped": dict(sorted(self.skipped.items())),
            "items": self.items,
            "tunes": self.tunes,
            "bars_dropped": dict(sorted(self.bars_dropped.items())),
            "bars_joined": self.bars_joined,
            "off_grid_notes": self.off_grid_notes,
            "steps": ds.n_steps,
            "seconds": round(self.seconds, 2),
        }


def _source_plan(source: str, path, melody_track, expand_repeats: bool = False):
    """(items, worker) for a source name; raises ValueError for unknown names."""
    if source == "nottingham":
        from explorer.data.nottingham import load_nottingham_item, nottingham_items

        return nottingham_items(_need(path, source)), load_nottingham_item
    if source == "pop909":
        from explorer.data.pop909 import load_pop909_item, pop909_items

        return pop909_items(_need(path, source)), load_pop909_item
    if source == "midi":
        from explorer.data.midi_files import list_midi_files, load_midi_item

        root = str(_need(path, source))
        return [(str(f), root, melody_track) for f in list_midi_files(root)], load_midi_item
    if source.startswith("music21:") and len(source) > len("music21:"):
        from explorer.data.music21_corpus import load_music21_item, music21_items

        coll = source.split(":", 1)[1]
        return music21_items(coll), functools.partial(load_music21_item, collection=coll, expand_repeats=expand_repeats)
    raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCE_NAMES)}")


def _need(path, source):
    if path is None:
        raise ValueError(f"source {source!r} needs --path (the folder of the data)")
    return path


def _run(worker, item):
    """Call ``worker`` on ``item``; return (tunes, None) or ([], (name, reason, detail))."""
    try:
        return worker(item), None
    except SkipTune as exc:
        return [], (_item_name(item), exc.reason, exc.detail)


def _item_name(item) -> str:
    if isinstance(item, tuple):
        if item[0] == "abc":
            return f"{item[1]}#{item[2]}"
        if item[0] == "file":
            return str(item[1])
        return str(item[0])
    return str(item)


def build_dataset(
    source: str,
    path=None,
    *,
    bars: int = 2,
    hop: int | None = None,
    workers: int = 1,
    limit: int | None = None,
    melody_track=None,
    expand_repeats: bool = False,
    progress: bool = True,
    log=None,
) -> tuple[SegmentDataset, BuildReport]:
    """Read ``source`` and cut it into segments.

    ``workers`` processes read files in parallel (0 = all cores); the result
    does not depend on it. ``limit`` takes only the first N files/tunes.
    ``log`` gets one line per skipped file (default: stderr). ``expand_repeats`` writes out
    repeated strains of music21 corpus tunes (for long windows; other sources ignore it).
    """
    t0 = time.perf_counter()
    items, worker = _source_plan(source, path, melody_track, expand_repeats)
    if limit is not None:
        items = items[:limit]
    report = BuildReport(source, items=len(items))
    log = log if log is not None else (lambda line: print(line, file=sys.stderr))
    workers = (os.cpu_count() or 1) if workers == 0 else max(1, workers)
    run = functools.partial(_run, worker)
    bar = tqdm(total=len(items), desc=f"reading {source}", unit="file", disable=not progress, file=sys.stderr)
    tunes = []
    if workers > 1 and len(items) > 1:
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(workers) as pool:
            results = pool.imap(run, items, chunksize=max(1, min(16, len(items) // (workers * 8) or 1)))
            for res in results:
                _collect(res, tunes, report, log)
                bar.update()
    else:
        for item in items:
            _collect(run(item), tunes, report, log)
            bar.update()
    bar.close()
    skipped = Counter(report.skipped)
    ds = segment_tunes(tunes, bars=bars, hop=hop, skipped=skipped)
    report.skipped = skipped
    report.tunes = len(tunes)
    for t in tunes:
        report.bars_dropped.update(t.stats.get("bars_dropped", {}))
        report.bars_joined += t.stats.get("bars_joined", 0)
        report.off_grid_notes += t.stats.get("off_grid", 0)
    report.seconds = time.perf_counter() - t0
    ds.meta.update({"source": source, "path": str(Path(path).name) if path else None})
    return ds, report


def _collect(res, tunes, report, log):
    got, skip = res
    tunes.extend(got)
    if skip is not None:
        name, reason, detail = skip
        report.skipped[reason] += 1
        line = f"skipped {name}: {reason}" + (f" ({detail})" if detail else "")
        report.messages.append(line)
        log(line)
