"""Maps shipped with the app (assets/projections): found only when model, data, rows, latent and
settings all match; float16 files; a damaged file is a miss."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from explorer.latent import projection as P
from explorer.latent import shipped as S
from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.checkpoint import save_checkpoint
from explorer.models.trained import TrainedModel
from test_projection import tiny_dataset


@pytest.fixture(autouse=True)
def _dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(S, "shipped_dir", lambda: tmp_path / "projections")


def tiny_model(folder, seed=0) -> TrainedModel:
    torch.manual_seed(seed)
    path = save_checkpoint(folder / "arvae-tiny.safetensors", ARVAE(ARVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8)))
    return TrainedModel.load(path, device="cpu")


def test_a_shipped_map_is_read_back_only_when_everything_matches(tmp_path, monkeypatch):
    tm, ds = tiny_model(tmp_path / "a"), tiny_dataset(60)
    rows = P.subset_rows(len(ds), 50)
    file = S.build_shipped(tm, ds, rows, params={"t-SNE": {"perplexity": 10}})
    assert file == tmp_path / "projections" / "arvae-tiny.npz"
    with np.load(file) as npz:
        coords = [npz[k] for k in npz.files if ":" not in k and k != "index"]
    assert len(coords) == 2 and all(c.dtype == np.float16 and c.shape == (50, 2) for c in coords)

    X = P.dataset_latents(tm, ds, rows)
    monkeypatch.setitem(P.METHODS, "PCA", P.Method(lambda *a: pytest.fail("computed"), P.METHODS["PCA"].restore, {"seed": 0}))
    pca = S.load_shipped(tm, ds, rows, P.WHOLE_Z, "PCA")
    assert pca.from_disk and pca.coords.shape == (50, 2)
    want = (X - X.mean(0)) @ np.linalg.svd(X - X.mean(0), full_matrices=False)[2][:2].T
    np.testing.assert_allclose(np.abs(pca.coords), np.abs(want), atol=2e-3)  # PCA up to sign, float16
    np.testing.assert_allclose(pca.transform(X[:3], X), pca.coords[:3], atol=2e-3)  # its stored axes place points
    tsne = S.load_shipped(tm, ds, rows, P.WHOLE_Z, "t-SNE", {"perplexity": 10, "n_jobs": 2})  # threads: no matter
    assert tsne is not None and np.isfinite(tsne.transform(X[:2] + 0.01, X)).all()

    # a copy of the checkpoint (another path, another mtime) is the same model
    copy = tmp_path / "b" / "arvae-tiny.safetensors"
    copy.parent.mkdir()
    shutil.copy(tm.path, copy)
    assert S.load_shipped(TrainedModel.load(copy, device="cpu"), ds, rows, P.WHOLE_Z, "PCA") is not None
    # anything else misses
    assert S.load_shipped(tm, ds, rows, P.WHOLE_Z, "t-SNE") is None  # other perplexity
    assert S.load_shipped(tm, ds, rows[:40], P.WHOLE_Z, "PCA") is None
    assert S.load_shipped(tm, tiny_dataset(60, seed=1), rows, P.WHOLE_Z, "PCA") is None
    assert S.load_shipped(tiny_model(tmp_path / "c", seed=1), ds, rows, P.WHOLE_Z, "PCA") is None
    file.write_bytes(b"not a zip")
    assert S.load_shipped(tm, ds, rows, P.WHOLE_Z, "PCA") is None


def test_maps_of_every_latent_group_are_shipped_and_a_model_without_file_has_none(tmp_path):
    from explorer.models.ec2vae import EC2VAE, EC2VAEConfig

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "ec2vae-tiny.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=8, z2_dims=8)))
    tm, ds = TrainedModel.load(path, device="cpu"), tiny_dataset(30)
    rows = P.subset_rows(len(ds))
    S.build_shipped(tm, ds, rows, methods=("PCA",))
    for group in (P.WHOLE_Z, "pitch", "rhythm"):
        assert S.load_shipped(tm, ds, rows, group, "PCA") is not None
    assert S.load_shipped(tm, ds, rows, "pitch", "t-SNE") is None
    unsaved = TrainedModel(tm.model)
    assert S.shipped_key(unsaved, ds, rows, "pitch", "PCA", {}) is None
    with pytest.raises(ValueError, match="not loaded from a checkpoint file"):
        S.build_shipped(unsaved, ds, rows)


def test_every_shipped_model_has_its_maps_of_the_default_data_shipped(monkeypatch):
    """A checkpoint replaced in assets/ without `explorer project` would fall back to computing."""
    from explorer.data.default import load_default
    from explorer.models.checkpoint import available_checkpoints
    from explorer.paths import assets_dir

    monkeypatch.setattr(S, "shipped_dir", lambda: assets_dir() / "projections")
    shipped = {n: p for n, p in available_checkpoints().items() if p.parent == assets_dir() / "checkpoints"}
    assert shipped
    for name, path in shipped.items():
        tm = TrainedModel.load(path, device="cpu")
        ds = load_default(bars=tm.n_steps // 16)
        rows = P.subset_rows(len(ds))
        for group in (P.WHOLE_Z, *tm.layout.groups):
            for method in S.SHIPPED_METHODS:
                assert S.load_shipped(tm, ds, rows, group, method) is not None, (
                    f"no shipped {method} map of {group} for {name}: run `explorer project {name}` and commit "
                    f"assets/projections/{name}.npz")
