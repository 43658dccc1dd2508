"""Model core: the interface, checkpoints, training steps, TrainedModel operations."""
import json

import numpy as np
import pytest
import torch

from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.latent.control import sweep_latents
from explorer.models.arvae import ARVAE, ARVAEConfig, ar_loss
from explorer.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig, load_authors_state_dict
from explorer.models.trained import TrainedModel, slerp
from explorer.music.melody import HOLD, N_PITCHES, Melody
from explorer.train.trainer import transpose_batch

SMALL_EC2 = EC2VAEConfig(hidden_dims=32, z1_dims=8, z2_dims=8)
SMALL_AR = ARVAEConfig(hidden_dims=32, embed_dims=16, z_dims=8)


@pytest.fixture(scope="module")
def real_batch():
    """64 real 2-bar melodies with chords (Bach chorales of the shipped default data)."""
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.flatnonzero(ds.source == "music21:bach")[:64]
    return torch.as_tensor(ds.tokens[rows].astype(np.int64)), torch.as_tensor(ds.chroma[rows].astype(np.float32)), ds


def test_authors_layout_loads_with_module_prefix():
    """A state_dict shaped exactly like the authors' ec2vae-v1.pt (hidden 2048, DataParallel)."""
    ref = EC2VAE(EC2VAEConfig.authors())
    sd = {f"module.{k}": torch.randn_like(v) for k, v in ref.state_dict().items()}
    expected = {"gru_0.weight_ih_l0": (3 * 2048, 142), "gru_0.weight_hh_l0_reverse": (3 * 2048, 2048),
                "linear_mu.weight": (256, 4096), "linear_var.weight": (256, 4096),
                "grucell_0.weight_ih": (3 * 2048, 131), "grucell_1.weight_ih": (3 * 2048, 273),
                "grucell_2.weight_ih": (3 * 2048, 2048), "linear_init_0.weight": (2048, 128),
                "linear_init_1.weight": (2048, 128), "linear_out_0.weight": (3, 2048), "linear_out_1.weight": (130, 2048)}
    for k, shape in expected.items():
        assert tuple(sd[f"module.{k}"].shape) == shape, k
    model = load_authors_state_dict(sd)
    assert model.config.hidden_dims == 2048 and model.layout.groups == {"pitch": (0, 128), "rhythm": (128, 256)}
    assert torch.equal(model.grucell_1.weight_ih, sd["module.grucell_1.weight_ih"])
    with pytest.raises(ValueError, match="not an EC²-VAE state_dict"):
        load_authors_state_dict({"encoder.weight": torch.zeros(1)})


@pytest.mark.parametrize("model", [EC2VAE(SMALL_EC2), ARVAE(SMALL_AR)], ids=["ec2vae", "arvae"])
def test_interface_shapes(model, real_batch):
    tok, ch, _ = real_batch
    post = model.encode(tok[:4], ch[:4])
    assert post.mean.shape == (4, model.layout.dims) and (post.scale > 0).all()
    out = model.decode(post.mean, ch[:4])
    assert out.logits.shape == (4, 32, 130) and out.tokens.shape == (4, 32)
    s = model.sample(3, ch[:3], temperature=0.8)
    assert s.tokens.shape == (3, 32)


@pytest.mark.parametrize("name,model", [("ec2vae", EC2VAE(SMALL_EC2)), ("arvae", ARVAE(SMALL_AR))])
def test_training_steps_lower_the_loss_on_real_data(name, model, real_batch):
    from explorer.music.attributes import compute

    tok, ch, _ = real_batch
    attrs = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in compute(tok.numpy(), model.layout.regularized).items()}
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(30):
        terms = model.loss(tok, ch, step=step, attributes=attrs)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = first if first is not None else float(terms["loss"].detach())
    assert float(terms["loss"]) < 0.7 * first, (first, float(terms["loss"]))


def test_ar_loss_is_zero_when_the_dim_orders_like_the_attribute():
    a = torch.tensor([0.1, 0.5, 0.9, 0.3])
    assert float(ar_loss(a * 10, a)) < 0.01
    # ordered the wrong way round: each of the 12 off-diagonal pairs costs 2, the 4 diagonal ones 0
    assert float(ar_loss(-a * 10, a)) == pytest.approx(12 * 2 / 16, abs=0.01)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    model = EC2VAE(SMALL_EC2)
    path = save_checkpoint(tmp_path / "ec2vae-test.safetensors", model, card={"data": "test"},
                           extras={"vec": torch.ones(3)})
    back, meta, extras = load_checkpoint(path)
    assert meta["model"] == "ec2vae" and meta["card"] == {"data": "test"} and torch.equal(extras["vec"], torch.ones(3))
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(foreign)
    pickle_ckpt = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict()}, pickle_ckpt)
    with pytest.raises(CheckpointError):
        load_checkpoint(pickle_ckpt)
    bad = tmp_path / "bad.safetensors"
    sd = {f"model.{k}": v for k, v in EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=8, z2_dims=8)).state_dict().items()}
    meta = {"format": "latent-explorer/checkpoint", "version": "1", "model": "ec2vae",
            "config": json.dumps({"hidden_dims": 32, "z1_dims": 8, "z2_dims": 8}), "layout": "{}", "card": "{}"}
    save_file(sd, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(bad)


def test_checkpoints_of_both_kinds_are_written_readable_by_everyone(tmp_path):
    """Mode 644 (safetensors alone writes 600): a shipped or shared model must be readable by other users."""
    import os
    import stat

    from explorer.models.checkpoint import checkpoint_kind, save_performance_checkpoint
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    old = os.umask(0o022)
    try:
        melody = save_checkpoint(tmp_path / "m.safetensors", EC2VAE(SMALL_EC2))
        perf = save_performance_checkpoint(tmp_path / "p.safetensors", VirtuosoVAE(VirtuosoConfig(hidden=8, z_dims=2)))
    finally:
        os.umask(old)
    for path in (melody, perf):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, (path.name, oct(path.stat().st_mode))
        assert not path.with_name(path.name + ".tmp").exists()
    assert (checkpoint_kind(melody), checkpoint_kind(perf)) == ("melody", "performance")


def test_available_checkpoints_lists_each_kind_from_its_folders(tmp_path, monkeypatch):
    import explorer.models.checkpoint as ckpt

    for folder, name in (("assets/checkpoints", "a"), ("assets/performance", "p"), ("mine", "a"), ("mine", "b"),
                         ("perf", "q")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / f"{name}.safetensors").write_bytes(b"")
    monkeypatch.setattr(ckpt, "assets_dir", lambda: tmp_path / "assets")
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(tmp_path / "mine"))
    monkeypatch.setenv("LATENT_EXPLORER_PERFORMANCE_MODELS", str(tmp_path / "perf"))
    melody = ckpt.available_checkpoints()
    assert melody == {"a": tmp_path / "assets/checkpoints/a.safetensors", "b": tmp_path / "mine/b.safetensors"}
    assert list(ckpt.available_checkpoints("performance")) == ["p", "q"]
    with pytest.raises(ValueError, match="kind must be one of"):
        ckpt.available_checkpoints("drums")


def test_transpose_batch_keeps_range_and_rolls_chroma():
    tok = torch.tensor([[60, HOLD, 64, 129], [125, 127, HOLD, HOLD]])
    ch = torch.zeros(2, 4, 12)
    ch[:, :, 0] = 1
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        t2, c2 = transpose_batch(tok, ch, 6, gen)
        shift = int(t2[0, 0] - 60)
        assert t2[0, 2] == 64 + shift and t2[0, 1] == HOLD and t2[0, 3] == 129
        assert int(c2[0, 0].argmax()) == shift % 12
        assert int(t2[1][t2[1] < N_PITCHES].max()) <= 127


def test_trained_model_operations(real_batch, tmp_path):
    tok, ch, ds = real_batch
    path = save_checkpoint(tmp_path / "ec2vae-small.safetensors", EC2VAE(SMALL_EC2))
    tm = TrainedModel.load(path, device="cpu")
    a, b = ds.melody(int(np.flatnonzero(ds.source == "music21:bach")[0])), ds.melody(5)
    z, mu, sigma = tm.encode([a, b])
    assert z.shape == mu.shape == sigma.shape == (2, 16)
    rec = tm.reconstruct([a, b])
    assert len(rec) == 2 and isinstance(rec[0], Melody) and np.array_equal(rec[0].chroma, a.chroma)
    path_ = tm.interpolate(a, b, steps=5, method="slerp")
    assert len(path_) == 5
    only_rhythm = tm.interpolate(a, b, steps=3, method="lerp", groups="rhythm")
    assert len(only_rhythm) == 3
    swapped = tm.swap(a, b, "rhythm")
    assert swapped.n_steps == 32
    _, mu_a, _ = tm.encode([a])
    trav = tm.decode(sweep_latents(mu_a[0], [-3, 0, 3], dim=0), np.stack([a.chroma] * 3))
    assert len(trav) == 3
    samples = tm.sample(4, temperature=0.5, seed=1)
    assert len(samples) == 4
    again = tm.sample(4, temperature=0.5, seed=1)
    assert all(np.array_equal(x.tokens, y.tokens) for x, y in zip(samples, again))
    with pytest.raises(KeyError, match="no latent group"):
        tm.swap(a, b, "timbre")
    with pytest.raises(ValueError, match="method"):
        tm.interpolate(a, b, method="cubic")


def test_slerp_endpoints_and_norm():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    assert np.allclose(slerp(a, a, 0.5), a)
