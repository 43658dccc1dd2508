"""EC²-VAE (Yang et al., ISMIR 2019): pitch and rhythm disentangled, chord-conditioned.

The parameter names and shapes follow the authors' release (Deep-Music-Analogy)
so their ``ec2vae-v1.pt`` (hidden 2048) loads with ``load_authors_state_dict``:
``gru_0``, ``linear_mu``, ``linear_var``, ``grucell_0/1/2``, ``linear_init_0/1``,
``linear_out_0/1``. ``linear_var`` gives the log of the posterior *scale*
(used after ``exp``), as in the authors' code.

Shapes: tokens (B, T) long in 0..129, one-hot melody (B, T, 130), chroma (B, T, 12),
rhythm (B, T, 3) with classes onset, hold, rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.base import (
    DecodeOutput,
    LatentLayout,
    MelodyVAE,
    Posterior,
    kl_normal,
    pick_tokens,
    rhythm_targets,
)


@dataclass(frozen=True)
class EC2VAEConfig:
    roll_dims: int = 130
    hidden_dims: int = 256
    rhythm_dims: int = 3
    condition_dims: int = 12
    z1_dims: int = 128  # z_p, pitch
    z2_dims: int = 128  # z_r, rhythm
    n_step: int = 32
    k: float = 1000.0  # teacher forcing decays as k / (k + exp(step / k))
    beta: float = 0.1
    kl_reduction: str = "mean"  # the authors average KL over the latent dims

    # the authors' released configuration
    @classmethod
    def authors(cls) -> "EC2VAEConfig":
        return cls(130, 2048, 3, 12, 128, 128, 32)


class EC2VAE(MelodyVAE):
    name = "ec2vae"

    def __init__(self, config: EC2VAEConfig = EC2VAEConfig()):
        super().__init__()
        c = self.config = config
        self.gru_0 = nn.GRU(c.roll_dims + c.condition_dims, c.hidden_dims, batch_first=True, bidirectional=True)
        self.linear_mu = nn.Linear(c.hidden_dims * 2, c.z1_dims + c.z2_dims)
        self.linear_var = nn.Linear(c.hidden_dims * 2, c.z1_dims + c.z2_dims)
        self.grucell_0 = nn.GRUCell(c.z2_dims + c.rhythm_dims, c.hidden_dims)
        self.grucell_1 = nn.GRUCell(c.z1_dims + c.roll_dims + c.rhythm_dims + c.condition_dims, c.hidden_dims)
        self.grucell_2 = nn.GRUCell(c.hidden_dims, c.hidden_dims)
        self.linear_init_0 = nn.Linear(c.z2_dims, c.hidden_dims)
        self.linear_out_0 = nn.Linear(c.hidden_dims, c.rhythm_dims)
        self.linear_init_1 = nn.Linear(c.z1_dims, c.hidden_dims)
        self.linear_out_1 = nn.Linear(c.hidden_dims, c.roll_dims)

    # ---- layout -------------------------------------------------------------
    @property
    def layout(self) -> LatentLayout:
        c = self.config
        return LatentLayout(c.z1_dims + c.z2_dims, {"pitch": (0, c.z1_dims), "rhythm": (c.z1_dims, c.z1_dims + c.z2_dims)})

    @property
    def n_steps(self) -> int:
        return self.config.n_step

    # ---- encoder ------------------------------------------------------------
    def encode(self, tokens, chroma) -> Posterior:
        x = F.one_hot(tokens.long(), self.config.roll_dims).float()
        x = torch.cat([x, chroma.float()], -1)
        _, h = self.gru_0(x)  # (2, B, H)
        h = h.transpose(0, 1).reshape(x.size(0), -1)
        return Posterior(self.linear_mu(h), self.linear_var(h).exp())

    # ---- decoders -----------------------------------------------------------
    def _rhythm_decoder(self, z_r, target=None, tf: float = 0.0, sample: bool = False, temperature: float = 1.0):
        b = z_r.size(0)
        out = z_r.new_zeros(b, self.config.rhythm_dims)
        out[:, -1] = 1.0
        hx = torch.tanh(self.linear_init_0(z_r))
        logps = []
        for i in range(self.config.n_step):
            hx = self.grucell_0(torch.cat([out, z_r], 1), hx)
            logp = F.log_softmax(self.linear_out_0(hx), 1)
            logps.append(logp)
            if target is not None and tf > 0 and torch.rand(()) < tf:
                out = F.one_hot(target[:, i], self.config.rhythm_dims).float()
            else:
                out = _pick(logp, sample, temperature)
        return torch.stack(logps, 1)

    def _melody_decoder(self, z_p, rhythm, chroma, target=None, tf: float = 0.0, sample: bool = False,
                        temperature: float = 1.0):
        b = z_p.size(0)
        out = z_p.new_zeros(b, self.config.roll_dims)
        out[:, -1] = 1.0
        h0 = torch.tanh(self.linear_init_1(z_p))
        h1 = None
        logps = []
        for i in range(self.config.n_step):
            h0 = self.grucell_1(torch.cat([out, rhythm[:, i], z_p, chroma[:, i]], 1), h0)
            h1 = self.grucell_2(h0, h0 if h1 is None else h1)
            logp = F.log_softmax(self.linear_out_1(h1), 1)
            logps.append(logp)
            if target is not None and tf > 0 and torch.rand(()) < tf:
                out = F.one_hot(target[:, i], self.config.roll_dims).float()
            else:
                out = _pick(logp, sample, temperature)
        return torch.stack(logps, 1)

    def decode(self, z, chroma, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
               temperature: float = 1.0) -> DecodeOutput:
        c = self.config
        z_p, z_r = z[:, :c.z1_dims], z[:, c.z1_dims:]
        chroma = chroma.float()
        r_target = rhythm_targets(target) if target is not None else None
        rhythm_logp = self._rhythm_decoder(z_r, r_target, teacher_forcing, sample, temperature)
        # the melody decoder reads the rhythm decoder's log-probabilities, as in the authors' code
        logp = self._melody_decoder(z_p, rhythm_logp, chroma, target, teacher_forcing, sample, temperature)
        return DecodeOutput(logp, logp.argmax(-1), rhythm_logp)

    # ---- training -----------------------------------------------------------
    def loss(self, tokens, chroma, step: int = 0, **_) -> dict:
        c = self.config
        post = self.encode(tokens, chroma)
        z = post.rsample()
        tf = self.teacher_forcing_at(step) if self.training else 0.0
        out = self.decode(z, chroma, target=tokens.long(), teacher_forcing=tf)
        nll = F.nll_loss(out.logits.reshape(-1, c.roll_dims), tokens.long().reshape(-1))
        nll_r = F.nll_loss(out.rhythm_logits.reshape(-1, c.rhythm_dims), rhythm_targets(tokens).reshape(-1))
        red = torch.mean if c.kl_reduction == "mean" else lambda x: x.sum(-1).mean()
        kl_p = red(kl_normal(post.mean[:, :c.z1_dims], post.scale[:, :c.z1_dims]))
        kl_r = red(kl_normal(post.mean[:, c.z1_dims:], post.scale[:, c.z1_dims:]))
        total = nll + nll_r + c.beta * (kl_p + kl_r)
        return {"loss": total, "nll": nll.detach(), "nll_rhythm": nll_r.detach(), "kl_p": kl_p.detach(),
                "kl_r": kl_r.detach(), "tf": torch.tensor(tf)}


def _pick(logp, sample: bool, temperature: float):
    """The chosen class as a one-hot vector: the next step's input."""
    return F.one_hot(pick_tokens(logp, sample, temperature), logp.size(-1)).float()


def load_authors_state_dict(state_dict: dict) -> EC2VAE:
    """An EC2VAE holding the authors' weights (a state_dict of their release,
    with or without DataParallel's ``module.`` prefix). Sizes are read from the
    tensors, so a hidden size of 2048 gives the authors' model."""
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}
    need = {"gru_0.weight_ih_l0", "linear_mu.weight", "grucell_0.weight_ih", "grucell_1.weight_ih", "linear_out_1.weight"}
    missing = need - set(sd)
    if missing:
        raise ValueError(f"not an EC²-VAE state_dict: missing {sorted(missing)}")
    hidden = sd["grucell_2.weight_hh"].shape[1]
    z_total, _ = sd["linear_mu.weight"].shape
    z2 = sd["linear_init_0.weight"].shape[1]
    roll = sd["linear_out_1.weight"].shape[0]
    rhythm = sd["linear_out_0.weight"].shape[0]
    cond = sd["gru_0.weight_ih_l0"].shape[1] - roll
    cfg = EC2VAEConfig(roll, hidden, rhythm, cond, z_total - z2, z2, 32)
    model = EC2VAE(cfg)
    model.load_state_dict(sd, strict=True)
    return model
