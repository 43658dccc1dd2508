"""Axes of a 2-D map that follow the bulk of its points, so one far-out point cannot squash
the rest into a corner (a 16-bar t-SNE or PCA map often has a few). No Streamlit here."""
from __future__ import annotations

import numpy as np

#: Tukey's "far out" fence: points beyond the quartiles by more than this many inter-quartile ranges.
FAR_OUT = 3.0


def robust_range(values: np.ndarray, k: float = FAR_OUT) -> tuple[float, float]:
    """(low, high) of the values (N,) that are not far out: within the quartiles widened by ``k``
    inter-quartile ranges."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("robust_range needs at least one value")
    q1, q3 = np.percentile(v, [25, 75])
    inside = v[(v >= q1 - k * (q3 - q1)) & (v <= q3 + k * (q3 - q1))]
    return float(inside.min()), float(inside.max())


def far_out(xy: np.ndarray, k: float = FAR_OUT) -> np.ndarray:
    """Mask (N,) of the points of ``xy`` (N, 2) outside :func:`robust_range` on either axis."""
    xy = np.asarray(xy, np.float64)
    mask = np.zeros(len(xy), bool)
    for j in range(xy.shape[1] if len(xy) else 0):
        lo, hi = robust_range(xy[:, j], k)
        mask |= (xy[:, j] < lo) | (xy[:, j] > hi)
    return mask


def robust_axes(fig, xy: np.ndarray, k: float = FAR_OUT, pad: float = 0.04) -> int:
    """Fit the axes of ``fig`` to the points ``xy`` (N, 2) that are not far out (with a margin of
    ``pad`` of the span); leave plotly's automatic range when none is. Returns how many points
    fall outside the axes (zooming out shows them)."""
    xy = np.asarray(xy, np.float64)
    outside = far_out(xy, k)
    if not outside.any():
        return 0
    for j, update in enumerate((fig.update_xaxes, fig.update_yaxes)):
        lo, hi = robust_range(xy[:, j], k)
        if hi > lo:
            update(range=[lo - pad * (hi - lo), hi + pad * (hi - lo)])
    return int(outside.sum())
