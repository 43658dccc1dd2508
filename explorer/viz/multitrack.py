"""Figures of the Style transfer page (MIDI-VAE): a multi-track piano roll and the map of the bars'
style dims. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.music.multitrack_midi import FAMILIES, voice_notes

VOICE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def roll_figure(rolls: dict, title: str) -> go.Figure:
    """A multi-track piano roll: a bar per note, colour = voice, opacity = velocity, hover = instrument."""
    fig = go.Figure()
    n, v, s = rolls["pitch"].shape
    for k in range(v):
        notes = voice_notes(rolls["pitch"][:, k].reshape(-1), rolls["velocity"][:, k].reshape(-1))
        if not notes:
            continue
        fam = FAMILIES[int(np.bincount(rolls["instrument"][:, k], minlength=16).argmax())]
        fig.add_trace(go.Bar(
            x=[b - a for _, a, b, _ in notes], base=[a for _, a, _, _ in notes], y=[p for p, *_ in notes],
            orientation="h", name=f"voice {k + 1} · {fam}", marker_color=VOICE_COLOURS[k % 4],
            marker_opacity=[0.3 + 0.7 * vel / 127 for *_, vel in notes], width=0.8,
            hovertemplate=f"voice {k + 1} ({fam}): pitch %{{y}}, step %{{base}}, velocity %{{customdata}}<extra></extra>",
            customdata=[vel for *_, vel in notes]))
    fig.update_layout(title=title, barmode="overlay", height=300, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="16th step", yaxis_title="MIDI pitch", legend=dict(orientation="h"))
    for b in range(0, n * s + 1, s):
        fig.add_vline(x=b, line_width=0.5, line_color="#bbb")
    return fig


def style_map_figure(before: np.ndarray, after: np.ndarray, styles) -> go.Figure:
    """The style dims (first two) of each bar as it is and transferred, numbered by bar."""
    fig = go.Figure()
    for z, label in ((before, "bars as they are"), (after, "bars transferred")):
        fig.add_trace(go.Scatter(x=z[:, 0], y=z[:, 1], mode="markers+text", name=label,
                                 text=[str(i + 1) for i in range(len(z))], textposition="top center"))
    fig.update_layout(height=340, xaxis_title=f"style dim 0 ({styles[0]})", yaxis_title=f"style dim 1 ({styles[1]})",
                      margin=dict(l=10, r=10, t=20, b=10))
    return fig
