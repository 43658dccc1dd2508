"""Figures of the Performance style page: tempo and velocity against deadpan, a piano roll of
performed notes, and the map of the known performances' styles. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def curves_figure(r, dead) -> go.Figure:
    """Tempo (beats per minute, per beat) and velocity (per note) over score time, against deadpan."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Tempo (score beats per minute)", "Velocity"))
    bx, bpm = r.beat_tempo()
    dx, dbpm = dead.beat_tempo()
    fig.add_trace(go.Scatter(x=bx, y=bpm, mode="lines", name="this style", line=dict(color="#d62728")), 1, 1)
    fig.add_trace(go.Scatter(x=dx, y=dbpm, mode="lines", name="deadpan", line=dict(color="grey", dash="dash")), 1, 1)
    on = r.score.note_array["onset_beat"]
    fig.add_trace(go.Scatter(x=on, y=r.notes["velocity"], mode="markers", marker=dict(size=4, color="#d62728"),
                             name="velocity", showlegend=False), 2, 1)
    fig.add_trace(go.Scatter(x=on, y=dead.notes["velocity"], mode="lines", line=dict(color="grey", dash="dash"),
                             showlegend=False), 2, 1)
    fig.update_xaxes(title_text="score time (beats)", row=2, col=1)
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.08))
    return fig


def roll_figure(notes, title="") -> go.Figure:
    """A piano roll of performed notes (seconds × pitch), darker = louder."""
    fig = go.Figure()
    for lo, hi, colour in ((0, 50, "#9ecae1"), (50, 75, "#4292c6"), (75, 100, "#08519c"), (100, 128, "#08306b")):
        sel = (notes["velocity"] >= lo) & (notes["velocity"] < hi)
        x = np.column_stack([notes["onset_sec"][sel], notes["onset_sec"][sel] + notes["duration_sec"][sel],
                             np.full(sel.sum(), np.nan)]).ravel()
        y = np.repeat(notes["pitch"][sel], 3).astype(float)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(width=5, color=colour),
                                 name=f"velocity {lo}–{hi - 1}", connectgaps=False))
    fig.update_layout(height=300, title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis_title="seconds", yaxis_title="MIDI pitch")
    return fig


def style_map_figure(ps, colour: str, current=None) -> go.Figure:
    """PCA of the known performances' style z, coloured by ``colour``; the current style as a star."""
    z = ps.style_z
    mean = z.mean(0)
    basis = np.linalg.svd(z - mean, full_matrices=False)[2][:2]
    xy = (z - mean) @ basis.T
    fig = go.Figure()
    labels = np.array([lab.get(colour) or "—" for lab in ps.style_labels])
    for value in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == value)
        fig.add_trace(go.Scatter(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=value, customdata=rows[:, None],
                                 text=[ps.style_labels[i]["name"] for i in rows], hovertemplate="%{text}<extra></extra>",
                                 marker=dict(size=9)))
    if current is not None:
        c = (np.asarray(current) - mean) @ basis.T
        fig.add_trace(go.Scatter(x=[c[0]], y=[c[1]], mode="markers", name="current style",
                                 marker=dict(symbol="star", size=18, color="black")))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="PC 1", yaxis_title="PC 2",
                      legend=dict(orientation="h", y=-0.15))
    return fig
