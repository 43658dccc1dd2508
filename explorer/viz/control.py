"""Figures of the Attribute sliders page: how the measured attributes follow a swept control.
No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.latent.control import standardise
from explorer.music.attributes import LABELS


def controllability_figure(values, attrs: dict, main: str, *, reference: dict | None = None,
                           current: float | None = None, xlabel: str = "value") -> go.Figure:
    """Measured attributes of a sweep: ``main`` in colour, the others grey.

    Parameters
    ----------
    values : array_like, shape (K,)
        The swept control's values (x).
    attrs : dict of str to array_like
        ``{name: (K,)}`` measured on the decoded outputs.
    main : str
        The attribute the control is meant to move.
    reference : dict, optional
        ``{name: (M,)}`` of a dataset: y is standardised by its mean and std.
    current : float, optional
        Where the control's slider stands (a vertical line: :func:`position_trace`).
    """
    std = standardise(attrs, reference)
    traces = []
    for name in [n for n in attrs if n != main] + [main]:
        is_main = name == main
        traces.append(dict(
            type="scatter", x=list(values), y=std[name], name=LABELS.get(name, name),
            mode="lines+markers" if is_main else "lines",
            line=dict(width=4 if is_main else 1.2, color="#d62728" if is_main else "#aaa"),
            opacity=1.0 if is_main else 0.6, customdata=np.asarray(attrs[name], float),
            hovertemplate=f"{LABELS.get(name, name)}: %{{customdata:.3g}}<extra>%{{x:.2f}}</extra>"))
    if current is not None:
        traces.append(position_trace(current, std))
    # one unvalidated Figure call: add_trace/add_vline and validation cost ~100 ms per slider move
    fig = go.Figure(_validate=False, data=traces, layout=dict(
        height=380, margin=dict(l=40, r=10, t=30, b=40), xaxis=dict(title=dict(text=xlabel)),
        yaxis=dict(title=dict(text="attribute (std. units of the data)" if reference else "attribute (std. units)")),
        legend=dict(font=dict(size=10))))
    return fig


POSITION = "position"  # the name of the trace that marks where the control stands


def position_trace(current: float, std: dict) -> dict:
    """A dotted vertical line at x = ``current`` over the range of the curves ``std`` ({name: (K,)}),
    as a trace named :data:`POSITION` (a page moves it in the browser with ``Plotly.restyle``,
    without sending the figure again)."""
    ys = np.concatenate([np.asarray(v, float).ravel() for v in std.values()]) if std else np.zeros(1)
    ys = ys[np.isfinite(ys)] if np.isfinite(ys).any() else np.zeros(1)
    return dict(type="scatter", x=[float(current)] * 2, y=[float(ys.min()), float(ys.max())], name=POSITION,
                mode="lines", line=dict(width=1, color="#1f77b4", dash="dot"), hoverinfo="skip", showlegend=False)
