"""Figures of the Latent map page: the data's latent means in 2-D, coloured by an attribute
or a category, with marks for placed or selected points. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.music.attributes import ATTRIBUTES

#: Colourings by category (the others are by attribute): name → label.
CATEGORIES = {"collection": "collection (source)", "split": "split (train / valid / test)"}


def short_name(attr: str) -> str:
    """An attribute's name in words for labels: ``"note_density"`` → ``"note density"``."""
    return attr.replace("_", " ")


def _hover(ds, rows, attrs):
    """customdata (M, 3 + attributes) and the matching hovertemplate."""
    titles = np.array([t or i for t, i in zip(ds.tune_title, ds.tune_id)], dtype=object)[ds.tune[rows]]
    cols = [rows.astype(object), titles, (ds.bar[rows] + 1).astype(object)]
    cols += [np.round(attrs[a][rows], 3).astype(object) for a in ATTRIBUTES]
    template = ("<b>%{customdata[1]}</b><br>bar %{customdata[2]} · segment #%{customdata[0]}<br>"
                + "<br>".join(f"{short_name(a)}: %{{customdata[{3 + j}]}}" for j, a in enumerate(ATTRIBUTES))
                + "<extra></extra>")
    return np.column_stack(cols), template


def _layout(fig, title=None, height=620, revision=None):
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title,
                      uirevision=revision,
                      legend=dict(itemsizing="constant", orientation="h", yanchor="bottom", y=1.0, x=0))
    fig.update_yaxes(scaleanchor="x", scaleratio=1, showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return fig


def map_figure(coords, ds, rows, attrs, colour: str, keep, *, revision=None):
    """The map: points ``coords`` (M, 2) of dataset ``rows`` (M,), the ``keep`` mask
    (M,) after filtering, coloured by an attribute or a category."""
    custom, template = _hover(ds, rows, attrs)
    fig = go.Figure()
    xy, cd, r = coords[keep], custom[keep], rows[keep]
    if colour in CATEGORIES:
        cats = (ds.source if colour == "collection" else ds.split)[r]
        for c in sorted(set(cats.tolist())):
            m = cats == c
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=str(c), customdata=cd[m],
                                       hovertemplate=template, marker=dict(size=5, opacity=0.75)))
    else:
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=short_name(colour), customdata=cd,
                                   hovertemplate=template, showlegend=False,
                                   marker=dict(size=5, opacity=0.8, color=attrs[colour][r], colorscale="Viridis",
                                               colorbar=dict(title=dict(text=short_name(colour), side="right"),
                                                             thickness=12))))
    return _layout(fig, revision=revision)


def mark_trace(xy, *, name, symbol, colour, size, text=None) -> go.Scatter:
    """The points ``xy`` (K, 2) as one legend entry of outlined markers; with ``text`` (K labels)
    they show it on hover, else they take no hover (and no click: no customdata)."""
    return go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, text=text,
                      hovertemplate="%{text}<extra>" + name + "</extra>" if text is not None else None,
                      hoverinfo=None if text is not None else "skip",
                      marker=dict(symbol=symbol, size=size, color=colour, line=dict(width=2, color="black")))


def mark_points(fig, xy, *, name, symbol, colour, size, text=None):
    """Add :func:`mark_trace` of ``xy`` (K, 2) to ``fig``."""
    fig.add_trace(mark_trace(xy, name=name, symbol=symbol, colour=colour, size=size, text=text))


#: The rings of the Latent map's selection: trace name → its markers.
RINGS = {"neighbours": dict(symbol="circle-open", colour="#ff9500", size=14),
         "selected": dict(symbol="circle-open", colour="#ff3b30", size=18)}


def small_map_figure(coords, values, title, label):
    """The points ``coords`` (M, 2) coloured by ``values`` (M,), with a colour bar named ``label``."""
    fig = go.Figure(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers",
                                 hovertemplate="%{marker.color:.3f}<extra></extra>",
                                 marker=dict(size=4, opacity=0.8, color=values, colorscale="Viridis",
                                             colorbar=dict(title=dict(text=label, side="right"), thickness=10))))
    return _layout(fig, title=title, height=440)
