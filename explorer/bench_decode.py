"""Decode speed of every shipped melody model: the plain step loop (``reference=True``) beside
the fast loops of :mod:`explorer.models.fast_decode`, exact (fp32) and in an opt-in lower
precision (``lp``, default "bf16": :func:`~explorer.models.fast_decode.decode_precision`),
measured side by side in one process.

Per model: segments/s decoding a batch of real melodies' codes, one melody's decode time
(p50/p95 over many melodies), their speed-ups over the step loop, how many greedy tokens (and
whole melodies) each fast path shares with the step loop, and the reconstruction accuracy
(greedy, :func:`explorer.eval.run.reconstruction`) on the default data's test split in fp32 and
in the lower precision. The three paths alternate (A, B, C, A, B, C …) so a busy machine slows
all alike; times are the process's CPU time by default (``clock``), which a neighbour on the
same core does not add to.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from explorer.data.default import load_default
from explorer.models.checkpoint import available_checkpoints
from explorer.models.fast_decode import PRECISIONS, check_precision, decode_precision
from explorer.models.trained import TrainedModel

COLUMNS = ("model", "batch", "ref_seg_s", "fast_seg_s", "batch_x", "ref_one_p50_ms", "ref_one_p95_ms",
           "fast_one_p50_ms", "fast_one_p95_ms", "one_x", "token_agreement", "rows_identical",
           "precision", "lp_seg_s", "lp_batch_x", "lp_one_p50_ms", "lp_one_p95_ms", "lp_one_x",
           "lp_token_agreement", "lp_rows_identical", "recon_fp32", "recon_lp", "recon_rows")


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


def _alternating(fns, repeats: int, clock, sync) -> list[np.ndarray]:
    """Seconds of ``repeats`` calls of each of ``fns``, taken in turn (one warm-up call each first)."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, t in zip(fns, times):
            t.append(_timed(lambda: (f(), sync()), clock))
    return [np.array(t) for t in times]


def recon_both(tm: TrainedModel, precision: str, rows: int) -> dict:
    """Greedy reconstruction accuracy of ``rows`` melodies of the default data's test split,
    spread over it, decoded in fp32 and in ``precision`` (z from the same encode)."""
    from explorer.eval.run import reconstruction

    sub = load_default(bars=tm.n_steps // 16).take_split("test")
    idx = np.linspace(0, len(sub) - 1, min(rows, len(sub))).astype(int)
    tok, chroma = sub.tokens[idx], sub.chroma[idx].astype(np.float32)
    _, mu, _ = tm.encode(tok, chroma)
    with decode_precision(precision):
        lp = reconstruction(tm, tok, chroma, mu)["recon_accuracy_greedy"]
    return {"recon_fp32": reconstruction(tm, tok, chroma, mu)["recon_accuracy_greedy"], "recon_lp": lp,
            "recon_rows": len(idx)}


def bench_one_model(tm: TrainedModel, *, batch: int = 256, repeats: int = 5, one_repeats: int = 40,
                    precision: str = "bf16", recon_rows: int = 1000, clock=time.process_time) -> dict:
    """The row of one loaded model (see :data:`COLUMNS`); times in ms, speeds in segments/s."""
    check_precision(precision)
    model, dev = tm.model.eval(), tm.device
    sync = torch.cuda.synchronize if torch.device(dev).type == "cuda" else (lambda: None)
    z, chroma = _inputs(tm, max(batch, one_repeats), dev)
    zb, cb = z[:batch], chroma[:batch]

    def lower(fn):
        def run():
            with decode_precision(precision):
                return fn()
        return run

    with torch.no_grad():
        ref_out = model.decode(zb, cb, reference=True).tokens
        fast_out = model.decode(zb, cb).tokens
        lp_out = lower(lambda: model.decode(zb, cb))().tokens
        tb = _alternating([lambda: model.decode(zb, cb, reference=True), lambda: model.decode(zb, cb),
                           lower(lambda: model.decode(zb, cb))], repeats, clock, sync)
        rows = iter(range(10 ** 9))

        def one(reference: bool):
            i = next(rows) % len(z)
            return model.decode(z[i:i + 1], chroma[i:i + 1], reference=reference)

        to = _alternating([lambda: one(True), lambda: one(False), lower(lambda: one(False))], one_repeats, clock,
                          sync)
    same, lp_same = ref_out == fast_out, ref_out == lp_out
    ra, rb, rc = (np.median(t) for t in tb)
    oa, ob, oc = (np.median(t) for t in to)
    ms = {k: 1e3 * np.percentile(t, q) for name, t in zip(("ref", "fast", "lp"), to)
          for k, q in ((f"{name}_one_p50_ms", 50), (f"{name}_one_p95_ms", 95))}
    return {"model": getattr(tm, "path", Path(tm.name)).stem, "batch": batch,
            "ref_seg_s": batch / ra, "fast_seg_s": batch / rb, "batch_x": ra / rb, **ms, "one_x": float(oa / ob),
            "token_agreement": same.float().mean().item(), "rows_identical": same.all(1).float().mean().item(),
            "precision": precision, "lp_seg_s": batch / rc, "lp_batch_x": ra / rc, "lp_one_x": float(oa / oc),
            "lp_token_agreement": lp_same.float().mean().item(),
            "lp_rows_identical": lp_same.all(1).float().mean().item(),
            **(recon_both(tm, precision, recon_rows // (tm.n_steps // 32)) if recon_rows else {})}


def bench_decode_speed(models=None, repeats: int = 5, *, batch: int = 256, one_repeats: int = 40,
                       precision: str = "bf16", recon_rows: int = 1000, device: str = "cpu",
                       clock=time.process_time) -> list[dict]:
    """One row per model (names of shipped checkpoints or paths; None: every melody checkpoint
    :func:`available_checkpoints` lists): the reference step loop against the fast path in fp32
    and in ``precision``, greedy, on the default data's melodies with their chords. ``repeats``
    batch decodes and ``one_repeats`` one-melody decodes of each path; ``recon_rows`` test
    melodies (2-bar; fewer for longer models, 0: none) for the reconstruction accuracy both ways."""
    check_precision(precision)
    found = available_checkpoints("melody")
    paths = list(found.values()) if models is None else [found.get(m, m) for m in models]
    return [bench_one_model(TrainedModel.load(p, device=device), batch=batch, repeats=repeats,
                            one_repeats=one_repeats, precision=precision, recon_rows=recon_rows, clock=clock)
            for p in paths]


def format_rows(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    fmt = {float: "{:.4g}".format, np.float64: "{:.4g}".format}
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.get(type(r.get(c)), str)(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a manual run
    import argparse

    ap = argparse.ArgumentParser(description="decode speed: step loop vs fast loops, fp32 and lower precision")
    ap.add_argument("models", nargs="*", help="shipped checkpoint names or paths (default: every melody model)")
    ap.add_argument("--precision", default="bf16", choices=PRECISIONS, help="the lower precision (default bf16)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--one-repeats", type=int, default=40)
    ap.add_argument("--recon-rows", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(format_rows(bench_decode_speed(a.models or None, a.repeats, one_repeats=a.one_repeats,
                                         precision=a.precision, recon_rows=a.recon_rows)), flush=True)
