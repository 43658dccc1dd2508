"""A plotly piano roll of one or more melodies on the step grid."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.music.melody import STEPS_PER_BAR, STEPS_PER_QUARTER, Melody, tokens_to_notes

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def pitch_name(p: int) -> str:
    return f"{NOTE_NAMES[p % 12]}{p // 12 - 1}"


def pianoroll_figure(melodies, *, labels=None, height: int = 300, show_chords: bool = True,
                     title: str | None = None) -> go.Figure:
    """Piano roll of ``melodies`` (a Melody or a list) laid end to end.

    x is in bars (1 = the first downbeat), y in MIDI pitch. Each melody gets a
    boundary line and its label; chord tones are drawn as pale bands.
    """
    if isinstance(melodies, Melody):
        melodies = [melodies]
    labels = labels or [None] * len(melodies)
    fig = go.Figure()
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
            _chord_bands(fig, np.asarray(m.chroma), offset)
        if k > 0:
            fig.add_vline(x=offset / STEPS_PER_BAR, line_width=2, line_color="#444")
        if lab:
            fig.add_annotation(x=(offset + m.n_steps / 2) / STEPS_PER_BAR, y=1.08, yref="paper", text=lab,
                               showarrow=False)
        offset += m.n_steps
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(width=9, color="#1f77b4"), text=text,
                             hoverinfo="text", name="melody", connectgaps=False))
    lo, hi = (min(all_p) - 3, max(all_p) + 3) if all_p else (55, 80)
    for b in range(0, offset + 1, STEPS_PER_BAR):
        fig.add_vline(x=b / STEPS_PER_BAR, line_width=0.5, line_color="#bbb")
    fig.update_layout(
        height=height, margin=dict(l=40, r=10, t=40 if (title or any(labels)) else 10, b=30), showlegend=False,
        title=title, xaxis=dict(title="bar", range=[0, max(offset, 1) / STEPS_PER_BAR]),
        yaxis=dict(title="pitch", range=[lo, hi], tickvals=list(range(12 * (lo // 12), hi + 1, 12)),
                   ticktext=[pitch_name(p) for p in range(12 * (lo // 12), hi + 1, 12)]),
    )
    return fig


def _chord_bands(fig, chroma, offset):
    start = 0
    for t in range(1, len(chroma) + 1):
        if t == len(chroma) or not np.array_equal(chroma[t], chroma[start]):
            pcs = np.flatnonzero(chroma[start])
            if len(pcs):
                name = " ".join(NOTE_NAMES[p] for p in pcs)
                fig.add_vrect(x0=(offset + start) / STEPS_PER_BAR, x1=(offset + t) / STEPS_PER_BAR,
                              fillcolor="#ff7f0e", opacity=0.06 + 0.04 * (len(pcs) > 0), line_width=0,
                              annotation_text=name, annotation_position="bottom left",
                              annotation_font_size=9)
            start = t
