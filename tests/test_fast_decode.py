"""The fast generation loops (``explorer.models.fast_decode``) give the plain step loops' greedy
tokens, for every shipped melody checkpoint on real melodies and for small random models of each
family; sampling draws the same tokens from the same seed and follows the temperature.

The reference is each model's own step loop, kept in the model file and asked for with
``reference=True``; ``plain_greedy_ec2vae`` below writes EC²-VAE's out once more, as the
authors' code runs it, so the reference itself is pinned too.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer.data.default import load_default
from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.checkpoint import available_checkpoints
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.models.extres import ExtRes, ExtResConfig
from explorer.models.musicvae import (HierarchicalMusicVAE, HierarchicalMusicVAEConfig, MusicVAE,
                                      MusicVAEConfig)
from explorer.models.trained import TrainedModel
from explorer.paths import assets_dir

SHIPPED = {name: path for name, path in available_checkpoints("melody").items()
           if path.parent == assets_dir() / "checkpoints"}
N_MELODIES = {2: 96, 16: 12}  # rows per model, by bars: a few seconds for each checkpoint


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def spread_melodies(counts: dict) -> dict:
    """(tokens (N, T), chroma (N, T, 12)) of the default data, spread over the file, by bars:
    ``counts`` {bars: N}."""
    out = {}
    for bars, n in counts.items():
        ds = load_default(bars=bars)
        idx = torch.linspace(0, len(ds.tokens) - 1, n).long().numpy()
        out[bars] = (torch.as_tensor(ds.tokens[idx].astype("int64")), torch.as_tensor(ds.chroma[idx].astype("float32")))
    return out


@pytest.fixture(scope="module")
def melodies():
    return spread_melodies(N_MELODIES)


def both(model, z, chroma, **kw):
    """(fast, reference) decodes of z under no_grad, the model in eval mode."""
    model.eval()
    with torch.no_grad():
        return model.decode(z, chroma, **kw), model.decode(z, chroma, reference=True, **kw)


def assert_same_greedy(fast, ref):
    assert torch.equal(fast.tokens, ref.tokens), (
        f"{(fast.tokens != ref.tokens).sum().item()} of {ref.tokens.numel()} greedy tokens differ")
    assert torch.allclose(fast.logits, ref.logits, atol=1e-4, rtol=0)


def shipped_codes(name: str, melodies: dict):
    """(the loaded shipped model ``name``, tokens, chroma, z posterior means) for its melodies."""
    tm = TrainedModel.load(SHIPPED[name], device="cpu")
    tok, chroma = melodies[tm.n_steps // 16]
    with torch.no_grad():
        return tm, tok, chroma, tm.model.encode(tok, chroma).mean


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_fast_greedy_tokens_equal_the_step_loop(name, melodies):
    tm, tok, chroma, z = shipped_codes(name, melodies)
    fast, ref = both(tm.model, z, chroma)
    assert_same_greedy(fast, ref)
    if isinstance(tm.model, ExtRes):  # the concept's own decoder, and a melody under a given concept
        assert torch.equal(fast.concept, ref.concept)
        y = tm.model.concept_of(tok)
        assert_same_greedy(*both(tm.model, z, chroma, concept=y))


def tiny_models():
    return {
        "ec2vae": EC2VAE(EC2VAEConfig(hidden_dims=24, z1_dims=8, z2_dims=8)),
        "arvae": ARVAE(ARVAEConfig(hidden_dims=24, embed_dims=8, z_dims=6)),
        "musicvae": MusicVAE(MusicVAEConfig(hidden_dims=24, embed_dims=8, z_dims=8, dec_layers=3)),
        "musicvae16": HierarchicalMusicVAE(HierarchicalMusicVAEConfig(hidden_dims=24, embed_dims=8, z_dims=8,
                                                                      conductor_dims=16, n_step=64)),
        "extres-contour": ExtRes(ExtResConfig(concept="contour", concept_classes=4, concept_len=8, hidden_dims=24,
                                              embed_dims=8, ze_dims=4, zr_dims=6, carry_last_pitch=True)),
        "extres-rhythm": ExtRes(ExtResConfig(hidden_dims=24, embed_dims=8, ze_dims=4, zr_dims=6)),
    }


@pytest.mark.parametrize("name", sorted(tiny_models()))
def test_random_models_fast_greedy_tokens_equal_the_step_loop(name):
    torch.manual_seed(0)
    model = tiny_models()[name]
    g = torch.Generator().manual_seed(1)
    z = torch.randn(64, model.layout.dims, generator=g) * 2
    chroma = (torch.rand(64, model.n_steps, 12, generator=g) < 0.25).float()
    assert_same_greedy(*both(model, z, chroma))


def plain_greedy_ec2vae(m: EC2VAE, z, chroma):
    """EC²-VAE's greedy generation written out as the authors' step loop: one-hot inputs
    concatenated and fed to the GRU cells, one step at a time."""
    c = m.config
    z_p, z_r = z[:, :c.z1_dims], z[:, c.z1_dims:]
    out = F.one_hot(torch.full((z.size(0),), c.rhythm_dims - 1), c.rhythm_dims).float()
    h, rhythm = torch.tanh(m.linear_init_0(z_r)), []
    for _ in range(c.n_step):
        h = m.grucell_0(torch.cat([out, z_r], 1), h)
        rhythm.append(F.log_softmax(m.linear_out_0(h), 1))
        out = F.one_hot(rhythm[-1].argmax(1), c.rhythm_dims).float()
    out = F.one_hot(torch.full((z.size(0),), c.roll_dims - 1), c.roll_dims).float()
    h0, h1, toks = torch.tanh(m.linear_init_1(z_p)), None, []
    for i in range(c.n_step):
        h0 = m.grucell_1(torch.cat([out, rhythm[i], z_p, chroma[:, i]], 1), h0)
        h1 = m.grucell_2(h0, h0 if h1 is None else h1)
        toks.append(F.log_softmax(m.linear_out_1(h1), 1).argmax(1))
        out = F.one_hot(toks[-1], c.roll_dims).float()
    return torch.stack(toks, 1)


def test_ec2vae_fast_path_matches_the_authors_loop_written_out(melodies):
    tm = TrainedModel.load(SHIPPED["ec2vae-nottingham-pop909-bach-oneills-airds-essen"], device="cpu")
    tok, chroma = melodies[2]
    with torch.no_grad():
        z = tm.model.encode(tok, chroma).mean
        assert torch.equal(tm.model.decode(z, chroma).tokens, plain_greedy_ec2vae(tm.model, z, chroma))


@pytest.mark.parametrize("name", ["ec2vae", "arvae", "musicvae16", "extres-contour"])
def test_sampling_same_seed_same_tokens_and_temperature_is_followed(name):
    torch.manual_seed(0)
    model = tiny_models()[name].eval()
    z = torch.randn(48, model.layout.dims, generator=torch.Generator().manual_seed(2))
    chroma = torch.zeros(48, model.n_steps, 12)

    def decode(temperature, reference=False, seed=3):
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.decode(z, chroma, sample=True, temperature=temperature, reference=reference)
        # EC²-VAE reports the argmax of each step, sampled or not: its samples show in what follows them
        return out.tokens

    assert torch.equal(decode(1.0), decode(1.0, reference=True))
    greedy = both(model, z, chroma)[0].tokens
    # near zero a draw is the argmax, but for the random model's near-ties
    assert (decode(1e-4) == greedy).float().mean() > 0.99
    # hotter draws wander further from the greedy path
    hot = (decode(3.0) != greedy).float().mean()
    cool = (decode(0.3) != greedy).float().mean()
    assert hot > cool


def test_tables_follow_the_weights_and_training_mode_takes_the_step_loop():
    torch.manual_seed(0)
    model = tiny_models()["arvae"].eval()
    z = torch.randn(16, model.layout.dims)
    assert_same_greedy(*both(model, z, None))
    with torch.no_grad():
        model.embed.weight.mul_(-3.0)  # an in-place change, as an optimiser step makes
    assert_same_greedy(*both(model, z, None))
    with torch.no_grad():  # the step loops' transposed weights follow too
        model.decoder.weight_hh.mul_(2.0)
        model.out.weight.mul_(-1.5)
    assert_same_greedy(*both(model, z, None))
    model.load_state_dict({k: v * 0.5 for k, v in model.state_dict().items()})
    assert_same_greedy(*both(model, z, None))
    model.train()
    out = model.decode(z)  # no target in training mode: the step loop, with gradients
    out.logits.sum().backward()
    assert model.embed.weight.grad is not None
