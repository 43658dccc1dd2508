"""Attribute-regularised VAE (Pati & Lerch, "Attribute-based regularization of
latent spaces for variational auto-encoders", 2020) on 2-bar melodies.

A bidirectional GRU encoder over token embeddings, an autoregressive GRU
decoder conditioned on z, and the AR loss on the first four dims: for the
minibatch's pairwise differences D_z of dim d and D_a of attribute a,
``L_reg = MAE(tanh(δ·D_z), sign(D_a))`` (δ = 10), added with weight γ = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.base import (DecodeOutput, LatentLayout, MelodyVAE, Posterior, kl_normal, mix, pick_tokens,
                                  run_gru_cell, shift_in)
from explorer.models.fast_decode import cached, gru_loop, start_tokens, token_table, use_fast
from explorer.music.attributes import AR_ATTRIBUTES
from explorer.music.melody import N_TOKENS, REST


@dataclass(frozen=True)
class ARVAEConfig:
    hidden_dims: int = 256
    embed_dims: int = 64
    z_dims: int = 32
    n_step: int = 32
    beta: float = 0.2  # KL weight (summed over dims), small as in the paper
    gamma: float = 1.0  # AR loss weight
    delta: float = 10.0  # tanh sharpness
    k: float = 1000.0  # teacher forcing decays as k / (k + exp(step / k))
    attributes: tuple = AR_ATTRIBUTES
    word_dropout: float = 0.0  # training only: share of previous-token inputs replaced by the start token
    # scheduled sampling as whole-sequence passes (fast on a GPU); on a CPU the step loop is ~20% faster per step
    parallel_training: bool = False


class ARVAE(MelodyVAE):
    name = "arvae"

    def __init__(self, config: ARVAEConfig = ARVAEConfig()):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(N_TOKENS + 1, c.embed_dims)  # + a start token
        self.encoder = nn.GRU(c.embed_dims, c.hidden_dims, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.hidden_dims, c.z_dims)
        self.to_logscale = nn.Linear(2 * c.hidden_dims, c.z_dims)
        self.z_to_h = nn.Linear(c.z_dims, c.hidden_dims)
        self.decoder = nn.GRUCell(c.embed_dims + c.z_dims, c.hidden_dims)
        self.out = nn.Linear(c.hidden_dims, N_TOKENS)

    @property
    def layout(self) -> LatentLayout:
        return LatentLayout(self.config.z_dims, {}, {a: i for i, a in enumerate(self.config.attributes)})

    @property
    def n_steps(self) -> int:
        return self.config.n_step

    def encode(self, tokens, chroma=None) -> Posterior:
        _, h = self.encoder(self.embed(tokens.long()))
        h = h.transpose(0, 1).reshape(tokens.size(0), -1)
        return Posterior(self.to_mu(h), self.to_logscale(h).clamp(-10, 5).exp())

    def decode(self, z, chroma=None, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
               temperature: float = 1.0, reference: bool = False) -> DecodeOutput:
        """Greedy/sampled generation step by step (in eval mode the fast loop of ``_decode_fast``,
        the same tokens; ``reference=True`` forces the plain loop). With a ``target``: full teacher
        forcing (``teacher_forcing`` = 1) runs as one whole-sequence pass; scheduled sampling
        (0 < tf < 1) feeds each row the true previous token with probability tf, else its own
        choice, in the step loop — or, with ``parallel_training``, as two whole-sequence passes."""
        forced = target is not None and teacher_forcing > 0
        if forced and (teacher_forcing >= 1 or self.config.parallel_training):
            return self._decode_parallel(z, target.long(), teacher_forcing)
        if not forced and use_fast(self, reference):
            return self._decode_fast(z, sample, max(temperature, 1e-4))
        b = z.size(0)
        h = torch.tanh(self.z_to_h(z))
        prev = torch.full((b,), N_TOKENS, dtype=torch.long, device=z.device)  # start token
        logps, toks = [], []
        for i in range(self.config.n_step):
            h = self.decoder(torch.cat([self.embed(prev), z], 1), h)
            logp = F.log_softmax(self.out(h), 1)
            logps.append(logp)
            tok = pick_tokens(logp, sample, temperature)
            toks.append(tok)
            prev = self._next_input(tok, target[:, i].long(), teacher_forcing) if forced else tok
        return DecodeOutput(torch.stack(logps, 1), torch.stack(toks, 1))

    def _decode_fast(self, z, sample: bool, temperature: float) -> DecodeOutput:
        """``decode`` without a target through ``fast_decode.gru_loop``: the embedded previous
        token is a row of a (131, 3H) table, z's share of the input gates is computed once."""
        e, cell = self.config.embed_dims, self.decoder
        table = cached(self, "table", lambda: token_table(self.embed.weight, cell.weight_ih, slice(0, e)))
        static = F.linear(z, cell.weight_ih[:, e:], cell.bias_ih)  # (B, 3H)
        logp, tok = gru_loop(static[:, None].expand(-1, self.config.n_step, -1), table, cell.weight_hh, cell.bias_hh,
                             torch.tanh(self.z_to_h(z)), self.out.weight, self.out.bias,
                             start_tokens(z.size(0), N_TOKENS, z.device), sample, temperature, None, 0, None)
        return DecodeOutput(logp, tok)

    def _next_input(self, chosen, truth, teacher_forcing: float):
        """Scheduled sampling in the step loop: per row the true token with probability
        ``teacher_forcing``, else the chosen one; word dropout (training) then blanks some."""
        return self._word_dropout(mix(truth, chosen, teacher_forcing))

    def _word_dropout(self, prev):
        """In training, a ``word_dropout`` share of the previous-token inputs become the start token."""
        if self.training and self.config.word_dropout > 0:
            prev = mix(torch.full_like(prev, N_TOKENS), prev, self.config.word_dropout)
        return prev

    def _logp_given_prev(self, z, prev):
        """Log-probabilities (B, T, 130) when the previous tokens are ``prev`` (B, T): the
        decoder cell's own weights run as one GRU over the sequence (no Python step loop)."""
        x = torch.cat([self.embed(prev), z[:, None, :].expand(-1, prev.size(1), -1)], -1)  # (B, T, E + Z)
        h = run_gru_cell(self.decoder, x, torch.tanh(self.z_to_h(z)), self.training)  # (B, T, H)
        return F.log_softmax(self.out(h), -1)

    def _decode_parallel(self, z, target, teacher_forcing: float) -> DecodeOutput:
        """Parallel scheduled sampling (Duckworth et al. 2019), as the MusicVAE trains: a pass
        without gradient guesses every token; each input is the true previous token with
        probability ``teacher_forcing``, else that guess; in training, word dropout replaces
        a share of the inputs by the start token."""
        prev = shift_in(target, N_TOKENS)  # (B, T), the start token first
        if teacher_forcing < 1:
            with torch.no_grad():
                guess = self._logp_given_prev(z, prev).argmax(-1)
            prev = mix(prev, shift_in(guess, N_TOKENS), teacher_forcing)
        logp = self._logp_given_prev(z, self._word_dropout(prev))
        return DecodeOutput(logp, logp.argmax(-1))

    def loss(self, tokens, chroma=None, step: int = 0, attributes: dict | None = None, **_) -> dict:
        c = self.config
        post = self.encode(tokens)
        z = post.rsample()
        tf = self.teacher_forcing_at(step) if self.training else 0.0
        out = self.decode(z, target=tokens, teacher_forcing=tf)
        nll = F.nll_loss(out.logits.reshape(-1, N_TOKENS), tokens.long().reshape(-1))
        kl = kl_normal(post.mean, post.scale).sum(-1).mean()
        reg = torch.zeros((), device=z.device)
        if attributes is not None and c.gamma > 0:
            regs = [ar_loss(z[:, d], attributes[a], c.delta) for d, a in enumerate(c.attributes) if a in attributes]
            if regs:
                reg = torch.stack(regs).mean()
        total = nll + c.beta * kl + c.gamma * reg
        return {"loss": total, "nll": nll.detach(), "kl": kl.detach(), "reg": reg.detach(), "tf": torch.tensor(tf)}


def ar_loss(z_dim: torch.Tensor, attr: torch.Tensor, delta: float = 10.0) -> torch.Tensor:
    """Pati & Lerch's regulariser for one dim: MAE(tanh(δ·D_z), sign(D_a)) over
    the pairwise difference matrices of the minibatch (B,) → scalar."""
    dz = z_dim[:, None] - z_dim[None, :]
    da = attr[:, None] - attr[None, :]
    return F.l1_loss(torch.tanh(delta * dz), torch.sign(da))


__all__ = ["ARVAE", "ARVAEConfig", "ar_loss", "REST"]
