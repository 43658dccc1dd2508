"""A sharded segment store: Parquet shards and a manifest, for corpora too large for one file.

A store is a folder::

    STORE/
      manifest.json                     format, version, bars, hop, source, root, parser, the shards
                                        (name, inputs, segments, tunes, skipped) and the latents per key
      segments/part-00000.parquet       one row per segment (columns below)
      latents/<key>/part-00000.parquet  the same shard's rows in the same order: ``mu`` (list<float32>[D])

Segment columns: ``tokens`` (fixed-size binary of T uint8), ``chroma`` (fixed-size binary of
T × 2 bytes: the (T, 12) chroma packed with ``np.packbits`` along its last axis), ``source``,
``tune_id``, ``title``, ``qpm``, ``split``, ``bar``, ``transpose``, ``tune_key`` (the tune's
content key, :func:`explorer.data.dataset.melody_key`, for the cross-shard duplicate step) and
one float32 column per attribute of :mod:`explorer.music.attributes`.

Every file is written to a temporary name and renamed, the manifest after each shard, so a job
killed at any point leaves a store that a rerun continues. The store's order is the shards' order
(by name) and, within a shard, the rows' order.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from explorer.data.dataset import SegmentDataset

FORMAT = "latent-explorer/store"
VERSION = 1
MANIFEST = "manifest.json"
#: Per-segment columns besides tokens, chroma and the attributes, with their Arrow types.
PROVENANCE = {
    "source": pa.string(), "tune_id": pa.string(), "title": pa.string(), "qpm": pa.float32(),
    "split": pa.string(), "bar": pa.int32(), "transpose": pa.int8(), "tune_key": pa.string(),
}
_NUMPY = {"qpm": np.float32, "bar": np.int32, "transpose": np.int8}


class StoreError(ValueError):
    """A folder that is not a store, or a store that is damaged, incomplete or of another version."""


# ---- paths and the manifest ------------------------------------------------------------
def segment_path(path, name: str) -> Path:
    return Path(path) / "segments" / f"{name}.parquet"


def latent_path(path, key: str, name: str) -> Path:
    return Path(path) / "latents" / key / f"{name}.parquet"


def is_store(path) -> bool:
    """Whether ``path`` is a folder with a store manifest (it may still be damaged)."""
    p = Path(path) / MANIFEST
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(path) -> dict:
    """The manifest of the store at ``path``; StoreError when there is none or it is not ours."""
    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"{path} is not a store (no such folder)")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise StoreError(f"{path} is not a store (no {MANIFEST})")
    try:
        man = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} is a damaged store: {MANIFEST} does not read as JSON ({exc})") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        got = man.get("format") if isinstance(man, dict) else type(man).__name__
        raise StoreError(f"{path} is not a Latent Explorer store (format {got!r}, expected {FORMAT!r})")
    if not isinstance(man.get("version"), int) or man["version"] > VERSION:
        raise StoreError(f"{path} has store version {man.get('version')!r}; this version reads ≤ {VERSION}")
    if not isinstance(man.get("shards"), list):
        raise StoreError(f"{path} is a damaged store: its manifest has no shard list")
    return man


def write_manifest(path, manifest: dict) -> None:
    """Write ``manifest`` atomically (temporary file, then rename)."""
    _atomic_bytes(Path(path) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _atomic_bytes(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def _atomic_table(target: Path, table: pa.Table) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(target)


def create_store(path, **manifest_fields) -> Path:
    """Start a store at ``path`` (a new or empty folder) with these manifest fields (``bars``,
    ``hop``, ``source``, ``root``, ``parser``, ...). When a store is already there with the same
    fields, it is kept as it is (a rerun resumes it); other fields raise StoreError, as does a
    folder with other files in it."""
    path = Path(path)
    if (path / MANIFEST).exists():
        man = read_manifest(path)
        differ = {k: (man.get(k), v) for k, v in manifest_fields.items() if man.get(k) != v}
        if differ:
            what = ", ".join(f"{k}={old!r} there, {new!r} asked" for k, (old, new) in sorted(differ.items()))
            raise StoreError(f"{path} holds a store built with other settings ({what}); "
                             "use another output folder or the same settings")
        return path
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(f"{path} exists and is not an empty folder or a store; choose a new output folder")
    path.mkdir(parents=True, exist_ok=True)
    man = {"format": FORMAT, "version": VERSION, "shards": [], "latents": {}, "complete": False}
    man.update(manifest_fields)
    write_manifest(path, man)
    return path


# ---- writers -----------------------------------------------------------------------------
def segment_table(tokens, chroma, provenance: dict, attributes: dict | None = None) -> pa.Table:
    """The Arrow table of one segment shard (columns in the module doc). ``provenance`` maps
    every name of ``PROVENANCE`` to an (n,) array; ``attributes`` (default: computed from the
    tokens) maps attribute names to (n,) floats."""
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    chroma = np.asarray(chroma)
    if tokens.ndim != 2 or chroma.shape != tokens.shape + (12,):
        raise ValueError(f"tokens (n, T) and chroma (n, T, 12) expected, got {tokens.shape}, {chroma.shape}")
    n, t = tokens.shape
    missing = [k for k in PROVENANCE if k not in provenance]
    if missing:
        raise ValueError(f"provenance lacks {missing}; needed: {list(PROVENANCE)}")
    if attributes is None:
        from explorer.music import attributes as attrs

        attributes = attrs.compute(tokens) if n else {k: np.zeros(0) for k in attrs.ATTRIBUTES}
    packed = np.ascontiguousarray(np.packbits(chroma.astype(bool), axis=-1)).reshape(n, 2 * t)
    cols = {"tokens": _fixed_binary(tokens), "chroma": _fixed_binary(packed)}
    for k, typ in PROVENANCE.items():
        cols[k] = pa.array(np.asarray(provenance[k]).tolist() if typ == pa.string() else np.asarray(provenance[k]),
                           type=typ)
    for k, v in attributes.items():
        cols[k] = pa.array(np.asarray(v, dtype=np.float32))
    bad = [k for k, c in cols.items() if len(c) != n]
    if bad:
        raise ValueError(f"columns {bad} do not have the {n} rows of tokens")
    return pa.table(cols)


def write_segment_shard(store_path, name: str, tokens, chroma, provenance: dict, attributes: dict | None = None,
                        **entry) -> dict:
    """Write segment shard ``name`` (see :func:`segment_table`) and record it in the manifest with
    ``entry`` (``inputs``, ``tunes``, ``skipped``, ...); replaces a shard of that name. Returns the
    manifest entry."""
    table = segment_table(tokens, chroma, provenance, attributes)
    return write_segment_table(store_path, name, table, **entry)


def write_segment_table(store_path, name: str, table: pa.Table, **entry) -> dict:
    """Write an Arrow table made by :func:`segment_table` as shard ``name``, then the manifest."""
    man = read_manifest(store_path)
    _atomic_table(segment_path(store_path, name), table)
    rec = dict(entry, name=name, segments=table.num_rows)
    man["shards"] = sorted([s for s in man["shards"] if s["name"] != name] + [rec], key=lambda s: s["name"])
    attrs = [c for c in table.column_names if c not in PROVENANCE and c not in ("tokens", "chroma")]
    man.setdefault("attributes", attrs)
    for lat in man.get("latents", {}).values():  # a rewritten shard's latents are no longer its own
        lat["shards"] = [s for s in lat["shards"] if s != name]
    write_manifest(store_path, man)
    return rec


def set_column(store_path, name: str, column: str, values) -> None:
    """Replace provenance ``column`` of shard ``name`` with ``values`` (same rows, so its latents
    stay its own); used for the splits a whole-store step decides."""
    if column not in PROVENANCE or column == "tune_key":
        raise ValueError(f"only provenance columns can be set, not {column!r}")
    file = segment_path(store_path, name)
    table = pq.read_table(file)
    if len(values) != table.num_rows:
        raise ValueError(f"shard {name} has {table.num_rows} rows, {len(values)} values given")
    i = table.column_names.index(column)
    typ = PROVENANCE[column]
    col = pa.array(np.asarray(values).tolist() if typ == pa.string() else np.asarray(values), type=typ)
    _atomic_table(file, table.set_column(i, column, col))


def write_latent_shard(store_path, key: str, shard_name: str, mu, info: dict) -> None:
    """Write the latent means ``mu`` (n, D) of shard ``shard_name`` under ``key`` and record it;
    ``info`` (``checkpoint``, ``fingerprint``, ...) is kept in the manifest beside the key; other
    info than the key already has raises StoreError."""
    man = read_manifest(store_path)
    _check_key(key)
    mu = np.ascontiguousarray(mu, dtype=np.float32)
    if mu.ndim != 2:
        raise ValueError(f"mu must have shape (n, D), got {mu.shape}")
    entry = {s["name"]: s for s in man["shards"]}.get(shard_name)
    if entry is None:
        raise StoreError(f"{store_path} has no shard {shard_name!r}")
    if entry["segments"] != len(mu):
        raise ValueError(f"shard {shard_name} has {entry['segments']} segments, mu has {len(mu)} rows")
    lat = man.setdefault("latents", {}).get(key)
    want = dict(info, dim=int(mu.shape[1]))
    if lat is not None and {k: lat.get(k) for k in want} != want:
        raise StoreError(f"latents {key!r} of {store_path} were made with {_without(lat, 'shards')}, not {want}")
    lat = lat or dict(want, shards=[])
    flat = pa.array(mu.ravel(), type=pa.float32())
    table = pa.table({"mu": pa.FixedSizeListArray.from_arrays(flat, mu.shape[1])})
    _atomic_table(latent_path(store_path, key, shard_name), table)
    lat["shards"] = sorted(set(lat["shards"]) | {shard_name})
    man["latents"][key] = lat
    write_manifest(store_path, man)


def _check_key(key: str) -> None:
    if not key or not all(c.isalnum() or c in "-_." for c in key) or key.startswith("."):
        raise ValueError(f"latent key {key!r} must be letters, digits, '-', '_' or '.'")


def _without(d: dict, k: str) -> dict:
    return {a: b for a, b in d.items() if a != k}


def _fixed_binary(a: np.ndarray) -> pa.Array:
    n, w = a.shape
    return pa.Array.from_buffers(pa.binary(w), n, [None, pa.py_buffer(np.ascontiguousarray(a).tobytes())])


def _binary_to_uint8(arr, width: int) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    data = np.frombuffer(arr.buffers()[1], np.uint8, count=len(arr) * width, offset=arr.offset * width)
    return data.reshape(len(arr), width)


# ---- reading -----------------------------------------------------------------------------
def open_store(path, *, partial: bool = False) -> "Store":
    """The store at ``path``.

    Raises StoreError naming the problem: not a folder with a store manifest, another format or a
    newer version, a shard file that is missing, or a build that has not finished (unless
    ``partial``: then the shards written so far are read).
    """
    man = read_manifest(path)
    if not man.get("complete") and not partial:
        done = len(man["shards"])
        planned = man.get("planned", "?")
        raise StoreError(f"{path} is an unfinished store ({done} of {planned} shards built); "
                         "rerun the same build command to finish it")
    for s in man["shards"]:
        if not segment_path(path, s["name"]).is_file():
            raise StoreError(f"{path} is a damaged store: shard {s['name']} is in the manifest but "
                             f"segments/{s['name']}.parquet is missing")
    return Store(Path(path), man)


class Store:
    """A read view of a store (see the module doc); rows are numbered in store order."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._offsets = np.cumsum([0] + [int(s["segments"]) for s in manifest["shards"]])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __repr__(self) -> str:
        return (f"Store({self.path.name!r}, segments={len(self)}, shards={len(self.manifest['shards'])}, "
                f"latents={self.latent_keys()})")

    @property
    def bars(self) -> int:
        return int(self.manifest["bars"])

    def shard_names(self) -> list[str]:
        return [s["name"] for s in self.manifest["shards"]]

    def shard_range(self, name: str) -> tuple[int, int]:
        """(first row, end row) of shard ``name`` in store order."""
        names = self.shard_names()
        if name not in names:
            raise StoreError(f"{self.path} has no shard {name!r}")
        k = names.index(name)
        return int(self._offsets[k]), int(self._offsets[k + 1])

    def attribute_names(self) -> list[str]:
        return list(self.manifest.get("attributes", []))

    def _read(self, file: Path, columns, rows_expected: int) -> pa.Table:
        try:
            table = pq.read_table(file, columns=list(columns))
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"{self.path} is a damaged store: {file.relative_to(self.path)} does not read "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        if table.num_rows != rows_expected:
            raise StoreError(f"{self.path} is a damaged store: {file.relative_to(self.path)} has "
                             f"{table.num_rows} rows, the manifest says {rows_expected}")
        return table

    def _gather(self, rows, read_shard) -> list:
        """``read_shard(k) -> list of (n_k, ...) arrays`` for the shards holding ``rows`` (all when
        None), gathered in the order of ``rows``."""
        n_shards = len(self.manifest["shards"])
        if rows is None:
            parts = [read_shard(k) for k in range(n_shards)]
            if not parts:
                return []
            return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows must lie in 0..{len(self) - 1}, got {rows.min()}..{rows.max()}")
        which = np.searchsorted(self._offsets, rows, side="right") - 1
        pieces, where = [], []
        for k in np.unique(which):
            pos = np.flatnonzero(which == k)
            pieces.append([a[rows[pos] - self._offsets[k]] for a in read_shard(int(k))])
            where.append(pos)
        if not pieces:
            return []
        where = np.concatenate(where)
        out = []
        for i in range(len(pieces[0])):
            cat = np.concatenate([p[i] for p in pieces])  # strings take the widest shard's width
            col = np.empty_like(cat)
            col[where] = cat
            out.append(col)
        return out

    def columns(self, names=None, rows=None) -> dict[str, np.ndarray]:
        """Provenance and attribute columns (all when ``names`` is None) of all rows or ``rows``,
        in store order: strings as ``str`` arrays, attributes as float32."""
        known = list(PROVENANCE) + self.attribute_names()
        names = known if names is None else list(names)
        bad = [n for n in names if n not in known]
        if bad:
            raise KeyError(f"no column {bad} in the store; columns: {known}")
        shards = self.manifest["shards"]

        def read(k):
            t = self._read(segment_path(self.path, shards[k]["name"]), names, shards[k]["segments"])
            return [_to_numpy(t.column(n), n) for n in names]

        got = self._gather(rows, read)
        if not got:
            return {n: np.zeros(0, _empty_dtype(n)) for n in names}
        return dict(zip(names, got))

    def segments(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(tokens (n, T) uint8, chroma (n, T, 12) uint8) of ``rows``."""
        shards = self.manifest["shards"]
        t = self.bars * 16

        def read(k):
            tab = self._read(segment_path(self.path, shards[k]["name"]), ["tokens", "chroma"], shards[k]["segments"])
            return [_binary_to_uint8(tab.column("tokens"), t), _binary_to_uint8(tab.column("chroma"), 2 * t)]

        got = self._gather(rows, read)
        if not got:
            return np.zeros((0, t), np.uint8), np.zeros((0, t, 12), np.uint8)
        tokens, packed = got
        chroma = np.unpackbits(packed.reshape(len(packed), t, 2), axis=-1, count=12)
        return tokens.copy(), chroma

    def to_dataset(self, rows=None) -> SegmentDataset:
        """The rows (all by default) as a SegmentDataset; its tune table holds the tunes of those
        rows, in order of first appearance."""
        tokens, chroma = self.segments(np.arange(len(self)) if rows is None else rows)
        c = self.columns(["source", "tune_id", "title", "qpm", "split", "bar", "transpose"], rows)
        pairs = np.char.add(np.char.add(c["source"].astype(str), "\x00"), c["tune_id"].astype(str))
        _, first, tune = np.unique(pairs, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        heads = first[order]
        meta = {k: self.manifest.get(k) for k in ("bars", "hop", "source") if k in self.manifest}
        meta.update(path=self.manifest.get("root"), store=self.path.name)
        return SegmentDataset(
            tokens, chroma, rank[tune.reshape(-1)].astype(np.int32), c["bar"].astype(np.int32),
            c["transpose"].astype(np.int8), c["source"][heads], c["tune_id"][heads], c["title"][heads],
            c["qpm"][heads].astype(np.float32), c["split"][heads], meta,
        )

    def latent_keys(self) -> list[str]:
        """Keys whose latents cover every shard."""
        names = set(self.shard_names())
        return sorted(k for k, v in self.manifest.get("latents", {}).items() if names <= set(v.get("shards", [])))

    def latent_info(self, key: str) -> dict:
        lat = self.manifest.get("latents", {}).get(key)
        if lat is None:
            raise StoreError(f"{self.path} has no latents {key!r}; it has {sorted(self.manifest.get('latents', {}))}")
        return lat

    def latents(self, key: str, rows=None) -> np.ndarray:
        """(N, D) float32 latent means under ``key`` in store order (or of ``rows``)."""
        lat = self.latent_info(key)
        missing = [s for s in self.shard_names() if s not in set(lat.get("shards", []))]
        if missing:
            raise StoreError(f"latents {key!r} of {self.path} are unfinished: {len(missing)} shards lack them "
                             f"(first {missing[0]}); rerun the encode command to finish them")
        shards = self.manifest["shards"]
        dim = int(lat["dim"])

        def read(k):
            t = self._read(latent_path(self.path, key, shards[k]["name"]), ["mu"], shards[k]["segments"])
            return [_list_to_float(t.column("mu"), dim)]

        got = self._gather(rows, read)
        return got[0] if got else np.zeros((0, dim), np.float32)


def _list_to_float(col, dim: int) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)


def _to_numpy(col, name: str) -> np.ndarray:
    if PROVENANCE.get(name) == pa.string():
        return np.asarray(col.to_pylist(), dtype=str) if len(col) else np.zeros(0, str)
    return col.to_numpy().astype(_NUMPY.get(name, np.float32), copy=False)


def _empty_dtype(name: str):
    return str if PROVENANCE.get(name) == pa.string() else _NUMPY.get(name, np.float32)
