"""The million-point map's core (explorer/latent/bigmap.py, explorer/viz/bigmap.py) on small arrays
made in code, and the synthetic store script on a few thousand rows."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.latent import bigmap as B
from explorer.viz import bigmap as V


def _subspace_points(n=6000, d=16, seed=0):
    """Points on a 2-D plane of a d-dim space (two clearly different variances) plus tiny noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, 2)))[0].T  # (2, d) orthonormal
    ab = rng.normal(size=(n, 2)) * np.array([5.0, 2.0])
    return (ab @ basis + 3.0 + 0.01 * rng.normal(size=(n, d))).astype(np.float32)


def test_pca_fitted_on_a_sample_equals_pca_fitted_on_all_up_to_sign():
    from sklearn.decomposition import PCA

    X = _subspace_points()
    sampled = B.sample_projection(X, "PCA", sample=500, chunk=1000)
    full = PCA(n_components=2).fit_transform(X)
    assert sampled.shape == (len(X), 2) and sampled.dtype == np.float32
    for j in range(2):
        sign = np.sign(np.dot(sampled[:, j], full[:, j]))
        np.testing.assert_allclose(sign * sampled[:, j], full[:, j], atol=0.05 * np.abs(full[:, j]).max())


def test_the_sample_changes_with_the_seed_and_progress_counts_every_row():
    assert not np.array_equal(B.sample_rows(1000, 50, 0), B.sample_rows(1000, 50, 1))
    assert np.array_equal(B.sample_rows(40, 50), np.arange(40))
    seen = []
    B.sample_projection(_subspace_points(2500), "PCA", sample=300, chunk=1000, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    with pytest.raises(ValueError, match="one of"):
        B.sample_projection(_subspace_points(100), "t-SNE")


def test_the_latent_index_returns_the_true_nearest_points():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 24)).astype(np.float32)
    index = B.LatentIndex(X)
    for i in (0, 17, 4999):
        rows, dist = index.query(X[i], k=5, exclude=i)
        truth = np.argsort(np.linalg.norm(X - X[i], axis=1))[1:6]
        assert list(rows) == list(truth) and i not in rows
        np.testing.assert_allclose(dist, np.linalg.norm(X[truth] - X[i], axis=1), rtol=1e-4)
    q = rng.normal(size=24)
    assert index.query(q, k=1)[0][0] == np.argmin(np.linalg.norm(X - q, axis=1))
    with pytest.raises(ValueError, match="24"):
        index.query(np.zeros(3))


def test_the_point_index_finds_the_point_under_the_pointer_and_the_points_in_a_box():
    rng = np.random.default_rng(1)
    coords = rng.uniform(-10, 10, size=(20000, 2)).astype(np.float32)
    points = B.PointIndex(coords)
    x, y = 1.234, -4.5
    row, _ = points.nearest(x, y)
    assert row[0] == np.argmin(np.hypot(coords[:, 0] - x, coords[:, 1] - y))
    box = points.in_box(2, -1, 0, 3)  # corners in either order
    want = np.flatnonzero((coords[:, 0] >= -1) & (coords[:, 0] <= 2) & (coords[:, 1] >= 0) & (coords[:, 1] <= 3))
    assert np.array_equal(box, want)
    keep = coords[:, 0] > 0
    assert np.array_equal(points.in_box(-1, 2, 0, 3, keep), want[coords[want, 0] > 0])


def test_aggregated_counts_add_up_to_the_points_in_view():
    rng = np.random.default_rng(2)
    coords = np.concatenate([rng.normal(0, 1, (30000, 2)), rng.normal(6, 0.5, (10000, 2))]).astype(np.float32)
    view = V.full_view(coords)
    grid = V.aggregate(coords, view, width=200, height=120)
    assert grid.shape == (120, 200) and grid.sum() == len(coords)
    keep = coords[:, 0] < 3
    assert V.aggregate(coords, view, keep=keep, width=50, height=50).sum() == keep.sum()
    # the dense second blob is in the top right: row 0 of the grid is the bottom of the view
    assert grid[-40:, -60:].sum() > 9000 and grid[:40, -60:].sum() < 100
    mean = V.aggregate(coords, view, values=coords[:, 0], width=200, height=120)
    filled = grid > 0
    assert np.isnan(mean[~filled]).all() and np.nanmax(mean) <= coords[:, 0].max() + 1e-3


def test_the_figure_shows_an_image_until_a_view_holds_few_enough_points_then_real_ones():
    rng = np.random.default_rng(4)
    coords = rng.normal(size=(50000, 2)).astype(np.float32)
    fig, facts = V.bigmap_figure(coords, V.full_view(coords), threshold=1000)
    assert len(fig.layout.images) == 1 and fig.layout.images[0].source.startswith("data:image/png;base64,")
    assert not facts["points_drawn"] and facts["in_view"] == len(coords)
    assert not any(t.customdata is not None for t in fig.data)  # nothing to click but the density
    small = V.View(-0.1, 0.1, -0.1, 0.1)
    fig, facts = V.bigmap_figure(coords, small, threshold=1000, values=coords[:, 0], label="x",
                                 hover=lambda rows: [f"#{r}" for r in rows])
    inside = np.flatnonzero(small.contains(coords))
    pts = next(t for t in fig.data if t.customdata is not None)
    assert facts["points_drawn"] and facts["in_view"] == len(inside)
    assert sorted(int(r[0]) for r in pts.customdata) == inside.tolist()
    assert list(fig.layout.xaxis.range) == [-0.1, 0.1]
    assert any(t.marker.showscale for t in fig.data if t.marker is not None)  # the colour bar


def test_filters_on_a_million_row_text_column_look_at_distinct_values():
    titles = B.TextColumn(np.array(["The Drowsy Maggie", "Reel of Tulloch", "drowsy", "Jig"] * 250))
    assert B.filter_mask(1000, titles=titles, title="DROWSY").sum() == 500
    sources = B.TextColumn(np.array(["a", "b"] * 500))
    attrs = {"x": np.arange(1000, dtype=np.float32)}
    keep = B.filter_mask(1000, sources=sources, chosen_sources=["a"], ranges={"x": (10, 19)}, attrs=attrs)
    assert np.flatnonzero(keep).tolist() == [10, 12, 14, 16, 18]
    with pytest.raises(KeyError, match="there are"):
        B.filter_mask(1000, ranges={"y": (0, 1)}, attrs=attrs)
