"""2-D maps of a dataset's latent means: encode, subset, project, place, neighbours.

What the Latent map page computes, usable from a notebook::

    rows = subset_rows(len(ds), 2000)
    mu = dataset_latents(model, ds, rows)                 # (2000, D), cached on disk
    X = mu[:, group_columns(model.layout, "pitch")]
    proj = project(X, "t-SNE", {"perplexity": 30}, key=(latent_key(model, ds, rows), "pitch"))
    proj.coords                                           # (2000, 2)
    proj.transform(X_new, X)                              # (M, 2): new points placed on the map
    nearest_neighbours(X, X[0], k=5, exclude=0)

Projection methods live in a name → :class:`Method` registry (:data:`METHODS`).
Latents are cached under ``cache_root()/latents``, projections under
``cache_root()/projections`` (see :mod:`explorer.latent.cache`).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.latent.cache import load_arrays, save_arrays
from explorer.paths import content_key

DEFAULT_MAX_POINTS = 10_000
WHOLE_Z = "whole z"
Progress = Callable[[int, int], None]  # (done, total)
#: t-SNE iterations: early exaggeration, then the main phase (openTSNE's defaults are 250 and 500).
TSNE_EARLY_ITER, TSNE_ITER = 125, 250
#: Embedding units per FFT interpolation interval (openTSNE's default 1).
FFT_INTS_PER_INTERVAL = 5


# ---- which rows, which columns ----------------------------------------------------
def subset_rows(n: int, max_points: int = DEFAULT_MAX_POINTS, seed: int = 0) -> np.ndarray:
    """A deterministic subset of ``range(n)``: all rows when ``n <= max_points``,
    else ``max_points`` rows drawn without replacement by ``seed``.

    Returns
    -------
    rows : (M,) int64, sorted ascending, M = min(n, max_points).
    """
    if max_points < 1:
        raise ValueError(f"max_points must be ≥ 1, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False)).astype(np.int64)


def group_columns(layout, group: str = WHOLE_Z) -> slice:
    """The latent columns of ``group`` (``"whole z"`` or a name in ``layout.groups``).

    Raises KeyError naming the groups the model has.
    """
    return slice(0, layout.dims) if group == WHOLE_Z else layout.group_slice(group)


# ---- identities and keys ------------------------------------------------------------
def model_fingerprint(model) -> str:
    """What identifies a TrainedModel's weights: its file (resolved path, mtime, size)
    when it was loaded from one, else a hash of its parameters."""
    path = getattr(model, "path", None)
    if path is not None:
        p = Path(path).resolve()
        st = p.stat()
        return f"file:{p}:{st.st_mtime_ns}:{st.st_size}"
    parts = [f"{k}{tuple(v.shape)}".encode() + v.detach().cpu().numpy().tobytes()
             for k, v in model.model.state_dict().items()]
    return "weights:" + content_key(*parts)


def dataset_fingerprint(ds) -> str:
    """sha256 of a SegmentDataset's tokens and chroma (what an encoder reads)."""
    tok = np.ascontiguousarray(ds.tokens)
    ch = np.ascontiguousarray(ds.chroma)
    return content_key(tok.shape, tok.dtype.str, tok.tobytes(), ch.shape, ch.dtype.str, ch.tobytes())


def latent_key(model, ds, rows: np.ndarray) -> str:
    """Cache key of the latent means of ``ds[rows]`` under ``model``."""
    rows = np.asarray(rows, dtype=np.int64)
    return content_key("latents/v1", model_fingerprint(model), dataset_fingerprint(ds), rows.tobytes())


# ---- encoding ------------------------------------------------------------------------
def encode_means(model, tokens: np.ndarray, chroma: np.ndarray, *, batch_size: int = 512,
                 progress: Progress | None = None) -> np.ndarray:
    """Posterior means of segments, encoded in batches.

    Parameters
    ----------
    model : TrainedModel
    tokens : (N, T) int tokens, T = ``model.n_steps``
    chroma : (N, T, 12) chord chroma
    progress : called with (segments done, N) after each batch

    Returns
    -------
    mu : (N, D) float32
    """
    n = len(tokens)
    out = []
    for i in range(0, n, batch_size):
        _, mu, _ = model.encode(tokens[i:i + batch_size], chroma[i:i + batch_size])
        out.append(mu.astype(np.float32))
        if progress is not None:
            progress(min(i + batch_size, n), n)
    return np.concatenate(out) if out else np.zeros((0, model.layout.dims), np.float32)


def dataset_latents(model, ds, rows: np.ndarray, *, cache: bool = True, batch_size: int = 512,
                    progress: Progress | None = None) -> np.ndarray:
    """Latent means of the segments ``rows`` of ``ds``: (M, D) float32, from the disk
    cache (``latents/<latent_key>.npz``) when there, else encoded and stored."""
    rows = np.asarray(rows, dtype=np.int64)
    key = latent_key(model, ds, rows) if cache else None
    if key is not None:
        hit = load_arrays("latents", key)
        if hit is not None and hit.get("mu", np.empty(0)).shape == (len(rows), model.layout.dims):
            return hit["mu"]
    mu = encode_means(model, ds.tokens[rows], ds.chroma[rows], batch_size=batch_size, progress=progress)
    if key is not None:
        save_arrays("latents", key, mu=mu, rows=rows)
    return mu


# ---- projection methods ------------------------------------------------------------------
class LinearMap:
    """x ↦ (x - mean) @ components.T: a fitted PCA without scikit-learn state.

    ``mean`` (D,), ``components`` (2, D).
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean = np.asarray(mean, np.float64)
        self.components = np.asarray(components, np.float64)

    def __repr__(self):
        return f"LinearMap(dims={self.mean.shape[0]} → {self.components.shape[0]})"

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64) - self.mean) @ self.components.T


@dataclass
class Method:
    """A projection method: ``fit(X (N, D), params, progress) -> (coords (N, 2), state,
    mapper)`` where ``state`` (name → array) is what the disk cache keeps and
    ``mapper.transform(X_new)`` places new points; ``restore(X, coords, state, params)``
    rebuilds a mapper after a disk hit. ``defaults`` are the parameters it reads."""

    fit: Callable
    restore: Callable
    defaults: dict
    restore_note: str = ""


def _fit_pca(X, params, progress=None):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=params["seed"]).fit(X)
    mapper = LinearMap(pca.mean_, pca.components_)
    state = {"mean": pca.mean_, "components": pca.components_, "explained": pca.explained_variance_ratio_}
    return mapper.transform(X), state, mapper


def _restore_pca(X, coords, state, params):
    return LinearMap(state["mean"], state["components"])


@contextmanager
def _quiet(logger: str):
    log = logging.getLogger(logger)
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def tsne_threads(n: int) -> int:
    """Threads for a t-SNE of ``n`` points: one below 3000 points (threads only pay off on big
    maps, and the CPU may be shared), else up to 4."""
    return 1 if n < 3000 else min(4, os.cpu_count() or 1)


def _tsne(params, n: int, callbacks=None):
    from openTSNE import TSNE

    # perplexity must stay below N/3 for the neighbour search openTSNE runs
    perplexity = float(min(params["perplexity"], max((n - 1) / 3.0, 1.0)))
    # Speed (see docs/benchmarks.md, `explorer bench tsne`): the FFT gradient at every size, and
    # FFT_INTS_PER_INTERVAL embedding units per interpolation interval instead of 1 -- the
    # grid otherwise grows with the map's spread, and the main phase of a 10k map spent 80 % of
    # its time there; fewer iterations on top. PCA initialisation is openTSNE's default.
    return TSNE(perplexity=perplexity, n_iter=params["n_iter"], early_exaggeration_iter=params["early_iter"],
                negative_gradient_method="fft", ints_in_interval=FFT_INTS_PER_INTERVAL, initialization="pca",
                random_state=params["seed"], n_jobs=params.get("n_jobs", 1), callbacks=callbacks,
                callbacks_every_iters=25)


class _TSNEMapper:
    """Places new points on a fitted openTSNE embedding (reference points held fixed)."""

    def __init__(self, embedding):
        self.embedding = embedding

    def __repr__(self):
        return f"_TSNEMapper(points={len(self.embedding)})"

    def transform(self, X):
        k = int(min(25, len(self.embedding) - 1))
        with _quiet("openTSNE"):
            # 100 iterations place points as well as openTSNE's 250 on our maps, in 40 % of the time
            return np.asarray(self.embedding.transform(np.asarray(X, np.float64), k=k, perplexity=min(5, k / 3),
                                                       n_iter=100))


def _fit_tsne(X, params, progress=None):
    total = params["early_iter"] + params["n_iter"]  # early exaggeration, then the main phase
    done = [0]

    def tick(iteration, error, embedding):
        done[0] += 25
        if progress is not None:
            progress(min(done[0], total), total)
        # a callback that returns True stops the optimisation: return None

    emb = _tsne(params, len(X), callbacks=[tick]).fit(np.asarray(X, np.float64))
    # transform() re-centres the reference in place; centring now keeps coords
    # and the embedding the same numbers from here on
    emb -= (emb.max(axis=0) + emb.min(axis=0)) / 2
    return np.array(emb), {}, _TSNEMapper(emb)


def _restore_tsne(X, coords, state, params):
    with _quiet("openTSNE"):  # it warns that a given initialisation has a large spread
        emb = _tsne(params, len(X)).prepare_initial(np.asarray(X, np.float64), initialization=np.array(coords))
    return _TSNEMapper(emb)


def _fit_umap(X, params, progress=None):
    import umap

    reducer = umap.UMAP(n_neighbors=int(min(params["n_neighbors"], len(X) - 1)), min_dist=params["min_dist"],
                        random_state=params["seed"])
    coords = reducer.fit_transform(X)
    return np.asarray(coords), {}, reducer


def _restore_umap(X, coords, state, params):
    return _fit_umap(X, params)[2]  # UMAP keeps no small state; placing after a disk hit refits


METHODS: dict[str, Method] = {
    "PCA": Method(_fit_pca, _restore_pca, {"seed": 0}),
    "t-SNE": Method(_fit_tsne, _restore_tsne, {"perplexity": 30.0, "n_iter": TSNE_ITER, "early_iter": TSNE_EARLY_ITER,
                                                "seed": 0},
                    "placing new points rebuilds the neighbour index of the map's points (no new fit)"),
}
if importlib.util.find_spec("umap") is not None:
    METHODS["UMAP"] = Method(_fit_umap, _restore_umap, {"n_neighbors": 15, "min_dist": 0.1, "seed": 0},
                             "placing new points refits UMAP once")
#: Parameters that change speed but not the map, left out of cache keys.
NOT_IN_KEY = ("n_jobs",)


def umap_available() -> bool:
    return "UMAP" in METHODS


@dataclass
class Projection:
    """A 2-D map of N points: ``coords`` (N, 2) float64; ``from_disk`` when read
    from the cache; ``mapper`` places new points (rebuilt on demand after a disk hit)."""

    method: str
    params: dict
    coords: np.ndarray
    state: dict = field(default_factory=dict)
    mapper: object | None = None
    from_disk: bool = False

    def __repr__(self):
        return f"Projection({self.method}, points={len(self.coords)}, params={self.params}, from_disk={self.from_disk})"

    def transform(self, X_new: np.ndarray, X_fit: np.ndarray) -> np.ndarray:
        """Place new points (M, D) on the map; ``X_fit`` (N, D) are the points the map
        was made of (needed only to rebuild the mapper after a disk hit).

        Returns
        -------
        coords : (M, 2) float64
        """
        X_new = np.asarray(X_new, np.float64)
        if X_new.ndim != 2 or X_new.shape[1] != np.asarray(X_fit).shape[1]:
            raise ValueError(f"new points must be (M, {np.asarray(X_fit).shape[1]}), got {X_new.shape}")
        if self.mapper is None:
            self.mapper = METHODS[self.method].restore(X_fit, self.coords, self.state, self.params)
        return np.asarray(self.mapper.transform(X_new), np.float64)


def method_params(method: str, params: dict | None = None) -> dict:
    """``params`` over the method's defaults; ValueError for an unknown method or parameter."""
    if method not in METHODS:
        extra = "" if umap_available() or method != "UMAP" else " (UMAP needs the umap-learn package)"
        raise ValueError(f"unknown projection method {method!r}{extra}; available: {list(METHODS)}")
    defaults = METHODS[method].defaults
    unknown = set(params or {}) - set(defaults) - set(NOT_IN_KEY)
    if unknown:
        raise ValueError(f"{method} takes parameters {sorted(defaults)}, got {sorted(unknown)}")
    return {**defaults, **(params or {})}


def projection_key(method: str, params: dict, key) -> str:
    """Cache key of a projection of the data identified by ``key`` (e.g. a latent key and a group)."""
    kept = {k: v for k, v in sorted(params.items()) if k not in NOT_IN_KEY}
    return content_key("projection/v1", method, json.dumps(kept, sort_keys=True), key)


def project(X: np.ndarray, method: str = "PCA", params: dict | None = None, *, key=None,
            progress: Progress | None = None) -> Projection:
    """Project points to 2-D with a registered method.

    Parameters
    ----------
    X : (N, D) latent means (N ≥ 2)
    method : a name in :data:`METHODS` (``"PCA"``, ``"t-SNE"``, ``"UMAP"`` if installed)
    params : overrides of the method's defaults (``perplexity``, ``n_iter``, ``seed``, ``n_jobs``)
    key : what identifies ``X`` (e.g. ``(latent_key(...), group)``); with a key the
        result is read from / written to the disk cache, without one it is always computed
    progress : called with (steps done, steps in all) while fitting (t-SNE only)

    Returns
    -------
    Projection with ``coords`` (N, 2)
    """
    X = np.asarray(X, np.float32)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"need points (N, D) with N ≥ 2, got shape {X.shape}")
    params = method_params(method, params)
    ckey = projection_key(method, params, key) if key is not None else None
    if ckey is not None:
        hit = load_arrays("projections", ckey)
        if hit is not None and hit.get("coords", np.empty(0)).shape == (len(X), 2):
            state = {k[6:]: v for k, v in hit.items() if k.startswith("state_")}
            return Projection(method, params, hit["coords"].astype(np.float64), state, None, True)
    coords, state, mapper = METHODS[method].fit(X, params, progress)
    coords = np.asarray(coords, np.float64)
    if ckey is not None:
        save_arrays("projections", ckey, coords=coords, **{f"state_{k}": np.asarray(v) for k, v in state.items()})
    return Projection(method, params, coords, state, mapper, False)


# ---- neighbours ----------------------------------------------------------------------------
def nearest_neighbours(X: np.ndarray, query: np.ndarray, k: int = 5, exclude: int | None = None):
    """The ``k`` points of ``X`` (N, D) nearest to ``query`` (D,) in Euclidean distance,
    nearest first, leaving out the row ``exclude`` (the query's own row).

    Returns
    -------
    index : (k',) int positions in X, k' = min(k, N minus the excluded row)
    distance : (k',) float
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, np.float32)
    query = np.asarray(query, np.float32).reshape(1, -1)
    if query.shape[1] != X.shape[1]:
        raise ValueError(f"query has {query.shape[1]} dims, the points have {X.shape[1]}")
    n = min(len(X), k + (exclude is not None))
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    dist, idx = NearestNeighbors(n_neighbors=n, algorithm="brute").fit(X).kneighbors(query)
    dist, idx = dist[0], idx[0]
    keep = idx != exclude if exclude is not None else np.ones(len(idx), bool)
    return idx[keep][:k].astype(np.int64), dist[keep][:k]


def neighbour_preservation(X: np.ndarray, coords: np.ndarray, k: int = 10) -> float:
    """How well a map keeps neighbourhoods: the mean fraction of each point's ``k`` nearest
    neighbours in ``X`` (N, D) that are also among its ``k`` nearest on the map ``coords`` (N, 2).
    1 for a perfect map, about k / N for a random one."""
    from sklearn.neighbors import NearestNeighbors

    if not 0 < k < len(X):
        raise ValueError(f"k must be in 1..{len(X) - 1}, got {k}")

    def knn(A):  # each point's k nearest others (a duplicate may come before the point itself)
        idx = NearestNeighbors(n_neighbors=k + 1).fit(A).kneighbors(A, return_distance=False)
        others = idx != np.arange(len(A))[:, None]
        others[others.sum(1) > k, -1] = False
        return idx[others].reshape(len(A), k)

    a, b = knn(np.asarray(X, np.float32)), knn(np.asarray(coords, np.float64))
    return float(np.mean([len(np.intersect1d(x, y)) for x, y in zip(a, b)]) / k)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two (N,) arrays; NaN when either is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
