"""Figures of the Concept page (ExtRes): a concept y as a grid to click (the editor), and a piano
roll with the concept of its melodies drawn above it (the rhythm as a strip of steps, the contour
as a line over the beats). No Streamlit here.

A concept has L positions over a melody's T steps (per step L = T, per beat L = T / 4); x is in
bars, as in :func:`explorer.viz.pianoroll.pianoroll_figure`.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.latent.concept_ops import SYMBOLS
from explorer.music.concepts import DOWN, NO_ONSET, SAME, UP, get_concept
from explorer.music.melody import STEPS_PER_BAR, Melody
from explorer.viz.pianoroll import pianoroll_figure, vline_shape

#: Rows of the editor grid, top to bottom (classes); other concepts: 0 at the top.
ROWS = {"rhythm": (0, 1, 2), "contour": (UP, SAME, DOWN, NO_ONSET)}
RHYTHM_COLOURS = ("#1f4e9c", "#8fb3e8", "#ffffff")  # onset, hold, rest
ON, OFF, BAD = "#1f77b4", "#e8e8e8", "#d62728"


def concept_labels(name: str, n_classes: int) -> list[str]:
    """One label per class: "● onset" for a built-in concept with symbols, else its label or number."""
    try:
        labels = list(get_concept(name).labels)
    except ValueError:
        labels = []
    labels = (labels + [str(k) for k in range(len(labels), n_classes)])[:n_classes]
    chars = SYMBOLS.get(name)
    return [f"{chars[k]} {lab}" for k, lab in enumerate(labels)] if chars else labels


def rows_of(name: str, n_classes: int) -> tuple:
    return ROWS.get(name, tuple(range(n_classes)))


def concept_grid_figure(name: str, y, n_classes: int, *, bad=(), height: int = 200) -> go.Figure:
    """The concept ``y`` (L,) as a grid to click: one column per position, one row per class, the
    chosen class filled (positions in ``bad`` in red); every cell is a point whose customdata is
    ``[position, class]``. The contour is also drawn as the line it makes."""
    y = np.asarray(y, int)
    rows = rows_of(name, n_classes)
    labels = concept_labels(name, n_classes)
    bad = set(int(b) for b in bad)
    xs, ys, colours, custom = [], [], [], []
    for i, v in enumerate(y):
        for k in rows:
            xs.append(i + 1)
            ys.append(labels[k])
            colours.append((BAD if i in bad else ON) if v == k else OFF)
            custom.append([i, k])
    per_beat = len(y) > 8
    traces = [dict(type="scatter", x=xs, y=ys, mode="markers", customdata=custom, showlegend=False,
                   marker=dict(symbol="square", size=16 if per_beat else 26, color=colours,
                               line=dict(width=1, color="#999")),
                   hovertemplate="position %{x}: %{y}<extra>click to set</extra>")]
    if name == "contour":
        on = [i for i, v in enumerate(y) if v in (UP, SAME, DOWN)]
        traces.insert(0, dict(type="scatter", x=[i + 1 for i in on], y=[labels[y[i]] for i in on], mode="lines",
                              line=dict(color="#1f77b4", width=2, dash="dot"), hoverinfo="skip", showlegend=False))
    group = 4 if per_beat else 0
    shapes = [vline_shape(g + 0.5, 1, "#888") for g in range(group, len(y), group)] if group else []
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=30), shapes=shapes, dragmode=False,
                  xaxis=dict(title=dict(text="step" if per_beat else "beat"), range=[0.4, len(y) + 0.6],
                             dtick=group or 1, tick0=1, fixedrange=True),
                  yaxis=dict(categoryorder="array", categoryarray=[labels[k] for k in rows][::-1], fixedrange=True))
    return go.Figure(data=traces, layout=layout, _validate=False)


def contour_levels(y) -> np.ndarray:
    """Heights of a contour y (L,): up +1, down −1, same 0 from the latest beat with an onset; a beat
    without one (·) keeps the height."""
    steps = np.select([np.asarray(y) == UP, np.asarray(y) == DOWN], [1, -1], 0)
    return np.cumsum(steps)


def _strip_traces(name: str, concepts: np.ndarray, wanted, n_steps: int) -> list[dict]:
    """The concepts (S, L) of S melodies laid end to end, on the strip's axes (x2 = x, y2)."""
    s, length = concepts.shape
    per = n_steps // length
    centre = (np.arange(s * length) * per + per / 2) / STEPS_PER_BAR
    flat = concepts.reshape(-1)
    chars = SYMBOLS.get(name)
    text = [chars[v] for v in flat] if chars else [str(v) for v in flat]
    if name == "contour":
        levels = np.concatenate([contour_levels(c) for c in concepts]).astype(float)
        breaks = np.arange(1, s) * length  # no line from one melody into the next
        x = np.insert(centre, breaks, np.nan)
        level = np.insert(levels, breaks, np.nan)
        traces = [dict(type="scatter", x=x, y=level, mode="lines", line=dict(color="#2ca02c", width=2),
                       hoverinfo="skip", yaxis="y2", connectgaps=False),
                  dict(type="scatter", x=centre, y=levels, mode="markers+text", text=text, textposition="top center",
                       marker=dict(size=6, color="#2ca02c"), yaxis="y2", hovertext=text, hoverinfo="text")]
        rows = levels
    else:
        colours = RHYTHM_COLOURS if name == "rhythm" else None
        trace = dict(type="heatmap", x=centre, y=[0], z=[flat.tolist()], yaxis="y2", showscale=False,
                     xgap=1, hoverinfo="text", text=[text], zmin=0, zmax=max(int(flat.max(initial=0)), 2))
        if colours:
            trace["colorscale"] = [[0, colours[0]], [0.5, colours[1]], [1, colours[2]]]
        else:
            trace.update(colorscale="Greens", texttemplate="%{text}")
        traces, rows = [trace], np.zeros(len(flat))
    if wanted is not None:
        miss = np.flatnonzero(np.asarray(wanted).reshape(-1) != flat)
        traces.append(dict(type="scatter", x=centre[miss], y=rows[miss], mode="markers", yaxis="y2",
                           marker=dict(symbol="x", size=9, color=BAD), hoverinfo="text",
                           hovertext=["not the concept asked for"] * len(miss)))
    return traces


def concept_roll_figure(melodies, name: str, concepts, *, wanted=None, labels=None, height: int = 300,
                        title: str | None = None) -> go.Figure:
    """The piano roll of ``melodies`` (a Melody or a list, end to end) with their concepts above it.

    Parameters
    ----------
    melodies : Melody or list of Melody
    name : str
        The concept's name ("rhythm", "contour", or another: drawn as its class numbers).
    concepts : array_like
        f of each melody, (S, L) (or (L,) for one melody).
    wanted : array_like, optional
        The concepts the melodies were decoded from, same shape; where f differs, a red ×.
    """
    mels = [melodies] if isinstance(melodies, Melody) else list(melodies)
    concepts = np.asarray(concepts, int).reshape(len(mels), -1)
    base = pianoroll_figure(mels, labels=labels, height=height + 70, title=title)
    layout = base.layout.to_plotly_json()
    layout["yaxis"]["domain"] = [0, 0.76]
    layout["yaxis2"] = dict(domain=[0.8, 1], anchor="x", showticklabels=False, zeroline=False, showgrid=False,
                            title=dict(text=name, font=dict(size=10)), fixedrange=True)
    if name == "contour":
        levels = np.concatenate([contour_levels(c) for c in concepts])
        layout["yaxis2"]["range"] = [levels.min() - 0.8, levels.max() + 1.4]
    strip = _strip_traces(name, concepts, None if wanted is None else np.asarray(wanted).reshape(concepts.shape),
                          mels[0].n_steps)
    for t in strip:
        t.setdefault("showlegend", False)
    return go.Figure(data=[*base.data, *strip], layout=layout, _validate=False)
