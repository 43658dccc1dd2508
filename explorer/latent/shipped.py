"""Maps shipped with the app: the PCA and t-SNE maps of the shipped models on the default data.

A t-SNE of 10k points takes seconds to minutes; the first open of the Latent map with a
shipped model and the default data should not. ``explorer project`` (or
:func:`build_shipped`) writes one small file per model, ``assets/projections/<model>.npz``,
holding float16 coordinates (and the few numbers a PCA needs to place new points) under
keys that hash what the map depends on: the checkpoint's *content*, the data's content,
the rows, the latent group, the method and its parameters. A hit is therefore only
possible when all of these match; anything else (another model file, other data, another
perplexity) misses and the page computes the map as before.

Usage::

    proj = load_shipped(model, ds, rows, "whole z", "t-SNE", {"perplexity": 30.0})
    proj.coords            # (M, 2) float64, or proj is None
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from explorer.latent import projection as P
from explorer.paths import assets_dir, content_key

#: Methods whose maps are shipped (UMAP is optional, so its maps are not).
SHIPPED_METHODS = ("PCA", "t-SNE")
_digests: dict = {}


def shipped_dir() -> Path:
    """``assets/projections``: where the shipped maps live."""
    return assets_dir() / "projections"


def file_digest(path) -> str:
    """sha256 of a file's bytes, remembered per (path, mtime, size): a checkpoint's identity
    that survives a copy or a fresh checkout (unlike :func:`~explorer.latent.projection.model_fingerprint`)."""
    p = Path(path).resolve()
    st = p.stat()
    memo = (str(p), st.st_mtime_ns, st.st_size)
    if memo not in _digests:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _digests[memo] = h.hexdigest()
    return _digests[memo]


def shipped_key(model, ds, rows: np.ndarray, group: str, method: str, params: dict) -> str | None:
    """What a shipped map is filed under; None for a model that was not loaded from a file."""
    path = getattr(model, "path", None)
    if path is None:
        return None
    rows = np.asarray(rows, np.int64)
    kept = {k: v for k, v in sorted(P.method_params(method, params).items()) if k not in P.NOT_IN_KEY}
    return content_key("shipped-map/v1", file_digest(path), P.dataset_fingerprint(ds), rows.tobytes(), group,
                       method, json.dumps(kept, sort_keys=True))


def shipped_file(model) -> Path | None:
    path = getattr(model, "path", None)
    return None if path is None else shipped_dir() / f"{Path(path).stem}.npz"


def load_shipped(model, ds, rows: np.ndarray, group: str, method: str, params: dict | None = None):
    """The shipped :class:`~explorer.latent.projection.Projection` of ``ds[rows]``'s ``group``
    latents under ``model`` by ``method`` with ``params``, or None when nothing shipped matches
    (or the file is unreadable). Its ``from_disk`` is True and its ``mapper`` None: placing new
    points rebuilds the mapper from the latents, as after a disk-cache hit."""
    file = shipped_file(model)
    if file is None or not file.is_file() or method not in SHIPPED_METHODS:
        return None
    params = P.method_params(method, params)
    key = shipped_key(model, ds, rows, group, method, params)
    try:
        with np.load(file, allow_pickle=False) as npz:
            if key not in npz.files:
                return None
            coords = npz[key].astype(np.float64)
            state = {k.split(":state_", 1)[1]: npz[k].astype(np.float64)
                     for k in npz.files if k.startswith(f"{key}:state_")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    if coords.shape != (len(rows), 2):
        return None
    return P.Projection(method, params, coords, state, None, True)


def build_shipped(model, ds, rows: np.ndarray, *, groups=None, methods=SHIPPED_METHODS, params=None,
                  out: Path | None = None, progress=None) -> Path:
    """Compute and write the maps of ``ds[rows]`` under ``model`` for every latent group
    (``"whole z"`` and the model's groups, or ``groups``) and method, with each method's
    default parameters over ``params[method]``; returns the file written.

    ``progress`` is called with a line of text after each map."""
    file = out or shipped_file(model)
    if file is None:
        raise ValueError("the model was not loaded from a checkpoint file, so its maps cannot be shipped")
    groups = list(groups or [P.WHOLE_Z, *model.layout.groups])
    mu = P.dataset_latents(model, ds, rows)
    arrays, index = {}, []
    for group in groups:
        X = mu[:, P.group_columns(model.layout, group)]
        for method in methods:
            mp = P.method_params(method, (params or {}).get(method))
            proj = P.project(X, method, mp)
            key = shipped_key(model, ds, rows, group, method, mp)
            arrays[key] = proj.coords.astype(np.float16)
            arrays.update({f"{key}:state_{k}": np.asarray(v, np.float32) for k, v in proj.state.items()})
            index.append({"group": group, "method": method, "params": mp, "points": len(rows)})
            if progress is not None:
                progress(f"{Path(file).stem}: {method} of {group} ({len(rows)} points)")
    arrays["index"] = np.array(json.dumps(index))
    file.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(file, **arrays)
    return Path(file)
