"""The figure of a map of a million points: the density (or an attribute's mean) of the points
in a view, aggregated server-side with datashader into an image placed on the data's axes, and
the real points themselves drawn (and clickable) once a view holds few enough of them. No
Streamlit here.

::

    view = full_view(coords)
    fig = bigmap_figure(coords, view, keep=mask, values=attrs["note_density"], label="note density",
                        hover=lambda rows: [...], threshold=20_000)
"""
from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import plotly.graph_objects as go

#: Pixels of the density image (the chart is drawn at about this size).
WIDTH, HEIGHT = 800, 560
#: Real points are drawn (and can be clicked) when a view holds at most this many.
POINT_THRESHOLD = 20_000
#: Cells of the invisible hover grid per side (it says how many points lie under the pointer).
HOVER_CELLS = 48
COLORSCALE = "Viridis"


@dataclass(frozen=True)
class View:
    """A rectangle of the map in data coordinates (x0 < x1, y0 < y1)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def __post_init__(self):
        if not (np.isfinite([self.x0, self.x1, self.y0, self.y1]).all() and self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"a view needs finite x0 < x1 and y0 < y1, got {self}")

    @classmethod
    def of_box(cls, xs, ys) -> "View":
        """The view spanning a box's corners ``xs``, ``ys`` (any order), e.g. a plotly box selection."""
        (x0, x1), (y0, y1) = (min(xs), max(xs)), (min(ys), max(ys))
        return cls(float(x0), float(x1), float(y0), float(y1))

    def zoomed(self, factor: float) -> "View":
        """The view about the same centre, ``factor`` times as wide and high."""
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        hx, hy = (self.x1 - self.x0) * factor / 2, (self.y1 - self.y0) * factor / 2
        return View(cx - hx, cx + hx, cy - hy, cy + hy)

    def contains(self, coords: np.ndarray) -> np.ndarray:
        """(N,) bool: the points ``coords`` (N, 2) inside the view (edges included)."""
        x, y = coords[:, 0], coords[:, 1]
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def full_view(coords: np.ndarray, pad: float = 0.02) -> View:
    """A view holding every point of ``coords`` (N, 2), padded by ``pad`` of its size."""
    lo, hi = np.nanmin(coords, axis=0).astype(np.float64), np.nanmax(coords, axis=0).astype(np.float64)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return View(lo[0], hi[0], lo[1], hi[1])


def aggregate(coords: np.ndarray, view: View, *, values: np.ndarray | None = None, keep: np.ndarray | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The points ``coords`` (N, 2) (those with ``keep`` (N,) True) in ``view`` on a grid of
    ``height`` × ``width`` pixels with datashader: their count per pixel, or with ``values`` (N,)
    the mean of those values (NaN where a pixel holds no point).

    Returns
    -------
    grid : (height, width); row 0 is the view's bottom (y0).
    """
    import datashader as ds
    import pandas as pd

    cols = {"x": coords[:, 0], "y": coords[:, 1]}
    if values is not None:
        cols["v"] = np.asarray(values, np.float32)
    frame = pd.DataFrame(cols, copy=False)
    if keep is not None:
        frame = frame[np.asarray(keep, bool)]
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=(view.x0, view.x1), y_range=(view.y0, view.y1))
    agg = canvas.points(frame, "x", "y", agg=ds.count() if values is None else ds.mean("v"))
    return np.asarray(agg.values)


@functools.lru_cache(maxsize=4)
def _lut(scale: str = COLORSCALE) -> np.ndarray:
    """(256, 3) uint8 colours of a plotly colour scale."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    return np.array([unlabel_rgb(c) for c in sample_colorscale(scale, np.linspace(0, 1, 256))], np.uint8)


def colour_indices(t: np.ndarray) -> np.ndarray:
    """(H, W) uint8 palette indices of ``t`` (H, W) in [0, 1]: 1..255 along the colour scale, 0 for
    NaN (transparent). Row 0 of the result is the top of the picture (the last row of ``t``)."""
    t = np.flipud(t)
    idx = 1 + np.clip(np.nan_to_num(t, nan=0.0) * 254, 0, 254).astype(np.uint8)
    idx[~np.isfinite(t)] = 0
    return idx


def png_data_uri(indices: np.ndarray) -> str:
    """A palette PNG (index 0 transparent, 1..255 the colour scale) of ``indices`` (H, W) as a data URI:
    a quarter of an RGBA image's bytes, so it is encoded and sent quicker."""
    from PIL import Image

    palette = np.vstack([[255, 255, 255], _lut()[np.linspace(0, 255, 255).astype(int)]])
    img = Image.fromarray(np.ascontiguousarray(indices), "P")
    img.putpalette(palette.astype(np.uint8).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def count_scale(grid: np.ndarray) -> tuple[np.ndarray, float]:
    """(t (H, W) in [0, 1] or NaN for empty pixels, the largest count): counts on a log scale."""
    top = float(grid.max()) if grid.size else 0.0
    t = np.log1p(grid.astype(np.float64)) / np.log1p(max(top, 1.0))
    return np.where(grid > 0, t, np.nan), top


def value_scale(grid: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """t (H, W) in [0, 1] of mean values between ``lo`` and ``hi`` (NaN stays NaN)."""
    return np.clip((grid - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def _colour_bar(view: View, *, title: str, cmin: float, cmax: float, log_counts: bool) -> go.Scatter:
    """An invisible one-point trace that carries the colour bar of the image."""
    bar = dict(title=dict(text=title, side="right"), thickness=12)
    if log_counts:  # the image's t is log1p(count) / log1p(top): ticks at round counts
        ticks = [c for c in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if c <= max(cmax, 1)]
        bar.update(tickvals=[np.log1p(c) for c in ticks], ticktext=[f"{c:,}" for c in ticks])
        cmin, cmax = 0.0, float(np.log1p(max(cmax, 1)))
    return go.Scatter(x=[view.x0], y=[view.y0], mode="markers", hoverinfo="skip", showlegend=False, name="scale",
                      marker=dict(size=1, opacity=0, color=[cmin], cmin=cmin, cmax=cmax, colorscale=COLORSCALE,
                                  showscale=True, colorbar=bar))


def _hover_grid(coords, view: View, keep) -> go.Scatter:
    """Invisible markers at the centres of a coarse grid's non-empty cells, saying how many points
    each holds; they also give a box selection something to select (and carry no customdata)."""
    grid = aggregate(coords, view, keep=keep, width=HOVER_CELLS, height=HOVER_CELLS)
    iy, ix = np.nonzero(grid)
    cx = view.x0 + (ix + 0.5) * (view.x1 - view.x0) / HOVER_CELLS
    cy = view.y0 + (iy + 0.5) * (view.y1 - view.y0) / HOVER_CELLS
    return go.Scatter(x=cx, y=cy, mode="markers", name="density", showlegend=False, text=grid[iy, ix],
                      hovertemplate="%{text:,} points here<extra></extra>",
                      marker=dict(size=max(WIDTH // HOVER_CELLS, 4), opacity=0, symbol="square"))


def bigmap_figure(coords: np.ndarray, view: View, *, keep: np.ndarray | None = None,
                  values: np.ndarray | None = None, label: str = "points", value_range: tuple | None = None,
                  hover: Callable[[np.ndarray], list[str]] | None = None, threshold: int = POINT_THRESHOLD,
                  rings: dict | None = None, revision: str = "") -> tuple[go.Figure, dict]:
    """The map of ``coords`` (N, 2) in ``view``: the density image (count per pixel, or the mean of
    ``values`` (N,) in ``value_range`` (low, high) with a colour bar named ``label``) of the points
    kept by ``keep`` (N,); the real points as a WebGL scatter whose ``customdata`` is the row when the
    view holds at most ``threshold`` of them (``hover(rows)`` gives their hover lines); ``rings``
    (name → (xy (K, 2), marker dict)) drawn on top.

    Returns
    -------
    (figure, facts) where facts = {"in_view": points kept in the view, "points_drawn": bool,
    "max_count": the largest pixel count}.
    """
    keep = np.ones(len(coords), bool) if keep is None else np.asarray(keep, bool)
    inside = view.contains(coords) & keep
    n_in = int(inside.sum())
    grid = aggregate(coords, view, keep=keep)
    fig = go.Figure()
    if values is None:
        t, top = count_scale(grid)
        fig.add_trace(_colour_bar(view, title="points per pixel", cmin=0, cmax=top, log_counts=True))
    else:
        mean = aggregate(coords, view, values=values, keep=keep)
        lo, hi = value_range or (float(np.nanmin(values)), float(np.nanmax(values)))
        t, top = value_scale(mean, lo, hi), float(grid.max())
        fig.add_trace(_colour_bar(view, title=label, cmin=lo, cmax=hi, log_counts=False))
    draw_points = 0 < n_in <= threshold
    fig.add_layout_image(source=png_data_uri(colour_indices(t)), xref="x", yref="y", x=view.x0, y=view.y1,
                         sizex=view.x1 - view.x0, sizey=view.y1 - view.y0, sizing="stretch", xanchor="left",
                         yanchor="top", layer="below", opacity=0.35 if draw_points else 1.0)
    if not draw_points:  # with the real points drawn, a click must land on them, not on a grid cell
        fig.add_trace(_hover_grid(coords, view, keep))
    else:
        rows = np.flatnonzero(inside)
        colour = dict(color=values[rows], colorscale=COLORSCALE, cmin=value_range[0] if value_range else None,
                      cmax=value_range[1] if value_range else None) if values is not None else dict(color="#1f3b73")
        fig.add_trace(go.Scattergl(x=coords[rows, 0], y=coords[rows, 1], mode="markers", name="segments",
                                   customdata=rows[:, None], showlegend=False,
                                   text=hover(rows) if hover is not None else None,
                                   hovertemplate=("%{text}" if hover is not None else "segment #%{customdata[0]}")
                                   + "<extra></extra>",
                                   marker=dict(size=6 if n_in < 2000 else 4, opacity=0.9, **colour)))
    for name, (xy, marker) in (rings or {}).items():
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, hoverinfo="skip",
                                 marker=dict(symbol=marker["symbol"], size=marker["size"], color=marker["colour"],
                                             line=dict(width=3, color=marker["colour"]))))
    # "pan": a new view (each zoom) leaves Box Select, so the next click selects a point (Streamlit turns
    # clicks into selections only outside the select and lasso modes)
    fig.update_layout(height=HEIGHT + 60, margin=dict(l=10, r=10, t=10, b=10), dragmode="pan",
                      uirevision=revision or f"{view}", plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    fig.update_xaxes(range=[view.x0, view.x1], showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=[view.y0, view.y1], showgrid=False, zeroline=False)
    return fig, {"in_view": n_in, "points_drawn": draw_points, "max_count": top}
