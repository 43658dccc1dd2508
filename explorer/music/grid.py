"""Quantisation of notes in quarter-note time onto the 16th-note step grid.

The grid is given as ``step_q``: the quarter-note position of every step that
is kept, increasing. Steps 0.25 q apart form a run; a gap (a bar in another
metre, a pickup) ends the run, and no note is held across it.
"""
from __future__ import annotations

import numpy as np

from explorer.music.melody import HOLD, REST, STEPS_PER_QUARTER, notes_to_tokens

STEP_Q = 1.0 / STEPS_PER_QUARTER
TOL_Q = STEP_Q / 2  # a note snaps to a step when it lies within half a step


def run_ends(step_q: np.ndarray) -> np.ndarray:
    """For every step, the index one past the last step of its run (T,)."""
    step_q = np.asarray(step_q, dtype=float)
    t = len(step_q)
    if t == 0:
        return np.zeros(0, dtype=np.int64)
    brk = np.flatnonzero(np.abs(np.diff(step_q) - STEP_Q) > 1e-6) + 1
    ends = np.append(brk, t)
    return ends[np.searchsorted(ends, np.arange(t), side="right")]


def notes_to_grid_steps(melody_notes, chord_notes, step_q):
    """Tokens and chord chroma on the steps ``step_q``.

    Parameters
    ----------
    melody_notes : iterable of (pitch, start_q, end_q)
    chord_notes : iterable of (pitch, start_q, end_q)
        Notes whose pitch classes make the chroma of every step they sound on.
    step_q : (T,) float, quarter position of each step

    Returns
    -------
    tokens : (T,) uint8
    chroma : (T, 12) uint8
    stats : dict with ``notes`` (melody notes placed), ``off_grid`` (placed but
        not starting exactly on a 16th), ``outside`` (starting on no kept step)
    """
    step_q = np.asarray(step_q, dtype=float)
    t = len(step_q)
    ends = run_ends(step_q)
    mel = np.asarray(list(melody_notes), dtype=float).reshape(-1, 3)
    placed = []
    off_grid = outside = 0
    if len(mel):
        starts = mel[:, 1]
        idx = np.clip(np.searchsorted(step_q, starts), 0, max(t - 1, 0))
        # nearest of idx-1 and idx
        prev = np.clip(idx - 1, 0, None)
        if t:
            use_prev = np.abs(step_q[prev] - starts) <= np.abs(step_q[idx] - starts)
            idx = np.where(use_prev, prev, idx)
            dist = np.abs(step_q[idx] - starts)
        else:
            dist = np.full(len(starts), np.inf)
        ok = dist < TOL_Q - 1e-9
        outside = int((~ok).sum())
        off_grid = int((ok & (dist > 1e-3)).sum())
        length = np.maximum(1, np.round((mel[:, 2] - mel[:, 1]) * STEPS_PER_QUARTER)).astype(np.int64)
        for i in np.flatnonzero(ok):
            s = int(idx[i])
            e = min(s + int(length[i]), int(ends[s]))
            placed.append((int(mel[i, 0]), s, e))
    tokens = notes_to_tokens(placed, t)
    chroma = np.zeros((t, 12), dtype=np.uint8)
    ch = np.asarray(list(chord_notes), dtype=float).reshape(-1, 3)
    if len(ch) and t:
        lo = np.searchsorted(step_q, ch[:, 1] - TOL_Q)
        hi = np.searchsorted(step_q, ch[:, 2] - TOL_Q)
        pcs = ch[:, 0].astype(np.int64) % 12
        for a, b, pc in zip(lo, hi, pcs):
            if b > a:
                chroma[a:b, pc] = 1
    return tokens, chroma, {"notes": len(placed), "off_grid": off_grid, "outside": outside}


def chord_spans_to_chroma(spans, step_q):
    """Chroma (T, 12) from chord spans ``(start_q, end_q, chroma12)``."""
    step_q = np.asarray(step_q, dtype=float)
    chroma = np.zeros((len(step_q), 12), dtype=np.uint8)
    for start, end, c in spans:
        a = np.searchsorted(step_q, start - TOL_Q)
        b = np.searchsorted(step_q, end - TOL_Q)
        if b > a:
            chroma[a:b] = np.asarray(c, dtype=np.uint8)
    return chroma


__all__ = ["notes_to_grid_steps", "chord_spans_to_chroma", "run_ends", "HOLD", "REST"]
