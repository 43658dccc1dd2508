"""Map axes that one far-out point cannot squash."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.viz.map_axes import far_out, robust_axes, robust_range


def test_range_drops_far_out_values_only():
    v = np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 100])  # quartiles 2 and 6: fences at -10 and 18
    assert robust_range(v) == (0.0, 7.0)
    assert robust_range(v[:-1]) == (0.0, 7.0)
    assert far_out(np.column_stack([v, np.zeros_like(v)])).tolist() == [False] * 8 + [True]
    with pytest.raises(ValueError, match="at least one value"):
        robust_range(np.array([]))


def test_axes_follow_the_bulk_when_one_point_is_far_out():
    rng = np.random.default_rng(0)
    xy = rng.standard_normal((500, 2))
    fig = go.Figure(go.Scatter(x=xy[:, 0], y=xy[:, 1]))
    assert robust_axes(fig, xy) == 0 and fig.layout.xaxis.range is None  # nothing far out: plotly's own range
    xy[7] = [400.0, -300.0]
    assert robust_axes(fig, xy) == 1
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    rest = np.delete(xy, 7, axis=0)
    assert x0 < rest[:, 0].min() and x1 > rest[:, 0].max() and x1 < 10  # every other point inside, 400 outside
    assert y0 < rest[:, 1].min() and y1 > rest[:, 1].max() and y0 > -10
