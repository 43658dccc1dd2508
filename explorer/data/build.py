"""Build a segment dataset from a named source, with progress and a report.

The report names every file or tune left out and why (``skipped_files`` in its summary), also
those that were read but gave no segment. One tune gives at most ``segments_per_tune``
segments (:mod:`explorer.limits`), spread evenly over it, so one very long file cannot make up
most of a dataset; ``capped`` in the summary lists the tunes that were thinned.
"""
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

import numpy as np

from explorer.data.dataset import SegmentDataset, segment_tunes
from explorer.data.tune import SkipTune
from explorer.limits import limit

SOURCE_NAMES = ("nottingham", "pop909", "midi", "music21:<collection>")


@dataclass
class BuildReport:
    """What a build kept and left out: ``skipped`` counts by reason, one line per skipped
    file or tune in ``messages``, and the same as ``{"file", "reason", "detail"}`` in
    ``skipped_files``; ``capped`` the tunes whose segments were thinned to the cap."""

    source: str
    items: int = 0
    tunes: int = 0
    skipped: Counter = field(default_factory=Counter)
    messages: list = field(default_factory=list)
    bars_dropped: Counter = field(default_factory=Counter)
    bars_joined: int = 0
    off_grid_notes: int = 0
    seconds: float = 0.0
    skipped_files: list = field(default_factory=list)
    capped: list = field(default_factory=list)
    bars_cut: list = field(default_factory=list)
    stopped: list = field(default_factory=list)

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
            "skipped_files": list(self.skipped_files),
            "capped": list(self.capped),
            "bars_cut": list(self.bars_cut),
            "stopped": list(self.stopped),
        }

    def skip(self, name: str, reason: str, detail: str = "", log=None) -> None:
        """Count one file or tune left out, with its reason."""
        self.skipped[reason] += 1
        self.skipped_files.append({"file": name, "reason": reason, "detail": detail})
        line = f"skipped {name}: {reason}" + (f" ({detail})" if detail else "")
        self.messages.append(line)
        if log is not None:
            log(line)


def _source_plan(source: str, path, melody_track, expand_repeats: bool = False, within=None, report=None,
                 parser: str = "pretty_midi", list_all: bool = False):
    """(items, worker) for a source name; raises ValueError for unknown names (and for a
    ``parser`` other than pretty_midi on a source that is not MIDI files). ``list_all`` lists
    every MIDI file of the folder, past the ``folder_files`` and ``folder_scan_seconds`` limits
    (a store build of a large collection)."""
    if parser != "pretty_midi" and source != "midi":
        raise ValueError(f"--parser {parser} reads MIDI files; source {source!r} is not 'midi'")
    if source == "nottingham":
        from explorer.data.nottingham import load_nottingham_item, nottingham_items

        return nottingham_items(_need(path, source)), load_nottingham_item
    if source == "pop909":
        from explorer.data.pop909 import load_pop909_item, pop909_items

        return pop909_items(_need(path, source)), load_pop909_item
    if source == "midi":
        from explorer.data.midi_files import load_midi_item, scan_midi_files

        root = str(_need(path, source))
        unbounded = {"max_files": sys.maxsize, "max_seconds": float("inf")} if list_all else {}
        files, stopped = scan_midi_files(root, within=within, **unbounded)
        if stopped and report is not None:
            report.stopped.append(f"listing {Path(root).name}: {stopped}")
        reader = load_midi_item if parser == "pretty_midi" else functools.partial(load_midi_item, parser=parser)
        return [(str(f), root, melody_track) for f in files], reader
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
        if len(item) == 3 and isinstance(item[1], str):  # a MIDI file: named as its tune will be
            return os.path.relpath(item[0], item[1]) if os.path.isdir(item[1]) else os.path.basename(item[0])
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
    max_seconds: float | None = None,
    within=None,
    parser: str = "pretty_midi",
) -> tuple[SegmentDataset, BuildReport]:
    """Read ``source`` and cut it into segments.

    ``workers`` processes read files in parallel (0 = all cores); the result
    does not depend on it. ``limit`` takes only the first N files/tunes.
    ``log`` gets one line per skipped file (default: stderr). ``expand_repeats`` writes out
    repeated strains of music21 corpus tunes (for long windows; other sources ignore it).
    ``max_seconds`` stops reading files after that long (one process; the files read so far are
    used and ``stopped`` in the summary says so); ``within`` leaves out MIDI files whose real path
    leaves that folder. ``parser`` reads MIDI files (``pretty_midi`` or ``symusic``).
    """
    t0 = time.perf_counter()
    report = BuildReport(source)
    items, worker = _source_plan(source, path, melody_track, expand_repeats, within, report, parser)
    if limit is not None:
        items = items[:limit]
    report.items = len(items)
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
        for k, item in enumerate(items):
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                report.stopped.append(f"reading stopped after {max_seconds:g} s: {k} of {len(items)} files read "
                                      "(LATENT_EXPLORER_MAX_ANALYSIS_SECONDS)")
                break
            _collect(run(item), tunes, report, log)
            bar.update()
    bar.close()
    skipped = Counter(report.skipped)
    ds = segment_tunes(tunes, bars=bars, hop=hop, skipped=skipped)
    report.skipped = skipped
    report.tunes = len(tunes)
    ds = _cap_per_tune(ds, tunes, report, bars, log)
    for t in tunes:
        if t.stats.get("bars_cut"):
            report.bars_cut.append({"file": t.tune_id, "bars_read": t.stats["bars_cut"]})
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
        report.skip(*skip, log=log)


def _cap_per_tune(ds: SegmentDataset, tunes, report: BuildReport, bars: int, log) -> SegmentDataset:
    """Report the tunes that gave no segment; keep at most the ``segments_per_tune`` limit of
    each tune's segments, evenly spaced (first and last kept)."""
    cap = int(limit("segments_per_tune"))
    counts = np.bincount(ds.tune, minlength=len(tunes)) if len(ds) else np.zeros(len(tunes), int)
    for k, t in enumerate(tunes):
        if counts[k] == 0:
            report.skip(t.tune_id, "no segment", f"no {bars}-bar window with notes on its "
                        f"{len(t.bar_numbers)} usable bars", log=log)
    if counts.max(initial=0) <= cap:
        return ds
    keep = np.ones(len(ds), bool)
    for k in np.flatnonzero(counts > cap):
        rows = np.flatnonzero(ds.tune == k)
        keep[rows] = False
        keep[rows[np.unique(np.linspace(0, len(rows) - 1, cap).round().astype(int))]] = True
        report.capped.append({"file": tunes[k].tune_id, "segments": int(counts[k]), "kept": cap})
    return ds.subset(keep)
