"""A plotly piano roll of one or more melodies on the step grid."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.music.chords import TRIAD_NAMES, TRIADS
from explorer.music.melody import STEPS_PER_BAR, STEPS_PER_QUARTER, Melody, tokens_to_notes

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def pitch_name(p: int) -> str:
    return f"{NOTE_NAMES[p % 12]}{p // 12 - 1}"


def vline_shape(x: float, width: float, colour: str, dash: str | None = None) -> dict:
    """A vertical line at ``x`` across the plot, as a layout shape (what ``add_vline`` makes, without its cost)."""
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                line=dict(width=width, color=colour, **({"dash": dash} if dash else {})))


def pianoroll_figure(melodies, *, labels=None, height: int = 300, show_chords: bool = True,
                     title: str | None = None) -> go.Figure:
    """Piano roll of ``melodies`` (a Melody or a list) laid end to end.

    x is in bars (1 = the first downbeat), y in MIDI pitch. Each melody gets a
    boundary line and its label; chords are drawn as pale bands, named where there is
    room (:func:`label_gap`). The figure
    is built from plain dicts in one unvalidated call: ``add_vline`` per bar line
    and plotly's validation made a roll cost ~50 ms, too slow for a slider.
    """
    if isinstance(melodies, Melody):
        melodies = [melodies]
    labels = labels or [None] * len(melodies)
    gap = label_gap(sum(m.n_steps for m in melodies))
    named = -gap  # the step of the last chord name
    shapes, notes = [], []
    offset = 0
    xs, ys, text = [], [], []
    all_p = []
    for k, (m, lab) in enumerate(zip(melodies, labels)):
        for n in tokens_to_notes(m.tokens):
            x0, x1 = (offset + n.start) / STEPS_PER_BAR, (offset + n.end) / STEPS_PER_BAR
            xs += [x0, x1, None]
            ys += [n.pitch, n.pitch, None]
            text += [f"{pitch_name(n.pitch)} · {(n.end - n.start) / STEPS_PER_QUARTER:g} beats"] * 2 + [None]
            all_p.append(n.pitch)
        if show_chords and m.chroma is not None and np.asarray(m.chroma).any():
            named = _chord_bands(shapes, notes, np.asarray(m.chroma), offset, gap, named)
        if k > 0:
            shapes.append(vline_shape(offset / STEPS_PER_BAR, 2, "#444"))
        if lab:
            notes.append(dict(x=(offset + m.n_steps / 2) / STEPS_PER_BAR, y=1.08, yref="paper", text=lab,
                              showarrow=False))
        offset += m.n_steps
    lo, hi = (min(all_p) - 3, max(all_p) + 3) if all_p else (55, 80)
    shapes += [vline_shape(b / STEPS_PER_BAR, 0.5, "#bbb") for b in range(0, offset + 1, STEPS_PER_BAR)]
    ticks = list(range(12 * (lo // 12), hi + 1, 12))
    layout = dict(
        height=height, margin=dict(l=40, r=10, t=40 if (title or any(labels)) else 10, b=30), showlegend=False,
        title=dict(text=title) if title else None,
        xaxis=dict(title=dict(text="bar"), range=[0, max(offset, 1) / STEPS_PER_BAR]),
        yaxis=dict(title=dict(text="pitch"), range=[lo, hi], tickvals=ticks, ticktext=[pitch_name(p) for p in ticks]),
        shapes=shapes, annotations=notes)
    trace = dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(width=9, color="#1f77b4"), text=text,
                 hoverinfo="text", name="melody", connectgaps=False)
    return go.Figure(data=[trace], layout=layout, _validate=False)  # validation is most of the cost (tested specs)


def chord_name(chroma) -> str:
    """A (12,) chroma as a chord's name when it is a major or minor triad ("Am"), else its
    pitch classes ("C E G Bb")."""
    pcs = np.flatnonzero(chroma)
    hit = np.flatnonzero((TRIADS == (np.asarray(chroma) > 0)).all(1))
    return TRIAD_NAMES[hit[0]] if len(hit) else " ".join(NOTE_NAMES[p] for p in pcs)


def label_gap(total_steps: int) -> int:
    """The fewest steps between two chord labels: a beat, or a 16th of the figure when it is
    longer, so that at most ~16 labels share its width and none run into the next."""
    return max(STEPS_PER_QUARTER, -(-total_steps // 16))


def _chord_bands(shapes: list, notes: list, chroma, offset: int, gap: int, named: int) -> int:
    """Pale bands where the chord stays the same, and the chord's name at the bands that start
    ``gap`` steps or more after the last named one (step ``named`` of the figure; a melody whose
    chord changes every 16th would otherwise pile its names on top of each other). Returns the
    step of the last named band."""
    for start, t, chord in chord_spans(chroma):
        x0, x1 = (offset + start) / STEPS_PER_BAR, (offset + t) / STEPS_PER_BAR
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=x0, x1=x1, y0=0, y1=1,
                           fillcolor="#ff7f0e", opacity=0.1, line_width=0, layer="below"))
        if offset + start - named >= gap:
            notes.append(dict(x=x0, y=0, xref="x", yref="paper", xanchor="left", yanchor="bottom",
                              text=chord_name(chord), showarrow=False, font=dict(size=9)))
            named = offset + start
    return named


def chord_spans(chroma):
    """(start, end, chroma row) of each run of one chord in ``chroma`` (T, 12); silent runs left out."""
    start = 0
    for t in range(1, len(chroma) + 1):
        if t == len(chroma) or not np.array_equal(chroma[t], chroma[start]):
            if chroma[start].any():
                yield start, t, chroma[start]
            start = t
