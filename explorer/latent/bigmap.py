"""Maps of a million points: a projection fitted on a sample and applied to all rows, cached
beside the store; a 2-D index (which real point is under the pointer, which lie in a box) and a
latent-space nearest-neighbour index. Pure numpy / scikit-learn / umap; no Streamlit.

::

    X = store.latents(key)                                     # (N, D) float32
    coords = sample_projection(X, "PCA", sample=30_000)        # (N, 2) float32, fitted on 30k rows
    coords = cached_projection(store, key, "PCA", {})          # the same, read from STORE/maps/ when there
    points = PointIndex(coords); points.nearest(x, y); points.in_box(x0, x1, y0, y1)
    LatentIndex(X).query(X[7], k=5, exclude=7)                 # (rows, distances), nearest first

The projection is fitted on ``sample`` rows drawn with ``seed`` (every row when there are
fewer), then every row is placed with the fitted map in chunks of ``chunk`` rows: PCA's linear
map, or UMAP's ``transform``. For PCA this equals a fit on all rows up to sign when the sample
spans the same subspace (a test checks it).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.latent.projection import LinearMap, method_params

#: Rows a projection is fitted on (then applied to all).
SAMPLE_FIT = 30_000
#: Rows placed per chunk (progress is reported after each).
CHUNK = 100_000
#: Methods a big map offers: t-SNE has no transform of new points that scales to a million.
BIG_METHODS = ("PCA", "UMAP")
MAPS_DIR = "maps"  # inside the store folder
Progress = Callable[[int, int], None]  # (rows done, rows in all)


def sample_rows(n: int, sample: int = SAMPLE_FIT, seed: int = 0) -> np.ndarray:
    """(M,) sorted int64: every row when ``n <= sample``, else ``sample`` rows drawn without
    replacement by ``seed``."""
    if sample < 2:
        raise ValueError(f"sample must be ≥ 2 rows, got {sample}")
    if n <= sample:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, sample, replace=False)).astype(np.int64)


def _fit(X: np.ndarray, method: str, params: dict):
    """A mapper with ``transform(X) -> (M, 2)`` fitted on ``X`` (M, D)."""
    if method == "PCA":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=params["seed"]).fit(X)
        return LinearMap(pca.mean_, pca.components_)
    if method == "UMAP":
        import umap

        return umap.UMAP(n_neighbors=int(min(params["n_neighbors"], len(X) - 1)), min_dist=params["min_dist"],
                         random_state=params["seed"]).fit(X)
    raise ValueError(f"a big map is made with one of {BIG_METHODS}, got {method!r}")


def sample_projection(X: np.ndarray, method: str = "PCA", params: dict | None = None, *, sample: int = SAMPLE_FIT,
                      chunk: int = CHUNK, progress: Progress | None = None) -> np.ndarray:
    """2-D coordinates of all rows of ``X`` (N, D) from a ``method`` map fitted on a sample.

    Parameters
    ----------
    X : (N, D) latent means (an array or a memory map), N ≥ 2
    method : ``"PCA"`` or ``"UMAP"``; ``params`` override its defaults (``seed`` also seeds the sample)
    sample : rows the map is fitted on; chunk : rows placed at a time
    progress : called with (rows placed, N) after each chunk

    Returns
    -------
    coords : (N, 2) float32
    """
    if np.ndim(X) != 2 or len(X) < 2:
        raise ValueError(f"need points (N, D) with N ≥ 2, got shape {np.shape(X)}")
    if method not in BIG_METHODS:
        raise ValueError(f"a big map is made with one of {BIG_METHODS}, got {method!r}")
    params = method_params(method, params)
    fit_rows = sample_rows(len(X), sample, params["seed"])
    mapper = _fit(np.asarray(X[fit_rows], np.float32), method, params)
    out = np.empty((len(X), 2), np.float32)
    for i in range(0, len(X), chunk):
        out[i:i + chunk] = mapper.transform(np.asarray(X[i:i + chunk], np.float32))
        if progress is not None:
            progress(min(i + chunk, len(X)), len(X))
    return out


def projection_id(latent_id: str, method: str, params: dict, n: int, sample: int) -> str:
    """The file stem of a cached map: what identifies the latents (key and fingerprint), the
    method, its parameters (not ``n_jobs``), the row count and the sample size."""
    kept = {k: v for k, v in sorted(method_params(method, params).items()) if k != "n_jobs"}
    text = json.dumps([latent_id, method, kept, int(n), int(sample)], sort_keys=True)
    return f"{method.lower()}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _maps_dir(store_path: Path, key: str) -> Path:
    """``STORE/maps/<key>``, or a folder of the cache when the store is read-only."""
    from explorer.latent.cache import cache_root

    folder = Path(store_path) / MAPS_DIR / key
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    digest = hashlib.sha256(str(Path(store_path).resolve()).encode()).hexdigest()[:16]
    folder = cache_root() / "bigmaps" / digest / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def latent_id(store, key: str) -> str:
    """What identifies a store's latents under ``key``: the key, the checkpoint's fingerprint and
    the shards, from the manifest (a re-encode with other weights gives another id)."""
    info = (store.manifest.get("latents") or {}).get(key) or {}
    return json.dumps([key, info.get("fingerprint", ""), info.get("shards", []), len(store)], sort_keys=True)


def projection_file(store, key: str, method: str = "PCA", params: dict | None = None, *,
                    columns: slice | None = None, sample: int = SAMPLE_FIT) -> Path:
    """Where :func:`cached_projection` keeps this map (the file may not exist yet)."""
    cols = columns or slice(None)
    ident = projection_id(latent_id(store, key) + f"|{cols.start}:{cols.stop}", method, params or {},
                          len(store), sample)
    return _maps_dir(store.path, key) / f"{ident}.npy"


def cached_projection(store, key: str, method: str = "PCA", params: dict | None = None, *,
                      columns: slice | None = None, sample: int = SAMPLE_FIT, chunk: int = CHUNK,
                      latents: np.ndarray | None = None, progress: Progress | None = None) -> tuple[np.ndarray, bool]:
    """(coords (N, 2) float32, read from disk?) of the store's latents ``key`` (columns
    ``columns`` of them, e.g. one latent group; all by default; ``latents`` (N, D): those latents
    when the caller has read them already): read from
    ``STORE/maps/<key>/<id>.npy`` when there, else computed with :func:`sample_projection` and
    written there (atomically; to the cache folder when the store is read-only)."""
    cols = columns or slice(None)
    path = projection_file(store, key, method, params, columns=columns, sample=sample)
    if path.is_file():
        coords = np.load(path, mmap_mode=None)
        if coords.shape == (len(store), 2):
            return coords, True
    X = store.latents(key) if latents is None else latents
    coords = sample_projection(X[:, cols], method, params, sample=sample, chunk=chunk,
                               progress=progress)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, coords)
    os.replace(tmp, path)
    return coords, False


class PointIndex:
    """The points of a 2-D map, ``coords`` (N, 2), for "which real point is nearest here" (a
    KD-tree) and "which points lie in this box" (a mask over the coordinates)."""

    def __init__(self, coords: np.ndarray):
        from sklearn.neighbors import KDTree

        self.coords = np.asarray(coords, np.float32)
        if self.coords.ndim != 2 or self.coords.shape[1] != 2:
            raise ValueError(f"coords must be (N, 2), got {self.coords.shape}")
        self._tree = KDTree(self.coords, leaf_size=64)

    def __len__(self):
        return len(self.coords)

    def __repr__(self):
        return f"PointIndex(points={len(self)})"

    def nearest(self, x: float, y: float, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(rows (k,), distances (k,)) of the ``k`` points nearest to (x, y) on the map, nearest first."""
        dist, idx = self._tree.query(np.array([[x, y]], np.float32), k=min(k, len(self)))
        return idx[0].astype(np.int64), dist[0]

    def in_box(self, x0: float, x1: float, y0: float, y1: float, keep: np.ndarray | None = None) -> np.ndarray:
        """(M,) int64 rows inside the box (bounds inclusive, in either order), among ``keep`` (N,) if given."""
        (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
        x, y = self.coords[:, 0], self.coords[:, 1]
        mask = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if keep is not None:
            mask &= keep
        return np.flatnonzero(mask).astype(np.int64)


class LatentIndex:
    """Exact nearest neighbours in latent space: ``X`` (N, D) with its squared norms kept, so a
    query is one matrix-vector product over the rows (for N = 1M and D = 64: one pass over
    256 MB, tens of milliseconds; an approximate index such as pynndescent takes minutes to
    build at that size on two cores and answers the same question only approximately)."""

    def __init__(self, X: np.ndarray):
        self.X = np.asarray(X, np.float32)
        if self.X.ndim != 2:
            raise ValueError(f"latents must be (N, D), got {self.X.shape}")
        self._sq = np.einsum("ij,ij->i", self.X, self.X)

    def __len__(self):
        return len(self.X)

    def __repr__(self):
        return f"LatentIndex(points={len(self)}, dims={self.X.shape[1]})"

    def query(self, q: np.ndarray, k: int = 5, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows (k',), Euclidean distances (k',)) of the ``k`` rows nearest to ``q`` (D,),
        nearest first, leaving out row ``exclude``; k' = min(k, N minus the excluded row)."""
        q = np.asarray(q, np.float32).reshape(-1)
        if q.shape[0] != self.X.shape[1]:
            raise ValueError(f"query has {q.shape[0]} dims, the points have {self.X.shape[1]}")
        d2 = self._sq - 2.0 * (self.X @ q) + float(q @ q)
        if exclude is not None:
            d2[exclude] = np.inf
        n = min(k, len(d2) - (exclude is not None))
        if n <= 0:
            return np.zeros(0, np.int64), np.zeros(0)
        part = np.argpartition(d2, n - 1)[:n]
        part = part[np.argsort(d2[part], kind="stable")]
        return part.astype(np.int64), np.sqrt(np.maximum(d2[part], 0.0)).astype(np.float64)


class TextColumn:
    """A string column of N rows as codes into its distinct values, so a substring search over a
    million rows looks at each distinct value once."""

    def __init__(self, values):
        import pandas as pd

        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
        self.codes = codes.astype(np.int32)
        self.values = np.array([str(u) if u is not None else "" for u in uniques], dtype=object)

    def __len__(self):
        return len(self.codes)

    def __getitem__(self, rows) -> np.ndarray:
        return self.values[self.codes[rows]]

    def contains(self, needle: str) -> np.ndarray:
        """(N,) bool: rows whose value contains ``needle`` (case-insensitive; "" matches all)."""
        needle = needle.strip().lower()
        if not needle:
            return np.ones(len(self), bool)
        hit = np.array([needle in v.lower() for v in self.values], bool)
        return hit[self.codes]

    def isin(self, chosen) -> np.ndarray:
        """(N,) bool: rows whose value is one of ``chosen``."""
        return np.isin(self.values, list(chosen))[self.codes]


def filter_mask(n: int, *, titles: TextColumn | None = None, title: str = "", sources: TextColumn | None = None,
                chosen_sources=None, ranges: dict | None = None, attrs: dict | None = None) -> np.ndarray:
    """(N,) bool: the rows kept by a title search (substring of ``titles``), a set of sources
    (``chosen_sources`` among ``sources``; None: any) and attribute ranges ``{name: (low, high)}``
    over ``attrs`` (name → (N,) values; inclusive; NaN is outside every range).

    Raises KeyError naming the attributes there are when a range names another."""
    keep = np.ones(n, bool)
    if title.strip() and titles is not None:
        keep &= titles.contains(title)
    if chosen_sources is not None and sources is not None:
        keep &= sources.isin(chosen_sources)
    for name, (lo, hi) in (ranges or {}).items():
        if attrs is None or name not in attrs:
            raise KeyError(f"no attribute {name!r}; there are {sorted(attrs or {})}")
        v = attrs[name]
        keep &= (v >= lo - 1e-9) & (v <= hi + 1e-9)
    return keep


def model_latent_keys(store, checkpoint: str, dims: int) -> list[str]:
    """The latent keys of ``store`` (complete ones only) made with the checkpoint named
    ``checkpoint`` (the key itself, or the ``checkpoint`` recorded beside it, by name or file stem)
    and holding ``dims`` dimensions."""
    out = []
    for key in store.latent_keys():
        info = store.latent_info(key)
        ck = str(info.get("checkpoint", ""))
        if checkpoint in (key, ck, Path(ck).stem) and int(info.get("dim", -1)) == dims:
            out.append(key)
    return out


def encode_hint(store, checkpoint: str) -> str:
    """The command that writes a store's latents under ``checkpoint``."""
    return f"explorer encode {checkpoint} --data {store.path}"
