"""Figures of the Attribute sliders page: how the measured attributes follow a swept control.
No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.latent.control import standardise
from explorer.music.attributes import LABELS
from explorer.viz.pianoroll import vline_shape


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
        Where the control's slider stands (a vertical line).
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
    # one unvalidated Figure call with the line as a layout shape: add_trace/add_vline and validation
    # cost ~100 ms per slider move
    fig = go.Figure(_validate=False, data=traces, layout=dict(
        height=380, margin=dict(l=40, r=10, t=30, b=40), xaxis=dict(title=dict(text=xlabel)),
        yaxis=dict(title=dict(text="attribute (std. units of the data)" if reference else "attribute (std. units)")),
        legend=dict(font=dict(size=10)),
        shapes=[vline_shape(current, 1, "#1f77b4", "dot")] if current is not None else []))
    return fig
