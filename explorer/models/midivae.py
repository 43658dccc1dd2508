"""MIDI-VAE (Brunner, Konrad, Wang & Wattenhofer, ISMIR 2018): pitch, instrument and velocity of
up to 4 voices in one bar, a style classifier inside the latent code, and style transfer.

Shapes (B bars, V voices, T = 16 steps, P = 61 pitch classes, I = 16 instrument families, Z latent dims,
K styles): pitch (B, V, T) class indices, instrument (B, V), velocity (B, V, T) in [0, 1].

- Encoder: a 2-layer GRU over the pitch roll, a GRU over the instrument roll (one step per voice), a
  GRU over the velocity roll; their last states concatenated, two dense layers → μ, log σ² (Z).
- Style: the first K dims of z are the logits of a softmax style classifier with no weights of its own.
- Decoders: autoregressive GRUs (pitch 2 layers, instrument 1, velocity 1); each starts from a state
  made of [z ; the previous bar's z] and also reads z at every step (a choice of this version: it
  trains faster on one CPU). A song is decoded bar by bar with that history.
- Loss: pitch CE × 1 + instrument CE × 0.1 (voices with a note) + velocity MSE × 1 + style CE × 0.1
  + β·KL (β = 0.1, KL averaged over the latent dims). z is sampled with noise std ``noise_std`` × σ
  in training (the authors' code: 0.01).

No file I/O here; checkpoints go through :mod:`explorer.models.checkpoint`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.base import LatentLayout, Posterior

ONSET = 0.25  # a decoded velocity below this is no onset (the roll's values are 0 or 0.5–1)


def one_hot_rolls(pitch, instrument, velocity, n_pitch: int, n_instruments: int):
    """Model inputs from rolls: pitch (B, T, V·P) one-hot, instrument (B, V, I), velocity (B, T, V)."""
    b, v, t = pitch.shape
    p = F.one_hot(pitch.long(), n_pitch).float().permute(0, 2, 1, 3).reshape(b, t, v * n_pitch)  # (B, T, V·P)
    i = F.one_hot(instrument.long(), n_instruments).float()  # (B, V, I)
    return p, i, velocity.float().transpose(1, 2)  # velocity (B, T, V)


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """(B, S, F) → the same one step later, zeros first: the decoder's input under teacher forcing."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


class InitState(nn.Module):
    """[z ; previous z] (B, 2Z) → a GRU's initial state (layers, B, H)."""

    def __init__(self, z_dims: int, hidden: int, layers: int):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.proj = nn.Linear(2 * z_dims, layers * hidden)

    def forward(self, zz: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.proj(zz))  # (B, L·H)
        return h.view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()  # (L, B, H)


class ARDecoder(nn.Module):
    """An autoregressive GRU: input [previous output ; z] per step, state from [z ; previous z]."""

    def __init__(self, n_in: int, n_out: int, z_dims: int, hidden: int, layers: int):
        super().__init__()
        self.init = InitState(z_dims, hidden, layers)
        self.gru = nn.GRU(n_in + z_dims, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, prev_out: torch.Tensor, z: torch.Tensor, h0: torch.Tensor):
        """prev_out (B, S, n_in), z (B, Z), h0 (L, B, H) → outputs (B, S, n_out), state."""
        x = torch.cat([prev_out, z[:, None].expand(-1, prev_out.shape[1], -1)], dim=-1)  # (B, S, n_in + Z)
        y, h = self.gru(x, h0)
        return self.out(y), h


@dataclass(frozen=True)
class MIDIVAEConfig:
    """Sizes and loss weights. ``styles`` names the K styles (K = len(styles) leading latent dims)."""

    styles: tuple = ("style 0", "style 1")
    n_voices: int = 4
    n_steps: int = 16
    n_pitch: int = 61
    n_instruments: int = 16
    z_dims: int = 256
    hidden: int = 256
    beta: float = 0.1
    w_pitch: float = 1.0
    w_instrument: float = 0.1
    w_velocity: float = 1.0
    w_style: float = 0.1
    noise_std: float = 0.01

    @property
    def n_styles(self) -> int:
        return len(self.styles)


class MIDIVAE(nn.Module):
    name = "midivae"

    def __init__(self, config: MIDIVAEConfig = MIDIVAEConfig()):
        super().__init__()
        c = self.config = config
        if not 2 <= c.n_styles < c.z_dims:
            raise ValueError(f"MIDI-VAE needs 2 to z_dims - 1 styles, got {c.n_styles} with z_dims {c.z_dims}")
        vp, h = c.n_voices * c.n_pitch, c.hidden
        self.enc_pitch = nn.GRU(vp, h, num_layers=2, batch_first=True)
        self.enc_instrument = nn.GRU(c.n_instruments, h, batch_first=True)
        self.enc_velocity = nn.GRU(c.n_voices, h, batch_first=True)
        self.enc_dense = nn.Linear(3 * h, h)
        self.enc_mu = nn.Linear(h, c.z_dims)
        self.enc_logvar = nn.Linear(h, c.z_dims)
        self.dec_pitch = ARDecoder(vp, vp, c.z_dims, h, 2)
        self.dec_instrument = ARDecoder(c.n_instruments, c.n_instruments, c.z_dims, h, 1)
        self.dec_velocity = ARDecoder(c.n_voices, c.n_voices, c.z_dims, h, 1)

    @property
    def layout(self) -> LatentLayout:
        k = self.config.n_styles
        return LatentLayout(self.config.z_dims, {"style": (0, k), "rest": (k, self.config.z_dims)})

    # --------------------------------------------------------------------------- encoder
    def encode(self, pitch, instrument, velocity) -> Posterior:
        """Rolls (B, V, T), (B, V), (B, V, T) → q(z | bar) with mean and scale (B, Z)."""
        c = self.config
        p, i, v = one_hot_rolls(pitch, instrument, velocity, c.n_pitch, c.n_instruments)
        hs = [self.enc_pitch(p)[1][-1], self.enc_instrument(i)[1][-1], self.enc_velocity(v)[1][-1]]  # 3 × (B, H)
        h = torch.tanh(self.enc_dense(torch.cat(hs, dim=-1)))  # (B, H)
        logvar = self.enc_logvar(h).clamp(-12, 8)
        return Posterior(self.enc_mu(h), torch.exp(0.5 * logvar))

    def style_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The style classifier: the first K dims of z (B, Z) → logits (B, K)."""
        return z[:, : self.config.n_styles]

    # --------------------------------------------------------------------------- decoders
    def _states(self, z, z_prev):
        zz = torch.cat([z, torch.zeros_like(z) if z_prev is None else z_prev], dim=-1)  # (B, 2Z)
        return self.dec_pitch.init(zz), self.dec_instrument.init(zz), self.dec_velocity.init(zz)

    def decode_teacher_forced(self, z, z_prev, pitch, instrument, velocity):
        """Logits of every step given the true previous outputs: pitch (B, V, T, P), instrument
        (B, V, I), velocity (B, V, T) in [0, 1]."""
        c = self.config
        p, i, v = one_hot_rolls(pitch, instrument, velocity, c.n_pitch, c.n_instruments)
        hp, hi, hv = self._states(z, z_prev)
        lp, _ = self.dec_pitch(shift_right(p), z, hp)  # (B, T, V·P)
        li, _ = self.dec_instrument(shift_right(i), z, hi)  # (B, V, I)
        lv, _ = self.dec_velocity(shift_right(v), z, hv)  # (B, T, V)
        b = z.shape[0]
        return (lp.view(b, c.n_steps, c.n_voices, c.n_pitch).transpose(1, 2), li,
                torch.sigmoid(lv).transpose(1, 2))

    @torch.no_grad()
    def decode(self, z, z_prev=None):
        """Greedy decoding → pitch (B, V, T) long, instrument (B, V) long, velocity (B, V, T) float;
        ``z_prev`` (B, Z) the previous bar's z (None: a first bar)."""
        c = self.config
        b = z.shape[0]
        hp, hi, hv = self._states(z, z_prev)
        xp = z.new_zeros(b, 1, c.n_voices * c.n_pitch)
        xv = z.new_zeros(b, 1, c.n_voices)
        pitch, vel = [], []
        for _ in range(c.n_steps):
            lp, hp = self.dec_pitch(xp, z, hp)
            cls = lp.view(b, c.n_voices, c.n_pitch).argmax(-1)  # (B, V)
            pitch.append(cls)
            xp = F.one_hot(cls, c.n_pitch).float().view(b, 1, -1)
            lv, hv = self.dec_velocity(xv, z, hv)
            xv = torch.sigmoid(lv)
            xv = torch.where(xv < ONSET, 0.0, xv)  # the velocity roll holds 0 or ≥ 0.5
            vel.append(xv[:, 0])
        xi, inst = z.new_zeros(b, 1, c.n_instruments), []
        for _ in range(c.n_voices):
            li, hi = self.dec_instrument(xi, z, hi)
            cls = li[:, 0].argmax(-1)
            inst.append(cls)
            xi = F.one_hot(cls, c.n_instruments).float()[:, None]
        return torch.stack(pitch, dim=2), torch.stack(inst, dim=1), torch.stack(vel, dim=2)

    # --------------------------------------------------------------------------- loss
    def loss(self, pitch, instrument, velocity, style, prev=None, has_prev=None, generator=None) -> dict:
        """The training loss of bars (B, ...) and their previous bars ``prev`` (pitch, instrument,
        velocity of the bar before each; ``has_prev`` (B,) bool, False where there is none)."""
        c = self.config
        b = pitch.shape[0]
        if prev is not None:
            post = self.encode(*(torch.cat([x, y]) for x, y in zip((pitch, instrument, velocity), prev)))
            mean, scale = post.mean[:b], post.scale[:b]
            z_prev = post.mean[b:] * has_prev[:, None].float()  # (B, Z): the history, zeros for a first bar
        else:
            q = self.encode(pitch, instrument, velocity)
            mean, scale, z_prev = q.mean, q.scale, None
        eps = torch.randn(mean.shape, generator=generator, device=mean.device) * c.noise_std
        z = mean + scale * eps  # (B, Z)
        lp, li, v = self.decode_teacher_forced(z, z_prev, pitch, instrument, velocity)
        voiced = (pitch != c.n_pitch - 1).any(-1)  # (B, V): voices with a note
        pitch_ce = F.cross_entropy(lp.reshape(-1, c.n_pitch), pitch.reshape(-1).long())
        inst_ce = (F.cross_entropy(li.reshape(-1, c.n_instruments), instrument.reshape(-1).long(), reduction="none")
                   * voiced.reshape(-1)).sum() / voiced.sum().clamp_min(1)
        vel_mse = F.mse_loss(v, velocity.float())
        style_logits = self.style_logits(z)
        style_ce = F.cross_entropy(style_logits, style.long())
        kl = (0.5 * (scale.pow(2) + mean.pow(2) - 1.0 - 2 * scale.clamp_min(1e-6).log())).mean()
        loss = (c.w_pitch * pitch_ce + c.w_instrument * inst_ce + c.w_velocity * vel_mse + c.w_style * style_ce
                + c.beta * kl)
        return {"loss": loss, "pitch": pitch_ce.detach(), "instrument": inst_ce.detach(), "velocity": vel_mse.detach(),
                "style": style_ce.detach(), "kl": kl.detach(),
                "style_accuracy": (style_logits.argmax(-1) == style).float().mean().detach()}


# ------------------------------------------------------------------------------- latent operations
def swap_style(z: torch.Tensor, source: int, target: int, strength: float = 1.0) -> torch.Tensor:
    """z (N, Z) with the values of style dims ``source`` and ``target`` exchanged, moved ``strength``
    (0: unchanged, 1: fully swapped) of the way; every other dim is kept."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    out = z.clone()
    a, b = z[:, source], z[:, target]
    out[:, source] = (1 - strength) * a + strength * b
    out[:, target] = (1 - strength) * b + strength * a
    return out


def history(z: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
    """Each bar's previous-bar z for bars (N, Z) of one song in order (zeros for the first); with
    ``prev`` (N,) the row of each bar's previous bar (-1: none) instead of the order."""
    if prev is None:
        return torch.cat([torch.zeros_like(z[:1]), z[:-1]])
    prev = torch.as_tensor(prev, device=z.device).long()
    return torch.where((prev >= 0)[:, None], z[prev.clamp_min(0)], torch.zeros_like(z))


@torch.no_grad()
def decode_song(model: MIDIVAE, z: torch.Tensor, prev=None):
    """Decode the bars (N, Z) of a song bar by bar with history (see :func:`history`)."""
    return model.decode(z, history(z, prev))
