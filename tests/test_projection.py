"""Latent maps without Streamlit: subsets, encoding, projections, the disk cache, neighbours."""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.data.dataset import SegmentDataset
from explorer.latent import projection as P
from explorer.latent.cache import entry_path, load_arrays, save_arrays
from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.checkpoint import save_checkpoint
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.models.trained import TrainedModel
from explorer.music.melody import HOLD, REST
from explorer.paths import content_key

# three points on x, two on y: the first principal axis is x, the second y
PLUS = np.array([[-2, 0, 0], [-1, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [0, -1, 0]], np.float32)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))


def tiny_dataset(n: int = 40, seed: int = 0) -> SegmentDataset:
    """n random 2-bar segments (pitches 60-72, holds, rests) in n // 4 tunes."""
    rng = np.random.default_rng(seed)
    tok = rng.choice(np.r_[np.arange(60, 73), [HOLD] * 8, [REST] * 3], size=(n, 32)).astype(np.uint8)
    tok[:, 0] = 60
    tunes = max(n // 4, 1)
    return SegmentDataset(tok, np.zeros((n, 32, 12), np.uint8), np.arange(n, dtype=np.int32) % tunes,
                          np.zeros(n, np.int32), np.zeros(n, np.int8), np.array(["test"] * tunes),
                          np.array([f"t{i}" for i in range(tunes)]), np.array([f"Tune {i}" for i in range(tunes)]),
                          np.full(tunes, 120.0, np.float32), np.array(["train"] * tunes))


@pytest.fixture
def arvae(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "models" / "arvae-tiny.safetensors",
                           ARVAE(ARVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8)))
    return TrainedModel.load(path, device="cpu")


def test_subset_is_deterministic_sorted_and_whole_when_small():
    assert P.subset_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    a, b = P.subset_rows(1000, 100), P.subset_rows(1000, 100)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 100 and (np.diff(a) > 0).all()
    assert P.subset_rows(1000, 100, seed=1).tolist() != a.tolist()
    with pytest.raises(ValueError, match="max_points"):
        P.subset_rows(10, 0)


def test_pca_of_a_plus_sign_finds_its_axes():
    proj = P.project(PLUS, "PCA")
    assert proj.coords.shape == (6, 2)
    np.testing.assert_allclose(np.abs(proj.coords), [[2, 0], [1, 0], [1, 0], [2, 0], [0, 1], [0, 1]], atol=1e-5)
    # placing a new point uses the same axes
    np.testing.assert_allclose(np.abs(proj.transform([[3, 0, 5]], PLUS)), [[3, 0]], atol=1e-5)


def test_disk_cache_hit_returns_the_same_map_without_computing(monkeypatch):
    first = P.project(PLUS, "PCA", key="plus")
    assert not first.from_disk

    def boom(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setitem(P.METHODS, "PCA", replace(P.METHODS["PCA"], fit=boom))
    again = P.project(PLUS, "PCA", key="plus")
    assert again.from_disk
    np.testing.assert_array_equal(again.coords, first.coords)
    # the PCA axes are stored too: placing needs no refit
    np.testing.assert_allclose(again.transform(PLUS[:2], PLUS), first.coords[:2], atol=1e-6)
    with pytest.raises(AssertionError, match="computed again"):
        P.project(PLUS, "PCA", key="another")  # another key is a miss


def test_projection_key_depends_on_method_parameters_and_data_but_not_threads():
    base = P.projection_key("t-SNE", P.method_params("t-SNE"), ("lat", "whole z"))
    assert base == P.projection_key("t-SNE", P.method_params("t-SNE", {"n_jobs": 4}), ("lat", "whole z"))
    assert base != P.projection_key("t-SNE", P.method_params("t-SNE", {"perplexity": 10}), ("lat", "whole z"))
    assert base != P.projection_key("t-SNE", P.method_params("t-SNE"), ("lat", "pitch"))
    assert base != P.projection_key("PCA", P.method_params("PCA"), ("lat", "whole z"))


def test_unknown_method_or_parameter_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown projection method 'MDS'.*PCA"):
        P.project(PLUS, "MDS")
    with pytest.raises(ValueError, match="perplexity"):
        P.method_params("PCA", {"perplexity": 5})
    with pytest.raises(ValueError, match=r"N ≥ 2"):
        P.project(PLUS[:1], "PCA")


def test_latent_key_changes_with_the_model_file_the_data_and_the_rows(arvae, tmp_path):
    ds = tiny_dataset()
    rows = P.subset_rows(len(ds), 20)
    key = P.latent_key(arvae, ds, rows)
    assert key == P.latent_key(arvae, tiny_dataset(), rows)
    other = tiny_dataset()
    other.tokens[3, 5] = REST if other.tokens[3, 5] != REST else HOLD
    assert P.latent_key(arvae, other, rows) != key
    chords = tiny_dataset()
    chords.chroma[0, 0, 0] = 1
    assert P.latent_key(arvae, chords, rows) != key
    assert P.latent_key(arvae, ds, rows[:-1]) != key
    st = arvae.path.stat()
    os.utime(arvae.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file was rewritten
    assert P.latent_key(arvae, ds, rows) != key


def test_fingerprint_of_a_model_without_file_follows_its_weights():
    torch.manual_seed(0)
    tm = TrainedModel(ARVAE(ARVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8)), device="cpu")
    fp = P.model_fingerprint(tm)
    assert fp.startswith("weights:") and fp == P.model_fingerprint(tm)
    with torch.no_grad():
        next(tm.model.parameters()).add_(1.0)
    assert P.model_fingerprint(tm) != fp


def test_dataset_latents_are_means_encoded_once_then_read_from_disk(arvae, monkeypatch):
    ds = tiny_dataset(40)
    rows = P.subset_rows(len(ds), 30)
    ticks = []
    mu = P.dataset_latents(arvae, ds, rows, batch_size=16, progress=lambda d, n: ticks.append((d, n)))
    assert mu.shape == (30, 8) and mu.dtype == np.float32
    assert ticks == [(16, 30), (30, 30)]
    np.testing.assert_allclose(mu[2], arvae.encode(ds.tokens[rows[2]], ds.chroma[rows[2]])[1][0], atol=1e-5)
    monkeypatch.setattr(arvae, "encode", lambda *a, **k: pytest.fail("encoded again"))
    np.testing.assert_array_equal(P.dataset_latents(arvae, ds, rows), mu)


def test_damaged_cache_file_is_a_miss(tmp_path):
    save_arrays("projections", "k", coords=np.ones((2, 2)))
    assert load_arrays("projections", "k")["coords"].shape == (2, 2)
    entry_path("projections", "k").write_bytes(b"not a zip")
    assert load_arrays("projections", "k") is None
    assert content_key("ab", "c") != content_key("a", "bc")


def test_tsne_gives_finite_coordinates_and_places_new_points(monkeypatch):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 8)) * 8  # three well-separated clusters
    X = (centres[np.arange(300) % 3] + rng.standard_normal((300, 8))).astype(np.float32)
    proj = P.project(X, "t-SNE", {"n_iter": 250, "perplexity": 20}, key="blobs")
    assert proj.coords.shape == (300, 2) and np.isfinite(proj.coords).all()
    new = X[:3] + 0.05
    placed = proj.transform(new, X)
    assert placed.shape == (3, 2) and np.isfinite(placed).all()
    spread = np.linalg.norm(proj.coords - proj.coords.mean(0), axis=1).mean()
    for j in range(3):  # each copy lands beside its original, well inside the map's spread
        assert np.linalg.norm(placed[j] - proj.coords[j]) < spread / 2
    # from the disk cache, placing rebuilds the neighbour index without another fit
    monkeypatch.setitem(P.METHODS, "t-SNE", replace(P.METHODS["t-SNE"], fit=lambda *a: pytest.fail("refit")))
    again = P.project(X, "t-SNE", {"n_iter": 250, "perplexity": 20}, key="blobs")
    assert again.from_disk and again.mapper is None
    np.testing.assert_allclose(again.transform(new, X), placed, atol=1e-6)


def test_neighbours_are_nearest_first_and_exclude_the_point_itself():
    X = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    idx, dist = P.nearest_neighbours(X, X[1], k=3, exclude=1)
    assert idx.tolist() == [0, 2, 3]
    np.testing.assert_allclose(dist, [1, 2, 5])
    # an identical segment elsewhere is a neighbour at distance 0; only the row itself is left out
    Y = np.array([[0.0], [0.0], [5.0]])
    idx, dist = P.nearest_neighbours(Y, Y[0], k=5, exclude=0)
    assert idx.tolist() == [1, 2] and dist[0] == 0
    idx, _ = P.nearest_neighbours(X, [2.9], k=2)  # a point that is not on the map
    assert idx.tolist() == [2, 1]


def test_groups_select_latent_columns():
    torch.manual_seed(0)
    ec2 = TrainedModel(EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=8, z2_dims=8)), device="cpu")
    assert P.group_columns(ec2.layout, "pitch") == slice(0, 8)
    assert P.group_columns(ec2.layout, "rhythm") == slice(8, 16)
    assert P.group_columns(ec2.layout, P.WHOLE_Z) == slice(0, 16)
    with pytest.raises(KeyError, match="pitch"):
        P.group_columns(ec2.layout, "melody")


def test_correlation_of_constant_values_is_nan():
    assert P.correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert np.isnan(P.correlation([1, 1, 1], [1, 2, 3]))


def test_tsne_runs_the_fast_schedule_and_reports_its_progress():
    """FFT gradients on a coarse grid, 125 + 250 iterations (openTSNE's defaults: 250 + 500, a grid
    that grows with the map: 76 s of CPU for the 10k map of a shipped model against 16.5 s now)."""
    tsne = P._tsne(P.method_params("t-SNE"), 300)
    assert (tsne.negative_gradient_method, tsne.ints_in_interval) == ("fft", 5)
    assert (tsne.early_exaggeration_iter, tsne.n_iter, tsne.initialization) == (125, 250, "pca")
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((3, 6))[np.arange(240) % 3] * 6 + rng.standard_normal((240, 6))).astype(np.float32)
    seen = []
    proj = P.project(X, "t-SNE", {"perplexity": 20}, progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (375, 375) and all(n == 375 for _, n in seen)
    # the three clusters stay apart: most neighbours on the map are neighbours in the latent space
    assert P.neighbour_preservation(X, proj.coords, 5) > 0.5


def test_neighbour_preservation_counts_kept_neighbours():
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    # nearest other in X: p0→p1, p1→p0, p2→p1, p3→p2; on this map (p2 and p3 swapped) p2→p3 and p3→p1
    coords = np.array([[0.0, 0], [1, 0], [7, 0], [3, 0]])
    assert P.neighbour_preservation(X, X @ np.array([[1.0, 0.0]]), 1) == 1.0
    assert P.neighbour_preservation(X, coords, 1) == 0.5
    # a duplicate point: each copy's nearest other is the other copy, whatever order the search returns
    assert P.neighbour_preservation(np.array([[0.0], [0.0], [5.0]]), np.array([[0.0, 0], [0, 0], [9, 9]]), 1) == 1.0
    with pytest.raises(ValueError, match="k must be in 1..3"):
        P.neighbour_preservation(X, coords, 4)


def test_umap_is_installed_and_keeps_clusters_apart():
    """umap-learn is a dependency (pyproject.toml): the map offers UMAP, whose maps keep neighbourhoods,
    are cached, and place new points."""
    assert P.umap_available() and "UMAP" in P.METHODS
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((3, 6))[np.arange(150) % 3] * 6 + rng.standard_normal((150, 6))).astype(np.float32)
    proj = P.project(X, "UMAP", {"n_neighbors": 10}, key="umap-blobs")
    assert proj.coords.shape == (150, 2) and np.isfinite(proj.coords).all()
    assert P.neighbour_preservation(X, proj.coords, 5) > 0.5
    assert P.project(X, "UMAP", {"n_neighbors": 10}, key="umap-blobs").from_disk
    assert np.isfinite(proj.transform(X[:2] + 0.01, X)).all()
