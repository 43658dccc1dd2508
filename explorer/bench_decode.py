"""Decode speed of every shipped melody model: the plain step loop (``reference=True``) beside
the fast loops of :mod:`explorer.models.fast_decode`, measured side by side in one process.

Per model: segments/s decoding a batch of real melodies' codes, one melody's decode time
(p50/p95 over many melodies), their speed-ups, and how many greedy tokens the two agree on.
Reference and fast runs alternate (A, B, A, B …) so a busy machine slows both alike; times are
the process's CPU time by default (``clock``), which a neighbour on the same core does not add to.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from explorer.data.default import load_default
from explorer.models.checkpoint import available_checkpoints
from explorer.models.trained import TrainedModel

COLUMNS = ("model", "batch", "ref_seg_s", "fast_seg_s", "batch_x", "ref_one_p50_ms", "ref_one_p95_ms",
           "fast_one_p50_ms", "fast_one_p95_ms", "one_x", "token_agreement", "rows_identical")


def _inputs(tm: TrainedModel, n: int, device):
    """(z (n, D) posterior means, chroma (n, T, 12)) of n default-data melodies spread over the file."""
    ds = load_default(bars=tm.n_steps // 16)
    idx = np.linspace(0, len(ds.tokens) - 1, n).astype(int)
    tok = torch.as_tensor(ds.tokens[idx].astype(np.int64), device=device)
    chroma = torch.as_tensor(ds.chroma[idx].astype(np.float32), device=device)
    with torch.no_grad():
        return tm.model.encode(tok, chroma).mean, chroma


def _timed(fn, clock) -> float:
    t0 = clock()
    fn()
    return clock() - t0


def _alternating(ref, fast, repeats: int, clock, sync) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of ``repeats`` calls of each, alternating (one warm-up call each first)."""
    ref(), fast()
    a, b = [], []
    for _ in range(repeats):
        a.append(_timed(lambda: (ref(), sync()), clock))
        b.append(_timed(lambda: (fast(), sync()), clock))
    return np.array(a), np.array(b)


def bench_one_model(tm: TrainedModel, *, batch: int = 256, repeats: int = 5, one_repeats: int = 40,
                    clock=time.process_time) -> dict:
    """The row of one loaded model (see :data:`COLUMNS`); times in ms, speeds in segments/s."""
    model, dev = tm.model.eval(), tm.device
    sync = torch.cuda.synchronize if torch.device(dev).type == "cuda" else (lambda: None)
    z, chroma = _inputs(tm, max(batch, one_repeats), dev)
    zb, cb = z[:batch], chroma[:batch]
    with torch.no_grad():
        ref_out = model.decode(zb, cb, reference=True).tokens
        fast_out = model.decode(zb, cb).tokens
        ta, tb = _alternating(lambda: model.decode(zb, cb, reference=True), lambda: model.decode(zb, cb), repeats,
                              clock, sync)
        rows = iter(range(10 ** 9))

        def one(reference: bool):
            i = next(rows) % len(z)
            return model.decode(z[i:i + 1], chroma[i:i + 1], reference=reference)

        oa, ob = _alternating(lambda: one(True), lambda: one(False), one_repeats, clock, sync)
    same = ref_out == fast_out
    ra, rb = np.median(ta), np.median(tb)
    return {"model": getattr(tm, "path", Path(tm.name)).stem, "batch": batch,
            "ref_seg_s": batch / ra, "fast_seg_s": batch / rb, "batch_x": ra / rb,
            "ref_one_p50_ms": 1e3 * np.percentile(oa, 50), "ref_one_p95_ms": 1e3 * np.percentile(oa, 95),
            "fast_one_p50_ms": 1e3 * np.percentile(ob, 50), "fast_one_p95_ms": 1e3 * np.percentile(ob, 95),
            "one_x": float(np.median(oa) / np.median(ob)),
            "token_agreement": same.float().mean().item(), "rows_identical": same.all(1).float().mean().item()}


def bench_decode_speed(models=None, repeats: int = 5, *, batch: int = 256, one_repeats: int = 40,
                       device: str = "cpu", clock=time.process_time) -> list[dict]:
    """One row per model (names of shipped checkpoints or paths; None: every melody checkpoint
    :func:`available_checkpoints` lists): the reference step loop against the fast path, greedy,
    on the default data's melodies with their chords. ``repeats`` batch decodes and
    ``one_repeats`` one-melody decodes of each path."""
    found = available_checkpoints("melody")
    paths = list(found.values()) if models is None else [found.get(m, m) for m in models]
    return [bench_one_model(TrainedModel.load(p, device=device), batch=batch, repeats=repeats,
                            one_repeats=one_repeats, clock=clock) for p in paths]


def format_rows(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    fmt = {float: "{:.4g}".format, np.float64: "{:.4g}".format}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.get(type(r[c]), str)(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a manual run
    torch.set_num_threads(1)
    print(format_rows(bench_decode_speed()))
