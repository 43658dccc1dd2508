"""A tune on the grid: the bridge between a source's notes and segments.

A source gives notes and bars in quarter-note time; ``make_tune`` keeps the
bars that fill the 16-step bar (4/4 and 2/2 bars, consecutive pairs of 2/4
bars), quantises melody and chords onto their steps and records which
original bar each grid bar came from.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from explorer.music.grid import chord_spans_to_chroma, notes_to_grid_steps
from explorer.music.melody import N_PITCHES, STEPS_PER_BAR, STEPS_PER_QUARTER

FULL_BAR_METRES = {(4, 4), (2, 2)}
HALF_BAR_METRES = {(2, 4)}
EPS = 1e-6


class SkipTune(Exception):
    """A whole tune or file is left out; ``reason`` is a short category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Bar:
    """One bar of a source: start and length in quarters, metre (num, den)."""

    start: float
    length: float
    metre: tuple[int, int]

    @property
    def nominal(self) -> float:
        return self.metre[0] * 4.0 / self.metre[1]


@dataclass
class Tune:
    """A tune's kept bars on the grid.

    tokens (T,), chroma (T, 12), bar_numbers (B,) the 0-based index in the
    source of each 16-step bar, runs (B,) a run id (bars of one run follow one
    another without a gap), T = 16 * B.
    """

    source: str
    tune_id: str
    tokens: np.ndarray
    chroma: np.ndarray
    bar_numbers: np.ndarray
    runs: np.ndarray
    qpm: float
    title: str = ""
    stats: dict = field(default_factory=dict)

    def __repr__(self):
        return f"Tune({self.source}:{self.tune_id!r}, bars={len(self.bar_numbers)}, qpm={self.qpm:g})"


def metre_name(metre) -> str:
    return f"{metre[0]}/{metre[1]}"


JOINED = "joined"


def grid_bars(bars: list[Bar]):
    """Choose the bars that fill 16 steps.

    Returns ``(starts_q, numbers, runs, dropped)``: the start of each kept
    16-step bar, the index of its (first) source bar, its run id, and a Counter
    of dropped bars by reason (and, under ``JOINED``, how many short 4/4 bars were
    joined with the pickup bar after them to make one full bar).
    """
    starts, numbers, runs, dropped = [], [], [], Counter()
    joined = 0
    run = -1
    prev_end = None
    i = 0
    while i < len(bars):
        b = bars[i]
        full = abs(b.length - b.nominal) < EPS
        take = None
        if full and b.metre in FULL_BAR_METRES:
            take, nxt = b.start, i + 1
        elif full and b.metre in HALF_BAR_METRES and i + 1 < len(bars):
            c = bars[i + 1]
            if c.metre in HALF_BAR_METRES and abs(c.length - c.nominal) < EPS and abs(c.start - b.start - b.length) < EPS:
                take, nxt = b.start, i + 2
        elif not full and b.metre in FULL_BAR_METRES and i + 1 < len(bars):
            # a strain's short last bar and the next strain's pickup make one bar (ABC writes
            # them apart at a repeat or double bar): join them when they fill the metre exactly
            c = bars[i + 1]
            if (c.metre == b.metre and abs(c.start - b.start - b.length) < EPS
                    and abs(b.length + c.length - b.nominal) < EPS):
                take, nxt = b.start, i + 2
                joined += 1
        if take is None:
            if not full:
                dropped["partial bar"] += 1
            elif b.metre in HALF_BAR_METRES:
                dropped["unpaired 2/4 bar"] += 1
            else:
                dropped[f"metre {metre_name(b.metre)}"] += 1
            prev_end = None
            i += 1
            continue
        if prev_end is None or abs(take - prev_end) > EPS:
            run += 1
        starts.append(take)
        numbers.append(i)
        runs.append(run)
        prev_end = take + 4.0
        i = nxt
    if joined:
        dropped[JOINED] = joined  # not dropped: make_tune reports it as stats["bars_joined"]
    return np.asarray(starts, float), np.asarray(numbers, np.int32), np.asarray(runs, np.int32), dropped


def make_tune(
    source: str,
    tune_id: str,
    melody_notes,
    bars: list[Bar],
    *,
    chord_notes=(),
    chord_spans=(),
    qpm: float = 120.0,
    title: str = "",
) -> Tune:
    """Quantise a tune. ``melody_notes`` and ``chord_notes`` are
    ``(pitch, start_q, end_q)``; ``chord_spans`` are ``(start_q, end_q, chroma12)``.

    Raises
    ------
    SkipTune
        When no bar fills 16 steps (``"metre X"`` for the main metre) or no
        melody note lands on a kept bar (``"no melody notes"``).
    """
    mel = [n for n in melody_notes if 0 <= n[0] < N_PITCHES and n[2] > n[1]]
    if not mel:
        raise SkipTune("no melody notes")
    starts, numbers, runs, dropped = grid_bars(bars)
    if not len(starts):
        metres = Counter(metre_name(b.metre) for b in bars)
        main = metres.most_common(1)[0][0] if metres else "unknown"
        raise SkipTune(f"metre {main}")
    step_q = (starts[:, None] + np.arange(STEPS_PER_BAR)[None] / STEPS_PER_QUARTER).ravel()
    tokens, chroma, stats = notes_to_grid_steps(mel, chord_notes, step_q)
    if len(chord_spans):
        chroma = np.maximum(chroma, chord_spans_to_chroma(chord_spans, step_q))
    if stats["notes"] == 0:
        raise SkipTune("no melody notes", "none on a 4/4, 2/2 or paired 2/4 bar")
    stats["bars_joined"] = dropped.pop(JOINED, 0)
    stats["bars_dropped"] = dict(dropped)
    return Tune(source, tune_id, tokens, chroma, numbers, runs, float(qpm), title, stats)


def regular_bars(n_quarters: float, metre=(4, 4), start: float = 0.0) -> list[Bar]:
    """Whole bars of one metre from ``start`` until they cover ``n_quarters``."""
    length = metre[0] * 4.0 / metre[1]
    out = []
    t = start
    while t < n_quarters - EPS:
        out.append(Bar(t, length, metre))
        t += length
    return out
