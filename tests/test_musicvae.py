"""MusicVAE (flat and hierarchical), stored attribute vectors, and training under torchrun (DDP, gloo)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.latent.control import steer
from explorer.models.checkpoint import save_checkpoint
from explorer.models.musicvae import HierarchicalMusicVAE, HierarchicalMusicVAEConfig, MusicVAE, MusicVAEConfig
from explorer.models.trained import TrainedModel
from clip_players import audio_players

TINY = dict(hidden_dims=24, embed_dims=8, z_dims=6)


def _tiny(hierarchical: bool, n_step: int):
    if hierarchical:
        return HierarchicalMusicVAE(HierarchicalMusicVAEConfig(n_step=n_step, conductor_dims=12, **TINY))
    return MusicVAE(MusicVAEConfig(n_step=n_step, **TINY))


@pytest.mark.parametrize("hierarchical,n_step", [(False, 32), (True, 64)])
def test_parallel_teacher_forcing_matches_step_by_step_generation(hierarchical, n_step):
    """Training runs the LSTMs over whole sequences; generation steps one token at a time (and, in
    the hierarchical model, restarts the bar decoder every bar, carrying the last token over).
    Fed its own greedy output as the target, the parallel path must give the same predictions."""
    torch.manual_seed(0)
    model = _tiny(hierarchical, n_step).eval()
    z = torch.randn(5, 6)
    with torch.no_grad():
        gen = model.decode(z)
        tf = model.decode(z, target=gen.tokens, teacher_forcing=1.0)
    assert gen.tokens.shape == (5, n_step) and gen.logits.shape == (5, n_step, 130)
    torch.testing.assert_close(tf.logits, gen.logits, atol=1e-5, rtol=1e-4)
    assert torch.equal(tf.tokens, gen.tokens)


def test_hierarchical_bars_follow_their_conductor_embedding():
    """Each bar is decoded from its own conductor embedding: changing only the last bar's
    embedding changes the last bar's predictions and leaves the bars before it alone."""
    torch.manual_seed(1)
    model = _tiny(True, 64).eval()
    z = torch.randn(3, 6)
    target = torch.randint(0, 130, (3, 64))
    with torch.no_grad():
        base = model._logp_given_prev(z, target)
        bars = model.bar_embeddings(z)
        bars2 = bars.clone()
        bars2[:, -1] += 1.0
        model.bar_embeddings = lambda _z: bars2
        moved = model._logp_given_prev(z, target)
    torch.testing.assert_close(moved[:, :48], base[:, :48])
    assert (moved[:, 48:] - base[:, 48:]).abs().max() > 1e-3


def test_loss_terms_free_bits_and_beta_annealing():
    model = _tiny(False, 32)
    tokens = torch.randint(0, 130, (4, 32))
    terms = model.loss(tokens, step=0)
    assert set(terms) >= {"loss", "nll", "kl", "beta", "tf"}
    assert float(terms["beta"]) == 0.0  # annealed from 0
    assert model.beta_at(2_000_000) == pytest.approx(model.config.beta, rel=1e-3)
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    late = model.loss(tokens, step=2_000_000)
    assert float(late["loss"].detach()) == pytest.approx(float(late["nll"]) + 0.2 * float(late["kl"]) / 32, rel=1e-4)
    # KL under the free bits costs nothing: at β > 0 the loss is the NLL alone
    free = HierarchicalMusicVAE(HierarchicalMusicVAEConfig(n_step=32, conductor_dims=12, **TINY))
    late = free.loss(tokens, step=2_000_000)
    assert float(late["kl"]) < free.config.free_bits * np.log(2)
    assert float(late["loss"].detach()) == pytest.approx(float(late["nll"]), rel=1e-5)


def test_k_zero_keeps_full_teacher_forcing_and_skips_the_guess_pass(monkeypatch):
    """``--tf-k 0``: magenta's 16-bar configs train with the true previous token at every step; then the
    no-gradient guess pass of parallel scheduled sampling is not run at all."""
    from dataclasses import replace
    model = _tiny(True, 32)
    model.config = replace(model.config, k=0.0)
    assert model.teacher_forcing_at(0) == model.teacher_forcing_at(10**7) == 1.0
    passes = []
    real = model._logp_given_prev
    monkeypatch.setattr(model, "_logp_given_prev", lambda z, prev: passes.append(1) or real(z, prev))
    terms = model.train().loss(torch.randint(0, 130, (3, 32)), step=50_000)
    assert float(terms["tf"]) == 1.0 and len(passes) == 1
    model.config = replace(model.config, k=200.0)  # a decaying schedule runs the guess pass first
    model.loss(torch.randint(0, 130, (3, 32)), step=50_000)
    assert len(passes) == 3


def _small_data(tmp_path, n_train=192, n_valid=32, n_test=32):
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:n_train], np.flatnonzero(ds.split == "valid")[:n_valid],
                           np.flatnonzero(ds.split == "test")[:n_test]])
    return ds.subset(rows).save(tmp_path / "small.npz")


def test_musicvae_trains_on_real_melodies_and_its_loss_falls(tmp_path, one_torch_thread):
    small = _small_data(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "explorer", "train", "musicvae", "--data", str(small), "--out", str(out), "--hidden", "32",
           "--batch", "32", "--device", "cpu", "--threads", "1", "--quiet", "--epochs", "4", "--lr", "3e-3",
           "--set", "z_dims=8", "--set", "embed_dims=16"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    hist = json.loads((out / "summary.json").read_text())["history"]
    assert hist[-1]["val_nll"] < hist[0]["val_nll"] - 0.1
    tm = TrainedModel.load(out / "best.safetensors", device="cpu")
    assert tm.name == "musicvae" and tm.layout.dims == 8 and tm.n_steps == 32
    bad = subprocess.run(cmd[:-2] + ["--set", "no_such_field=1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no_such_field" in bad.stderr


def test_stored_attribute_vectors_steer_z(tmp_path):
    """`explorer ship` stores one vector per attribute in the checkpoint; TrainedModel reads them
    back, steer moves z with them, and eval reports what each does to the decoded melodies."""
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "m.safetensors", _tiny(False, 32))
    small = _small_data(tmp_path, n_train=64, n_valid=16)
    shipped = tmp_path / "shipped.safetensors"
    proc = subprocess.run([sys.executable, "-m", "explorer", "ship", str(path), "--data", str(small), "--out", str(shipped),
                           "--limit", "64", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tm = TrainedModel.load(shipped, device="cpu")
    vecs = tm.attribute_vectors
    assert "note_density" in vecs and "pitch_range" in vecs and vecs["note_density"].shape == (6,)
    z = np.zeros((2, 6), np.float32)
    np.testing.assert_allclose(steer(z, vectors=vecs, amounts={"note_density": -2.0}),
                               -2.0 * np.stack([vecs["note_density"]] * 2))
    with pytest.raises(KeyError, match="no attribute vector 'loudness'"):
        tm.attribute_vector("loudness")
    effects = tm.card["eval"]["attribute_vectors"]["per_attribute"]
    assert set(effects) == set(vecs)
    assert {"delta", "delta_std", "increased", "others_abs_delta_std", "largest_other"} <= set(effects["note_density"])
    assert "## Attribute vectors" in shipped.with_suffix(".md").read_text()
    # a checkpoint saved without vectors has none, and says how to get them
    bare = TrainedModel.load(path, device="cpu")
    assert bare.attribute_vectors == {}
    with pytest.raises(KeyError, match="explorer ship"):
        bare.attribute_vector("note_density")


def test_training_under_torchrun_keeps_the_replicas_identical(tmp_path):
    """Two gloo processes (DDP) train a tiny model a few steps and end with identical weights."""
    small = _small_data(tmp_path, n_train=96, n_valid=16)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "explorer",
           "train", "musicvae", "--data", str(small), "--out", str(out), "--hidden", "16", "--batch", "16",
           "--device", "cpu", "--threads", "1", "--quiet", "--epochs", "1", "--set", "z_dims=4",
           "--set", "embed_dims=8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 96 // 16
    digests = summary["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    tm = TrainedModel.load(out / "best.safetensors", device="cpu")
    assert "2 processes (DDP)" in tm.card["hardware"]
    from explorer.train.trainer import weights_digest

    torch.manual_seed(0)
    fresh = MusicVAE(MusicVAEConfig(hidden_dims=16, embed_dims=8, z_dims=4))
    assert weights_digest(fresh) != digests[0]  # it trained


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A tiny untrained 16-bar hierarchical MusicVAE, for the app."""
    folder = tmp_path_factory.mktemp("models16")
    torch.manual_seed(0)
    save_checkpoint(folder / "musicvae16-tiny.safetensors", _tiny(True, 256))
    return folder


@pytest.mark.parametrize("page", ["pages/segment_player.py", "pages/attribute_sliders.py", "pages/interpolation.py"])
def test_a_16_bar_model_gets_16_bar_data_in_the_app(page, app_env):
    """With a 16-bar model the sidebar's default data comes in 16-bar segments (the shipped
    assets/data/default16.npz), and the pages decode and play 16-bar melodies."""
    from helpers_app import ROOT, run_model_page

    at = run_model_page(ROOT / page, "musicvae16-tiny")
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    if page.endswith("segment_player.py"):
        assert "16-bar segments" in text
    assert audio_players(at), "no audio on the page"
