"""Segment datasets: arrays, provenance, a split by tune, and a stable file format.

A dataset file is a zip of ``.npy`` arrays plus ``meta.json`` (readable by
``numpy.load`` too), written with fixed timestamps and sorted entries so the
same input gives a byte-identical file.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.music.melody import HOLD, N_PITCHES, REST, STEPS_PER_BAR, Melody, roll_chroma, transpose_tokens

FORMAT = "latent-explorer/segments"
FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


class DatasetError(ValueError):
    """A dataset file that is not ours or is damaged."""


def split_of(source: str, tune_id: str) -> str:
    """The split of a tune: a hash of its source and id, so it never depends on which other
    tunes were built with it. ``SegmentDataset.dedupe_splits`` then puts tunes with the same
    opening (a duplicate under another title, in another collection or key) in one split."""
    h = int.from_bytes(hashlib.sha1(f"{source}|{tune_id}".encode()).digest()[:8], "big") / 2**64
    return "train" if h < SPLIT_FRACTIONS[0] else "valid" if h < SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1] else "test"


def melody_key(tokens: np.ndarray) -> str:
    """A tune's content key: SHA-1 of its opening (T,) tokens from the first onset, pitches
    relative to that onset's pitch (so a transposed copy has the same key), holds and rests
    kept. Two settings of one tune under two titles or in two collections share it."""
    tok = np.asarray(tokens)
    on = np.flatnonzero(tok < N_PITCHES)
    if not len(on):
        return ""
    tok = tok[on[0]:].astype(np.int16)
    rel = np.where(tok < N_PITCHES, tok - tok[0], 1000 + tok)
    return hashlib.sha1(rel.tobytes()).hexdigest()[:16]


@dataclass
class SegmentDataset:
    """N segments of T steps with their tunes.

    Segment arrays: ``tokens`` (N, T) uint8, ``chroma`` (N, T, 12) uint8,
    ``tune`` (N,) index into the tune table, ``bar`` (N,) the source bar where
    the segment starts (0-based), ``transpose`` (N,) semitones of augmentation.
    Tune table: ``tune_source``, ``tune_id``, ``tune_title`` (str), ``tune_qpm``
    (float), ``tune_split`` (str).
    """

    tokens: np.ndarray
    chroma: np.ndarray
    tune: np.ndarray
    bar: np.ndarray
    transpose: np.ndarray
    tune_source: np.ndarray
    tune_id: np.ndarray
    tune_title: np.ndarray
    tune_qpm: np.ndarray
    tune_split: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.tokens)
        for name in ("chroma", "tune", "bar", "transpose"):
            if len(getattr(self, name)) != n:
                raise DatasetError(f"{name} has {len(getattr(self, name))} rows, tokens has {n}")
        if self.tokens.ndim != 2 or self.chroma.shape != self.tokens.shape + (12,):
            raise DatasetError(f"tokens (N, T) and chroma (N, T, 12) expected, got {self.tokens.shape}, {self.chroma.shape}")
        self._attrs = None

    def __len__(self):
        return len(self.tokens)

    def __repr__(self):
        counts = {s: int((self.split == s).sum()) for s in SPLITS}
        return f"SegmentDataset(segments={len(self)}, steps={self.n_steps}, tunes={len(self.tune_id)}, splits={counts})"

    @property
    def n_steps(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def bars(self) -> int:
        return self.n_steps // STEPS_PER_BAR

    @property
    def split(self) -> np.ndarray:
        return self.tune_split[self.tune]

    @property
    def source(self) -> np.ndarray:
        return self.tune_source[self.tune]

    def counts(self) -> dict:
        return {s: int((self.split == s).sum()) for s in SPLITS}

    def attributes(self) -> dict:
        """All attributes of every segment (cached): ``{name: (N,) float}``."""
        if self._attrs is None:
            from explorer.music import attributes

            self._attrs = attributes.compute(self.tokens)
        return self._attrs

    def melody(self, i: int) -> Melody:
        t = int(self.tune[i])
        meta = {
            "source": str(self.tune_source[t]),
            "tune_id": str(self.tune_id[t]),
            "title": str(self.tune_title[t]),
            "bar": int(self.bar[i]),
            "transpose": int(self.transpose[i]),
            "split": str(self.tune_split[t]),
            "index": int(i),
        }
        return Melody(self.tokens[i], self.chroma[i], float(self.tune_qpm[t]), meta)

    def describe(self, i: int) -> str:
        m = self.melody(i).meta
        tr = f", transposed {m['transpose']:+d}" if m["transpose"] else ""
        return f"{m['title'] or m['tune_id']} ({m['source']}), bar {m['bar'] + 1}{tr}"

    def subset(self, rows) -> "SegmentDataset":
        """The rows ``rows`` (a boolean mask or indices), tune table kept whole."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return SegmentDataset(
            self.tokens[rows], self.chroma[rows], self.tune[rows], self.bar[rows], self.transpose[rows],
            self.tune_source, self.tune_id, self.tune_title, self.tune_qpm, self.tune_split, dict(self.meta),
        )

    def take_split(self, name: str) -> "SegmentDataset":
        if name == "all":
            return self
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {name!r}")
        return self.subset(self.split == name)

    def tune_keys(self, bars: int = 4) -> np.ndarray:
        """Content key (``melody_key``) of each tune's opening ``bars`` bars, from its first
        untransposed segments in bar order; "" for a tune without segments here."""
        keys = np.full(len(self.tune_id), "", dtype=object)
        rows = np.flatnonzero(self.transpose == 0)
        rows = rows[np.lexsort((self.bar[rows], self.tune[rows]))]
        need = bars * STEPS_PER_BAR
        for t in np.unique(self.tune[rows]):
            mine = rows[self.tune[rows] == t]
            keys[t] = melody_key(np.concatenate(list(self.tokens[mine]))[:need])
        return keys.astype(str)

    def dedupe_splits(self) -> "SegmentDataset":
        """The same dataset with tunes that share a content key (``tune_keys``) in one split:
        the earliest of train, valid, test among them. A duplicate never moves out of train,
        so a model trained on the split without this step still never sees a test tune; the
        number of tunes moved is in ``meta["duplicates"]``."""
        keys = self.tune_keys()
        order = {name: i for i, name in enumerate(SPLITS)}
        rank = np.array([order[str(x)] for x in self.tune_split])
        best: dict = {}
        for k, r in zip(keys, rank):
            if k:
                best[k] = min(best.get(k, r), r)
        new = np.array([SPLITS[best[k]] if k else str(x) for k, x in zip(keys, self.tune_split)], dtype=str)
        moved = int((new != self.tune_split.astype(str)).sum())
        n_keys = sum(1 for k in keys if k)
        dup_tunes = n_keys - len(best)
        out = SegmentDataset(self.tokens, self.chroma, self.tune, self.bar, self.transpose, self.tune_source,
                             self.tune_id, self.tune_title, self.tune_qpm, new,
                             dict(self.meta, duplicates={"tunes_sharing_an_opening": dup_tunes,
                                                         "moved_to_an_earlier_split": moved}))
        return out

    # ---- files -------------------------------------------------------------
    def _arrays(self) -> dict:
        return {
            "tokens": self.tokens.astype(np.uint8),
            "chroma": np.packbits(self.chroma.astype(bool), axis=-1),
            "tune": self.tune.astype(np.int32),
            "bar": self.bar.astype(np.int32),
            "transpose": self.transpose.astype(np.int8),
            "tune_source": self.tune_source.astype(str),
            "tune_id": self.tune_id.astype(str),
            "tune_title": self.tune_title.astype(str),
            "tune_qpm": self.tune_qpm.astype(np.float32),
            "tune_split": self.tune_split.astype(str),
        }

    def save(self, path) -> Path:
        """Write the dataset; the bytes depend only on its content."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, format=FORMAT, version=FORMAT_VERSION, steps=self.n_steps, segments=self.counts())
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            entries = {f"{k}.npy": v for k, v in self._arrays().items()}
            for name in sorted(entries):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(entries[name]), allow_pickle=False)
                _write_entry(zf, name, buf.getvalue())
            _write_entry(zf, "meta.json", json.dumps(meta, sort_keys=True, indent=1).encode())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "SegmentDataset":
        """Read a dataset file; DatasetError when it is not one of ours."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no dataset file at {path}")
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "meta.json" not in names:
                    raise DatasetError(f"{path} is not a Latent Explorer dataset (no meta.json)")
                meta = json.loads(zf.read("meta.json"))
                if meta.get("format") != FORMAT:
                    raise DatasetError(f"{path} is not a Latent Explorer dataset (format {meta.get('format')!r})")
                if meta.get("version", 0) > FORMAT_VERSION:
                    raise DatasetError(f"{path} has dataset format version {meta['version']}; this version reads ≤ {FORMAT_VERSION}")
                arr = {}
                for name in names - {"meta.json"}:
                    with zf.open(name) as fh:
                        arr[name[:-4]] = np.lib.format.read_array(io.BytesIO(fh.read()), allow_pickle=False)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{path} is not a Latent Explorer dataset ({exc})") from None
        steps = int(meta["steps"])
        try:
            chroma = np.unpackbits(arr["chroma"], axis=-1, count=12).astype(np.uint8)
            return cls(
                arr["tokens"], chroma.reshape(-1, steps, 12), arr["tune"], arr["bar"], arr["transpose"],
                arr["tune_source"], arr["tune_id"], arr["tune_title"], arr["tune_qpm"], arr["tune_split"], meta,
            )
        except KeyError as exc:
            raise DatasetError(f"{path} is damaged: array {exc} is missing") from None


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def segment_tunes(tunes, *, bars: int = 2, hop: int | None = None, skipped=None) -> SegmentDataset:
    """Cut tunes into windows of ``bars`` bars every ``hop`` bars (default
    ``bars``: no overlap), never across a gap between runs.

    A window that starts inside a note re-articulates it on step 0; a window
    with no note is skipped (counted in ``skipped``).
    """
    if bars < 1:
        raise ValueError(f"bars must be ≥ 1, got {bars}")
    hop = bars if hop is None else hop
    if hop < 1:
        raise ValueError(f"hop must be ≥ 1, got {hop}")
    skipped = {} if skipped is None else skipped
    n_steps = bars * STEPS_PER_BAR
    toks, chs, tix, bar_no = [], [], [], []
    for k, tune in enumerate(tunes):
        runs = tune.runs
        starts = []
        for r in np.unique(runs):
            idx = np.flatnonzero(runs == r)
            a, b = int(idx[0]), int(idx[-1]) + 1
            starts.extend(range(a, b - bars + 1, hop))
        for s in starts:
            seg = tune.tokens[s * STEPS_PER_BAR:s * STEPS_PER_BAR + n_steps].copy()
            if seg[0] == HOLD:
                seg[0] = _sounding_pitch(tune.tokens, s * STEPS_PER_BAR)
            if not (seg < N_PITCHES).any():
                skipped["segment without notes"] = skipped.get("segment without notes", 0) + 1
                continue
            toks.append(seg)
            chs.append(tune.chroma[s * STEPS_PER_BAR:s * STEPS_PER_BAR + n_steps])
            tix.append(k)
            bar_no.append(int(tune.bar_numbers[s]))
    tunes = list(tunes)
    return SegmentDataset(
        np.asarray(toks, dtype=np.uint8).reshape(-1, n_steps),
        np.asarray(chs, dtype=np.uint8).reshape(-1, n_steps, 12),
        np.asarray(tix, dtype=np.int32),
        np.asarray(bar_no, dtype=np.int32),
        np.zeros(len(toks), dtype=np.int8),
        np.asarray([t.source for t in tunes], dtype=str),
        np.asarray([t.tune_id for t in tunes], dtype=str),
        np.asarray([t.title for t in tunes], dtype=str),
        np.asarray([t.qpm for t in tunes], dtype=np.float32),
        np.asarray([split_of(t.source, t.tune_id) for t in tunes], dtype=str),
        {"bars": bars, "hop": hop},
    ).dedupe_splits()


def _sounding_pitch(tokens, t: int) -> int:
    for j in range(t - 1, -1, -1):
        if tokens[j] < N_PITCHES:
            return int(tokens[j])
        if tokens[j] == REST:
            break
    return REST


def concat(datasets) -> SegmentDataset:
    """One dataset of several with the same number of steps."""
    datasets = list(datasets)
    if not datasets:
        raise ValueError("concat needs at least one dataset")
    steps = {d.n_steps for d in datasets}
    if len(steps) != 1:
        raise DatasetError(f"datasets have different segment lengths {sorted(steps)}")
    offs = np.cumsum([0] + [len(d.tune_id) for d in datasets[:-1]])
    cat = np.concatenate
    return SegmentDataset(
        cat([d.tokens for d in datasets]),
        cat([d.chroma for d in datasets]),
        cat([d.tune + o for d, o in zip(datasets, offs)]).astype(np.int32),
        cat([d.bar for d in datasets]),
        cat([d.transpose for d in datasets]),
        cat([d.tune_source for d in datasets]),
        cat([d.tune_id for d in datasets]),
        cat([d.tune_title for d in datasets]),
        cat([d.tune_qpm for d in datasets]),
        cat([d.tune_split for d in datasets]),
        {"bars": datasets[0].meta.get("bars"), "parts": [d.meta for d in datasets]},
    ).dedupe_splits()  # the same tune in two collections goes to one split


def augment_transpositions(ds: SegmentDataset, shifts=range(-5, 7), *, split: str = "train",
                           low: int = 0, high: int = 127) -> SegmentDataset:
    """Add transposed copies of the ``split`` rows (a training option).

    Copies whose pitches would leave ``low..high`` are left out. Other splits
    are kept untransposed, so evaluation stays on real keys.
    """
    parts = [ds]
    base = ds.take_split(split) if split != "all" else ds
    pitched = base.tokens < N_PITCHES
    lo = np.where(pitched, base.tokens, 255).min(1)
    hi = np.where(pitched, base.tokens, 0).max(1)
    for s in shifts:
        if s == 0:
            continue
        ok = (lo.astype(int) + s >= low) & (hi.astype(int) + s <= high)
        sub = base.subset(ok)
        sub.tokens = transpose_tokens(sub.tokens, s)
        sub.chroma = roll_chroma(sub.chroma, s).astype(np.uint8)
        sub.transpose = (sub.transpose.astype(int) + s).astype(np.int8)
        parts.append(sub)
    out = SegmentDataset(
        np.concatenate([p.tokens for p in parts]), np.concatenate([p.chroma for p in parts]),
        np.concatenate([p.tune for p in parts]), np.concatenate([p.bar for p in parts]),
        np.concatenate([p.transpose for p in parts]), ds.tune_source, ds.tune_id, ds.tune_title,
        ds.tune_qpm, ds.tune_split, dict(ds.meta, augmented=list(shifts)),
    )
    return out
