"""The AR-VAE and EC²-VAE train with parallel scheduled sampling (whole-sequence GRU
runs over their cells' own weights); generation still loops step by step. Fed its own
greedy output as the target, the parallel path must predict exactly what the step loop
generated, with the same log-probabilities."""
from __future__ import annotations

import pytest
import torch

from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig


def _models(parallel: bool = True):
    torch.manual_seed(0)
    return [ARVAE(ARVAEConfig(hidden_dims=48, embed_dims=16, z_dims=8, parallel_training=parallel)),
            EC2VAE(EC2VAEConfig(hidden_dims=48, z1_dims=8, z2_dims=8, parallel_training=parallel))]


@pytest.mark.parametrize("model", _models(), ids=["arvae", "ec2vae"])
def test_parallel_path_predicts_what_step_by_step_generation_predicts(model, one_torch_thread):
    model.eval()
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(6, model.layout.dims, generator=gen) * 2
    chroma = (torch.rand(6, model.n_steps, 12, generator=gen) < 0.25).float()
    with torch.no_grad():
        free = model.decode(z, chroma)  # step by step, greedy
        forced = model.decode(z, chroma, target=free.tokens, teacher_forcing=1.0)  # parallel
    assert torch.equal(forced.tokens, free.tokens)
    if free.rhythm_logits is None:
        torch.testing.assert_close(forced.logits, free.logits, atol=1e-5, rtol=1e-4)


def test_ec2vae_parallel_decoders_reproduce_the_step_loop_given_its_own_inputs(one_torch_thread):
    """EC²-VAE's rhythm decoder reads its own previous class, which in free running need not be
    the rhythm of the melody token generated; fed exactly what the loop fed them, both parallel
    decoders give the loop's log-probabilities."""
    from explorer.models.base import shift_in as _shift_in

    model = _models()[1].eval()
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(5, 16, generator=gen) * 2
    chroma = (torch.rand(5, 32, 12, generator=gen) < 0.25).float()
    with torch.no_grad():
        free = model.decode(z, chroma)
        r = model._rhythm_given_prev(z[:, 8:], _shift_in(free.rhythm_logits.argmax(-1), 2))
        m = model._melody_given_prev(z[:, :8], free.rhythm_logits, chroma, _shift_in(free.tokens, 129))
    torch.testing.assert_close(r, free.rhythm_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(m, free.logits, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("model", _models() + _models(parallel=False),
                         ids=["arvae-parallel", "ec2vae-parallel", "arvae-loop", "ec2vae-loop"])
def test_scheduled_sampling_feeds_guesses_and_gradients_flow(model, one_torch_thread):
    """At teacher forcing 0.5 some inputs are the model's guesses, so the log-probabilities
    differ from full teacher forcing on a target the model does not generate; the loss
    back-propagates into the decoder cells."""
    model.train()
    torch.manual_seed(2)
    tok = torch.randint(0, 130, (4, model.n_steps))
    chroma = torch.zeros(4, model.n_steps, 12)
    z = torch.randn(4, model.layout.dims)
    full = model.decode(z, chroma, target=tok, teacher_forcing=1.0)
    half = model.decode(z, chroma, target=tok, teacher_forcing=0.5)
    assert not torch.allclose(full.logits, half.logits)
    model.zero_grad()
    model.loss(tok, chroma, step=0)["loss"].backward()
    cell = model.decoder if isinstance(model, ARVAE) else model.grucell_1
    assert cell.weight_ih.grad is not None and cell.weight_ih.grad.abs().sum() > 0


@pytest.mark.parametrize("parallel", [True, False])
def test_word_dropout_only_in_training(parallel, one_torch_thread):
    torch.manual_seed(3)
    model = ARVAE(ARVAEConfig(hidden_dims=32, embed_dims=8, z_dims=8, word_dropout=0.5, parallel_training=parallel))
    tok = torch.randint(0, 130, (4, 32))
    z = torch.randn(4, 8)
    model.eval()
    tf = 1.0 if parallel else 0.99  # the step loop serves 0 < tf < 1
    torch.manual_seed(4)
    a = model.decode(z, target=tok, teacher_forcing=tf).logits
    torch.manual_seed(4)
    b = model.decode(z, target=tok, teacher_forcing=tf).logits
    assert torch.equal(a, b)  # no dropout in eval mode
    model.train()
    torch.manual_seed(4)
    c = model.decode(z, target=tok, teacher_forcing=tf).logits
    assert not torch.allclose(a, c)


def test_ec2vae_consistency_term_and_chord_dropout(one_torch_thread):
    """The transposition-consistency term is ‖μ_r(x) − μ_r(x moved)‖²: zero when z_r ignores
    pitch, positive otherwise; chord dropout zeroes whole melodies' chroma in training only."""
    from explorer.models.ec2vae import transpose_randomly

    torch.manual_seed(5)
    tok = torch.tensor([[60, 128, 62, 129] * 8, [127, 128, 125, 129] * 8, [129] * 32])
    chroma = torch.zeros(3, 32, 12)
    chroma[:, :, 0] = 1  # C everywhere
    moved, moved_ch = transpose_randomly(tok, chroma)
    shift = moved[0, 0] - 60
    assert 1 <= abs(int(shift)) <= 6
    assert torch.equal(moved[0], torch.where(tok[0] < 128, tok[0] + shift, tok[0]))
    assert moved_ch[0, 0].argmax() == int(shift) % 12  # C's chroma moved with the melody
    assert moved[1][moved[1] < 128].max() < 127  # only downwards from 127
    assert torch.equal(moved[2], tok[2])  # no notes: nothing to move
    model = EC2VAE(EC2VAEConfig(hidden_dims=32, z1_dims=8, z2_dims=8, consistency=1.0, chord_dropout=1.0)).train()
    terms = model.loss(tok, chroma, step=10_000)
    assert float(terms["consistency"]) > 0
    # with chord dropout 1.0 the encoder sees no chords: the loss equals that of a chordless batch
    torch.manual_seed(6)
    a = model.loss(tok, chroma, step=10_000)["nll"]
    torch.manual_seed(6)
    b = model.loss(tok, torch.zeros_like(chroma), step=10_000)["nll"]
    assert torch.allclose(a, b)


@pytest.mark.parametrize("index", [0, 1], ids=["arvae", "ec2vae"])
def test_step_loop_at_full_teacher_forcing_equals_the_parallel_pass(index, one_torch_thread):
    """tf just below 1 in the step loop (every row takes the truth unless a 1-in-10⁹ draw
    says otherwise) gives the log-probabilities of the whole-sequence pass at tf = 1."""
    model = _models(parallel=False)[index].eval()
    torch.manual_seed(7)
    tok = torch.randint(0, 130, (4, model.n_steps))
    chroma = torch.zeros(4, model.n_steps, 12)
    z = torch.randn(4, model.layout.dims)
    with torch.no_grad():
        loop = model.decode(z, chroma, target=tok, teacher_forcing=1 - 1e-9)
        whole = model.decode(z, chroma, target=tok, teacher_forcing=1.0)
    torch.testing.assert_close(loop.logits, whole.logits, atol=1e-5, rtol=1e-4)
