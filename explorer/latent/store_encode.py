"""Encode every segment of a store under a checkpoint, shard by shard, on the local or the Ray engine.

The latent means go into ``latents/<key>/part-NNNNN.parquet`` beside each segment shard (see
:mod:`explorer.data.store`); a rerun encodes only the shards that lack them. The driver reads each
shard's tokens and sends them with the checkpoint's bytes to the workers, and writes what comes
back: on a cluster neither the store nor the checkpoint needs to be on a shared path. Each worker
(a process or a Ray actor) loads the model once, with one torch thread when there are several.
"""
from __future__ import annotations

import functools
import hashlib
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from explorer.data import store as st
from explorer.data.engine import run_shards


def resolve_checkpoint(ckpt) -> Path:
    """The file of a shipped checkpoint's name or of a path; FileNotFoundError naming the choices."""
    from explorer.models.checkpoint import available_checkpoints

    shipped = available_checkpoints()
    if str(ckpt) in shipped:
        return shipped[str(ckpt)]
    p = Path(ckpt)
    if p.is_file():
        return p
    raise FileNotFoundError(f"no checkpoint {str(ckpt)!r}: not a file, nor one of {', '.join(shipped)}")


def latent_key_of(path: Path) -> str:
    """The store key of a checkpoint: its file stem, with characters other than letters, digits,
    '-', '_' and '.' replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip(".") or "model"


class ShardEncoder:
    """The worker of one process or actor: ``(name, tokens, packed chroma) -> (name, mu (n, D))``."""

    def __init__(self, weights: bytes, suffix: str, device: str, batch: int, threads: int | None):
        import torch

        from explorer.models.trained import TrainedModel

        if threads:
            torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as tmp:  # the bytes came from the driver: no shared path
            f = Path(tmp) / f"model{suffix}"
            f.write_bytes(weights)
            self.model = TrainedModel.load(f, device=device)
        self.batch = batch

    def __call__(self, task):
        from explorer.latent.projection import encode_means

        name, tokens, packed = task
        chroma = np.unpackbits(packed, axis=-1, count=12)
        return name, encode_means(self.model, tokens, chroma, batch_size=self.batch)


def encode_store(ckpt, store_path, *, engine: str = "local", workers: int = 1, address: str | None = None,
                 batch: int = 512, device: str = "auto", key: str | None = None, threads: int | None = None,
                 progress: bool = True) -> dict:
    """Write the posterior means of every segment of the store under ``ckpt`` (a shipped name or
    a path) as latent shards under ``key`` (default: the checkpoint's stem); returns a summary.
    ``threads``: torch threads per worker (default: 1 when there are several workers, torch's own
    count in a single local process).

    Raises StoreError for a store that is not one or unfinished, FileNotFoundError or
    CheckpointError for the checkpoint, ValueError when its segment length is not the store's,
    EngineError when Ray is missing or unreachable.
    """
    from explorer.models.trained import TrainedModel

    t0 = time.perf_counter()
    store = st.open_store(store_path)
    path = resolve_checkpoint(ckpt)
    if batch < 1:
        raise ValueError(f"--batch must be ≥ 1, got {batch}")
    tm = TrainedModel.load(path, device="cpu")  # checked here, once, before any worker starts
    if tm.n_steps != store.bars * 16:
        raise ValueError(f"{path.stem} reads {tm.n_steps // 16}-bar segments; the store {Path(store_path).name} "
                         f"has {store.bars}-bar segments")
    weights = path.read_bytes()
    key = key or latent_key_of(path)
    info = {"checkpoint": path.stem, "model": tm.name, "fingerprint": "sha256:" + hashlib.sha256(weights).hexdigest()}
    done = set(store.manifest.get("latents", {}).get(key, {}).get("shards", []))
    todo = [s for s in store.shard_names() if s not in done]
    if threads is None:
        threads = None if engine == "local" and workers == 1 else 1
    make = functools.partial(ShardEncoder, weights, path.suffix, device, batch, threads)

    def tasks():
        for name in todo:
            tokens, chroma = store.segments(np.arange(*store.shard_range(name)))
            yield name, tokens, np.packbits(chroma, axis=-1)  # (n, T, 2): a sixth of the bytes to send

    bar = tqdm(total=len(store.shard_names()), initial=len(done & set(store.shard_names())), unit="shard",
               desc=f"encoding with {path.stem}", disable=not progress, file=sys.stderr)
    n = 0
    for name, mu in run_shards(make, _Sized(tasks(), len(todo)), engine=engine, workers=workers, address=address,
                               start_method="spawn"):
        st.write_latent_shard(store_path, key, name, mu, info)
        n += len(mu)
        bar.update()
        bar.set_postfix(segments=n)
    bar.close()
    return {"store": str(store_path), "key": key, **info, "dim": tm.layout.dims, "segments": len(store),
            "segments_encoded_now": n, "shards": len(store.shard_names()), "shards_encoded_now": len(todo),
            "engine": engine, "workers": workers, "seconds": round(time.perf_counter() - t0, 2)}


class _Sized:
    """A generator with a length (the engine sizes its pool by it and reads it lazily)."""

    def __init__(self, it, n: int):
        self.it, self.n = it, n

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(self.it)
