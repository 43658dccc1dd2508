"""Build a sharded store (:mod:`explorer.data.store`) from a source, on the local or the Ray engine.

The sorted list of files (or tunes) is cut into shards of ``shard_files``; each shard is read,
segmented and capped exactly as :func:`explorer.data.build.build_dataset` does, by a worker that
returns an Arrow table, and the driver writes it. A rerun skips the shards already in the manifest,
so a killed build continues where it stopped. When every shard is written, the cross-tune step of
``SegmentDataset.dedupe_splits`` runs over the whole store (tunes that share an opening go to one
split), so ``open_store(out).to_dataset()`` holds the segments, provenance and splits of the
``.npz`` build of the same files. Unlike the ``.npz`` build, every MIDI file of the folder is
listed (the ``folder_files`` and ``folder_scan_seconds`` limits of the app's folder source do not
apply); the per-file limits do.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from explorer.data import store as st
from explorer.data.build import BuildReport, _cap_per_tune, _collect, _item_name, _run, _source_plan
from explorer.data.dataset import SPLITS, segment_tunes, split_of
from explorer.data.engine import run_shards

DEFAULT_SHARD_FILES = 256
_LIMIT_PREFIX = "LATENT_EXPLORER_MAX_"


class ShardBuilder:
    """The worker of one process or actor: ``(name, items) -> (name, Arrow table, manifest entry)``.

    ``limits_env`` (the driver's ``LATENT_EXPLORER_MAX_*`` variables) is set in the worker's
    environment, so every node reads files under the driver's bounds.
    """

    def __init__(self, reader, source: str, bars: int, hop: int, limits_env: dict):
        os.environ.update(limits_env)
        self.reader, self.source, self.bars, self.hop = reader, source, bars, hop

    def __call__(self, task):
        name, items = task
        report = BuildReport(self.source)
        tunes: list = []
        for item in items:
            _collect(_run(self.reader, item), tunes, report, None)
        skipped = Counter(report.skipped)
        ds = segment_tunes(tunes, bars=self.bars, hop=self.hop, skipped=skipped)
        report.skipped = skipped
        keys = ds.tune_keys()  # before the cap, as build_dataset's dedupe sees them
        ds = _cap_per_tune(ds, tunes, report, self.bars, None)
        prov = {"source": ds.tune_source[ds.tune], "tune_id": ds.tune_id[ds.tune], "title": ds.tune_title[ds.tune],
                "qpm": ds.tune_qpm[ds.tune], "split": ds.split, "bar": ds.bar, "transpose": ds.transpose,
                "tune_key": keys[ds.tune] if len(ds) else np.zeros(0, str)}
        table = st.segment_table(ds.tokens, ds.chroma, prov)
        entry = {"tunes": len(tunes), "skipped": dict(sorted(report.skipped.items())),
                 "skipped_files": report.skipped_files, "capped": len(report.capped)}
        return name, table, entry


def plan_shards(items: list, shard_files: int) -> list[tuple[str, list]]:
    """``[(part-00000, items), ...]``: ``items`` cut into runs of ``shard_files``."""
    if shard_files < 1:
        raise ValueError(f"--shard-files must be ≥ 1, got {shard_files}")
    return [(f"part-{k:05d}", items[i:i + shard_files]) for k, i in enumerate(range(0, len(items), shard_files))]


def build_store(source: str, path, out, *, bars: int = 2, hop: int | None = None, engine: str = "local",
                workers: int = 1, address: str | None = None, shard_files: int = DEFAULT_SHARD_FILES,
                parser: str = "pretty_midi", melody_track=None, expand_repeats: bool = False,
                limit: int | None = None, progress: bool = True, log=None) -> dict:
    """Write (or finish) the store ``out`` of ``source``; returns a summary (segments by split,
    files, tunes, skipped counts, shards built now and before, seconds).

    Raises ValueError for a bad source, engine or option, StoreError when ``out`` holds another
    store (other settings, or files that changed since it was started), EngineError when Ray is
    missing or unreachable.
    """
    t0 = time.perf_counter()
    if bars < 1:
        raise ValueError(f"bars must be ≥ 1, got {bars}")
    hop = bars if hop is None else hop
    items, reader = _source_plan(source, path, melody_track, expand_repeats, parser=parser, list_all=True)
    items = items[:limit] if limit is not None else items
    if not items:
        raise ValueError(f"no files to read in {path or source}")
    plan = plan_shards(items, shard_files)
    st.create_store(out, bars=bars, hop=hop, source=source, root=Path(path).name if path else None,
                    parser=parser if source == "midi" else None, shard_files=shard_files, planned=len(plan),
                    melody_track=melody_track)
    inputs = {name: [_item_name(i) for i in chunk] for name, chunk in plan}
    done = {s["name"]: s for s in st.read_manifest(out)["shards"]}
    for name, entry in done.items():
        if entry.get("inputs") != inputs.get(name):
            raise st.StoreError(f"{out}: the files of shard {name} are not those the store was started with "
                                "(the folder changed); build into a new output folder")
    todo = [(name, chunk) for name, chunk in plan if name not in done]
    log = log if log is not None else (lambda line: tqdm.write(line, file=sys.stderr))
    make = functools.partial(ShardBuilder, reader, source, bars, hop,
                             {k: v for k, v in os.environ.items() if k.startswith(_LIMIT_PREFIX)})
    bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc=f"building {Path(out).name}", unit="shard",
               disable=not progress, file=sys.stderr)
    segments = 0
    for name, table, entry in run_shards(make, todo, engine=engine, workers=workers, address=address):
        st.write_segment_table(out, name, table, inputs=inputs[name], **entry)
        for f in entry["skipped_files"]:
            log(f"skipped {f['file']}: {f['reason']}" + (f" ({f['detail']})" if f["detail"] else ""))
        segments += table.num_rows
        bar.update()
        bar.set_postfix(segments=segments)
    bar.close()
    dup = finish_splits(out)
    man = st.read_manifest(out)
    skipped = Counter()
    for s in man["shards"]:
        skipped.update(s.get("skipped", {}))
    splits = st.open_store(out).columns(["split"])["split"]
    return {"out": str(out), "source": source, "segments": {s: int((splits == s).sum()) for s in SPLITS},
            "files": len(items), "tunes": sum(s.get("tunes", 0) for s in man["shards"]),
            "skipped": dict(sorted(skipped.items())), "shards": len(plan), "shards_built_now": len(todo),
            "duplicates": dup, "engine": engine, "workers": workers, "seconds": round(time.perf_counter() - t0, 2)}


def finish_splits(out) -> dict:
    """Put tunes that share a content key in one split across all shards (the rule of
    ``SegmentDataset.dedupe_splits``: the earliest of train, valid, test among them), rewrite the
    shards whose splits change and mark the store complete. Idempotent: the splits are computed
    from each tune's own split (``split_of``), never from the stored ones."""
    s = st.open_store(out, partial=True)
    c = s.columns(["source", "tune_id", "tune_key", "split"])
    pair = np.char.add(np.char.add(c["source"], "\x00"), c["tune_id"])
    tunes, first, tune_of = np.unique(pair, return_index=True, return_inverse=True)
    rank = np.array([SPLITS.index(split_of(c["source"][i], c["tune_id"][i])) for i in first], dtype=int)
    keys = c["tune_key"][first]
    best: dict = {}
    for k, r in zip(keys, rank):
        if k:
            best[k] = min(best.get(k, r), r)
    final = np.array([SPLITS[best[k]] if k else SPLITS[r] for k, r in zip(keys, rank)], dtype=str)
    new = final[tune_of.reshape(-1)] if len(c["split"]) else c["split"]
    offsets = np.cumsum([0] + [e["segments"] for e in s.manifest["shards"]])
    for k, name in enumerate(s.shard_names()):
        a, b = offsets[k], offsets[k + 1]
        if (new[a:b] != c["split"][a:b]).any():
            st.set_column(out, name, "split", new[a:b])
    n_keys = int(sum(1 for k in keys if k))
    dup = {"tunes_sharing_an_opening": n_keys - len(best),
           "moved_to_an_earlier_split": int((final != np.array(SPLITS)[rank]).sum())}
    man = st.read_manifest(out)
    man.update(complete=True, duplicates=dup)
    st.write_manifest(out, man)
    return dup
