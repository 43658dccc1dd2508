"""Fast step loops for the melody decoders' generation (no target): the same GRU/LSTM cells
as the models' step-by-step reference loops, computed with less work per step.

- the previous token, a one-hot vector or an embedding that enters the cell through the
  input matrix, becomes a row lookup in a table ``(V, G)`` computed once per set of weights
  (cached on the module until a weight changes);
- the parts of the input that do not depend on the previous token (z, chords, the rhythm
  stream, a concept) are projected for all steps in one product before the loop, ``(B, T, G)``;
- the loops are TorchScript functions, so each step costs a few interpreter calls instead of
  Python's module calls, ``torch.cat`` and ``one_hot``.

The sums are the reference's in another order, so the log-probabilities differ from the step
loop's in the last bits (≈1e-6); greedy tokens match unless two tokens tie within that (the
tests compare them on real melodies for every shipped model). Sampling draws from the same
distribution with the same calls to the global generator (``torch.multinomial`` on the same
probabilities, as ``torch.distributions.Categorical`` does), so a fixed seed gives the same
tokens too, up to the same last-bit ties.

Lower precision, opt-in (:func:`decode_precision`): ``with decode_precision("bf16"):`` runs
the fast loops with oneDNN's float32 matmul precision set to bfloat16 (``torch.backends.mkldnn.
matmul.fp32_precision``): the per-step products (hidden gates, upper cells, output layer) read
their float32 operands rounded to bfloat16 and accumulate and return float32 (on AMX / AVX-512
BF16); tables, gates, state and log-softmax stay float32. Not exact: greedy tokens follow fp32's
on most but not all melodies (docs/decode-speed.md has the measured agreement). It pays only for
batches: oneDNN converts each weight to bfloat16 per product, which costs more than a small
batch's float32 product saves, so batches under ``BF16_MIN_ROWS`` rows (one melody, a slider's
decode) run in float32 — exact — even under "bf16". The default is "fp32", the exact path; the
reference loops (``reference=True``) always run in float32.

Shapes: B batch, T steps, H hidden, G gates (3H for a GRU, 4H for an LSTM), V table rows.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections import OrderedDict
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pick(logp: Tensor, sample: bool, temperature: float) -> Tensor:
    """Class indices (B,) from log-probabilities (B, C): argmax, or a draw at ``temperature``
    made exactly as ``Categorical(logits=logp / temperature).sample()`` makes it."""
    if sample:
        x = logp / temperature
        x = x - x.logsumexp(-1, keepdim=True)
        return torch.multinomial(torch.softmax(x, -1), 1, True)[:, 0]
    return logp.argmax(-1)


def gru_gates(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """One GRU step from the input gates gi (B, 3H) and hidden gates gh (B, 3H), as ``gru_cell``."""
    ir, iz, in_ = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)  # gi and gh are fresh: updated in place, as gru_cell does
    r = hr.add_(ir).sigmoid_()
    z = hz.add_(iz).sigmoid_()
    n = in_.add_(hn.mul_(r)).tanh_()
    return (h - n).mul_(z).add_(n)  # (B, H)


def lstm_gates(gates: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
    """One LSTM step from all gates (B, 4H) and the cell state c (B, H), as ``lstm_cell``."""
    i, f, g, o = gates.chunk(4, 1)  # gates are fresh: updated in place, as lstm_cell does
    c = f.sigmoid_().mul(c).add_(i.sigmoid_().mul_(g.tanh_()))
    return o.sigmoid_().mul_(torch.tanh(c)), c


def _gru_loop(seq: Tensor, table: Tensor, w_hh: Tensor, b_hh: Tensor, h: Tensor, w_out: Tensor, b_out: Tensor,
             prev: Tensor, sample: bool, temperature: float, last_table: Optional[Tensor], n_pitches: int,
             cell2: Optional[List[Tensor]]) -> Tuple[Tensor, Tensor]:
    """An autoregressive GRU over T = seq.size(1) steps → (log-probs (B, T, C), picks (B, T)).

    seq (B, T, 3H): the input gates of everything but the previous token (biases included);
    table (V, 3H): the previous token's share of them; prev (B,): the token before step 0;
    w_hh (H, 3H) and w_out (H, C): the weights transposed, contiguous (:func:`transposed`).
    last_table (N+1, 3H), optional: the share of the latest onset's pitch (ExtRes), N = n_pitches
    meaning none yet. cell2, optional: a second GRU cell ``[w_ihᵀ, w_hhᵀ, b_ih, b_hh]`` on top of
    the first, starting from the first cell's state after step 0 (EC²-VAE's melody decoder).
    """
    last = torch.full_like(prev, n_pitches)
    h2 = h
    logps: List[Tensor] = []
    picks: List[Tensor] = []
    for t in range(seq.size(1)):
        gi = torch.index_select(table, 0, prev).add_(seq[:, t])  # (B, 3H); index_select: 6× a [prev]'s speed
        if last_table is not None:
            gi = gi + torch.index_select(last_table, 0, last)
        h = gru_gates(gi, torch.addmm(b_hh, h, w_hh), h)  # (B, H)
        y = h
        if cell2 is not None:
            h2 = h if t == 0 else h2
            h2 = gru_gates(torch.addmm(cell2[2], h, cell2[0]), torch.addmm(cell2[3], h2, cell2[1]), h2)
            y = h2
        logp = torch.log_softmax(torch.addmm(b_out, y, w_out), -1)  # (B, C)
        prev = pick(logp, sample, temperature)
        if last_table is not None:
            last = torch.where(prev < n_pitches, prev, last)
        logps.append(logp)
        picks.append(prev)
    return torch.stack(logps, 1), torch.stack(picks, 1)


def _lstm_loop(seq: Tensor, table: Tensor, w_hh: Tensor, b_hh: Tensor, upper: List[Tensor], h: List[Tensor],
              c: List[Tensor], w_out: Tensor, b_out: Tensor, prev: Tensor, sample: bool,
              temperature: float) -> Tuple[Tensor, Tensor]:
    """An autoregressive stacked LSTM over T = seq.size(1) steps → (log-probs (B, T, C), picks (B, T)).

    Layer 0 as ``_gru_loop``'s cell (seq (B, T, 4H), table (V, 4H)); the layers above read the
    one below with their own weights, ``upper`` = [w_ihᵀ, w_hhᵀ, b_ih, b_hh] per layer; h, c:
    one (B, H) state per layer.
    """
    n_layers = len(h)
    logps: List[Tensor] = []
    picks: List[Tensor] = []
    for t in range(seq.size(1)):
        gates = torch.index_select(table, 0, prev).add_(seq[:, t])  # (B, 4H)
        gates = gates.add_(torch.addmm(b_hh, h[0], w_hh))
        y, c0 = lstm_gates(gates, c[0])
        h[0] = y
        c[0] = c0
        for k in range(1, n_layers):
            j = 4 * (k - 1)
            gates = torch.addmm(upper[j + 2], y, upper[j]).add_(torch.addmm(upper[j + 3], h[k], upper[j + 1]))
            y, ck = lstm_gates(gates, c[k])  # as lstm_cell
            h[k] = y
            c[k] = ck
        logp = torch.log_softmax(torch.addmm(b_out, y, w_out), -1)  # (B, C)
        prev = pick(logp, sample, temperature)
        logps.append(logp)
        picks.append(prev)
    return torch.stack(logps, 1), torch.stack(picks, 1)


@functools.cache
def scripted(fn):
    """``fn`` compiled by TorchScript, once, on first use (not at import). It pays on a CPU: a
    step costs a few interpreter calls instead of Python's (one melody ≈ 1.5-2× faster)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 marks torch.jit.script deprecated
        return torch.jit.script(fn)


def gru_loop(seq, table, w_hh, b_hh, h, w_out, b_out, prev, sample, temperature, last_table, n_pitches,
             cell2) -> Tuple[Tensor, Tensor]:
    """:func:`_gru_loop`, scripted, in the :func:`decode_precision` in force; weights as the
    modules hold them, (G, I), passed on transposed (:func:`transposed`)."""
    if cell2 is not None:
        cell2 = [transposed(cell2[0]), transposed(cell2[1]), cell2[2], cell2[3]]
    with _matmul_precision(seq):
        return scripted(_gru_loop)(seq, table, transposed(w_hh), b_hh, h, transposed(w_out), b_out, prev, sample,
                                   temperature, last_table, n_pitches, cell2)


def lstm_loop(seq, table, w_hh, b_hh, upper, h, c, w_out, b_out, prev, sample, temperature) -> Tuple[Tensor, Tensor]:
    """:func:`_lstm_loop`, scripted, in the :func:`decode_precision` in force; weights as the
    modules hold them, (G, I), passed on transposed (:func:`transposed`)."""
    upper = [transposed(w) if k % 4 < 2 else w for k, w in enumerate(upper)]  # [w_ih, w_hh, b_ih, b_hh] per layer
    with _matmul_precision(seq):
        return scripted(_lstm_loop)(seq, table, transposed(w_hh), b_hh, upper, h, c, transposed(w_out), b_out, prev,
                                    sample, temperature)


_TRANSPOSED: "OrderedDict[int, Tuple[Tensor, int, Tensor]]" = OrderedDict()  # id(w) → (w, its version, wᵀ)


def transposed(w: Tensor) -> Tensor:
    """wᵀ (I, G), contiguous, for ``addmm(b, x, wᵀ)``: at small batches that layout makes the
    product ≈ 1.3-2× faster than the view ``w.t()`` (one row: 15 vs 29 µs for 256 → 768), the
    same at 256 rows. Kept for the last 64 weights used (holding w, so its id is not reused)
    until w changes in place; built fresh with autograd on, so gradients reach w."""
    if torch.is_grad_enabled() and w.requires_grad:
        return w.t().contiguous()
    hit = _TRANSPOSED.get(id(w))
    if hit is None or hit[0] is not w or hit[1] != w._version:
        hit = _TRANSPOSED[id(w)] = (w, w._version, w.detach().t().contiguous())
        while len(_TRANSPOSED) > 64:
            _TRANSPOSED.popitem(last=False)
    _TRANSPOSED.move_to_end(id(w))
    return hit[2]


# ---- opt-in lower precision ----------------------------------------------------------------
PRECISIONS = ("fp32", "bf16")
BF16_MIN_ROWS = 64  # measured: bf16 0.4× fp32's speed at 1 row, ≈ 1× at 32, 1.15-1.24× at 64 (1 thread)
_local = threading.local()


def check_precision(name: str) -> str:
    """``name`` if it is a known decode precision, else a ValueError naming the accepted ones."""
    if name not in PRECISIONS:
        raise ValueError(f"decode precision must be one of {', '.join(PRECISIONS)}; got {name!r}")
    return name


def require_precision(name: str) -> str:
    """``name`` if it is a known decode precision that this machine computes, else a ValueError
    saying why (an unknown name, or "bf16" on a CPU without AVX-512 BF16 / AMX)."""
    check_precision(name)
    if name == "bf16" and not bf16_supported():
        raise ValueError("decode precision 'bf16' needs a CPU with AVX-512 BF16 or AMX (oneDNN); this one has "
                         "neither — use 'fp32'")
    return name


def current_precision() -> str:
    """The decode precision in force in this thread: "fp32" unless :func:`decode_precision` says otherwise."""
    return getattr(_local, "precision", "fp32")


@contextlib.contextmanager
def decode_precision(name: str):
    """Within the block, this thread's fast generation loops run in ``name``: "fp32" (exact, the
    default) or "bf16" (products on bfloat16 operands with float32 accumulation, oneDNN, for
    batches of ``BF16_MIN_ROWS`` rows or more; a CPU with AVX-512 BF16 or AMX, else a ValueError)."""
    require_precision(name)
    old = current_precision()
    _local.precision = name
    try:
        yield
    finally:
        _local.precision = old


def bf16_supported() -> bool:
    """Whether oneDNN computes bfloat16 products natively on this CPU."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@contextlib.contextmanager
def _matmul_precision(x: Tensor):
    """oneDNN's float32 matmul precision set to bfloat16 for the loop when "bf16" is in force and
    the batch x (B, …) has at least ``BF16_MIN_ROWS`` rows. That setting is process-wide: float32
    products that other threads make meanwhile take it too."""
    if current_precision() != "fp32" and x.device.type != "cpu":
        raise ValueError(f"decode precision {current_precision()!r} is for CPU decoding; this decode runs on "
                         f"{x.device} — use 'fp32'")
    if current_precision() == "fp32" or x.size(0) < BF16_MIN_ROWS:
        yield
        return
    mm = torch.backends.mkldnn.matmul
    old = mm.fp32_precision
    mm.fp32_precision = "bf16"
    try:
        yield
    finally:
        mm.fp32_precision = old


# ---- tables kept until a weight changes --------------------------------------------------
def cached(module: nn.Module, key: str, build: Callable[[], object]):
    """``build()``, computed once per state of ``module``'s parameters (their storage and
    in-place version, so an optimiser step, ``load_state_dict`` or ``.to`` rebuilds it).
    With autograd on, built fresh each time so gradients reach the weights."""
    if torch.is_grad_enabled():
        return build()
    stamp = tuple((p.data_ptr(), p._version) for p in module.parameters())
    store = module.__dict__.setdefault("_fast_tables", {})
    hit = store.get(key)
    if hit is None or hit[0] != stamp:
        hit = store[key] = (stamp, build())
    return hit[1]


def token_table(embed: Optional[Tensor], w_ih: Tensor, cols: slice) -> Tensor:
    """The input gates (V, G) that each previous token adds: ``embed`` (V, E) through the
    columns ``cols`` of the cell's input matrix w_ih (G, I); with ``embed`` None the token
    enters one-hot, and its table is those columns themselves."""
    w = w_ih[:, cols]  # (G, E)
    return w.t().contiguous() if embed is None else F.linear(embed, w)


def start_tokens(b: int, start: int, device) -> Tensor:
    """The start token ``start`` for each of ``b`` rows, (B,) long."""
    return torch.full((b,), start, dtype=torch.long, device=device)


def use_fast(model: nn.Module, reference: bool) -> bool:
    """Whether generation takes the fast loops: in eval mode, unless the reference is asked for."""
    return not reference and not model.training
