"""Figures of the Interpolation page: attributes along a path, and the n×n palette of
small piano rolls. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.music.attributes import LABELS
from explorer.music.melody import N_PITCHES, tokens_to_notes


def attribute_path_figure(attrs: dict, names, ends: dict | None = None) -> go.Figure:
    """Attributes along a path: one panel per name, x = step (1..S).

    Parameters
    ----------
    attrs : dict of str to array_like
        ``{name: (S,)}`` measured on the decoded steps.
    names : sequence of str
    ends : dict of str to (float, float), optional
        The attribute of the input melodies A and B, drawn at the first and last step.
    """
    names = list(names)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[LABELS[n] for n in names])
    for i, n in enumerate(names, start=1):
        y = np.asarray(attrs[n], float)
        x = np.arange(1, len(y) + 1)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=LABELS[n], showlegend=False,
                                 line=dict(color="#1f77b4")), row=i, col=1)
        if ends and n in ends:
            fig.add_trace(go.Scatter(x=[1, len(y)], y=list(ends[n]), mode="markers+text", text=["A", "B"],
                                     textposition="top center", name="input", showlegend=False,
                                     marker=dict(symbol="circle-open", size=12, color="#d62728")), row=i, col=1)
    fig.update_layout(height=140 + 150 * len(names), margin=dict(l=40, r=10, t=40, b=30))
    fig.update_xaxes(title_text="step", dtick=1, row=len(names), col=1)
    return fig


def palette_figure(melodies, n: int, labels, colour=None, colour_label: str = "") -> go.Figure:
    """The n×n palette: each cell a small piano roll over a colour (an attribute).

    Parameters
    ----------
    melodies : list of Melody
        n·n cells, row by row.
    n : int
    labels : list of str
        One per cell.
    colour : array_like, optional
        One value per cell (n·n,), drawn as a heatmap.
    """
    pitches = [int(p) for m in melodies for p in m.tokens if p < N_PITCHES] or [60]
    lo, hi = min(pitches) - 1, max(pitches) + 1
    fig = go.Figure()
    if colour is not None:
        z = np.asarray(colour, float).reshape(n, n)
        fig.add_trace(go.Heatmap(z=z, x=list(range(n)), y=list(range(n)), colorscale="Blues", opacity=0.4,
                                 colorbar=dict(title=dict(text=colour_label, side="right")), hoverinfo="skip"))
    xs, ys = [], []
    for k, m in enumerate(melodies):
        r, c = divmod(k, n)
        for note in tokens_to_notes(m.tokens):
            y = r + 0.38 - 0.76 * (note.pitch - lo) / max(hi - lo, 1)
            xs += [c - 0.45 + 0.9 * note.start / m.n_steps, c - 0.45 + 0.9 * note.end / m.n_steps, None]
            ys += [y, y, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#222", width=3), hoverinfo="skip"))
    centres = [divmod(k, n) for k in range(n * n)]
    fig.add_trace(go.Scatter(  # one clickable point per cell
        x=[c for _, c in centres], y=[r for r, _ in centres], mode="markers+text", text=labels,
        textposition="top left", customdata=labels, hovertemplate="cell %{customdata}<extra></extra>",
        marker=dict(size=90, symbol="square", color="rgba(0,0,0,0.002)", line=dict(width=0)),
        textfont=dict(size=11, color="#d62728")))
    fig.update_layout(height=140 * n + 20, width=140 * n + 170, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                      xaxis=dict(visible=False, range=[-0.5, n - 0.5]),
                      yaxis=dict(visible=False, range=[n - 0.5, -0.5], scaleanchor="x"))
    return fig
