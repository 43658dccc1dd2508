"""The interface every melody model offers, and small shared pieces.

Models are plain ``nn.Module``s with no file I/O. Each offers
``encode(tokens, chroma) -> Posterior``, ``decode(z, chroma) -> DecodeOutput``,
``sample(n, chroma, temperature)``, ``loss(tokens, chroma, step, **attrs)`` and
``layout`` (named latent groups and regularised dims).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from explorer.music.melody import HOLD, N_PITCHES, REST


@dataclass
class Posterior:
    """Diagonal Gaussian q(z|x): ``mean`` and ``scale`` (std), both (B, D)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def rsample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.scale * eps


@dataclass
class DecodeOutput:
    """Decoder output: ``logits`` (B, T, 130) log-probabilities, ``tokens`` (B, T)
    the chosen tokens, ``rhythm_logits`` (B, T, 3) where the model has a rhythm
    decoder."""

    logits: torch.Tensor
    tokens: torch.Tensor
    rhythm_logits: torch.Tensor | None = None


@dataclass
class LatentLayout:
    """``dims`` in all; ``groups`` name → (start, stop); ``regularized``
    attribute → dim."""

    dims: int
    groups: dict = field(default_factory=dict)
    regularized: dict = field(default_factory=dict)

    def group_slice(self, name: str) -> slice:
        if name not in self.groups:
            raise KeyError(f"no latent group {name!r}; this model has {list(self.groups) or 'none'}")
        a, b = self.groups[name]
        return slice(a, b)

    def to_dict(self) -> dict:
        return {"dims": self.dims, "groups": {k: list(v) for k, v in self.groups.items()},
                "regularized": dict(self.regularized)}


def kl_normal(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, scale²) ‖ N(0, 1)) per dim, (B, D)."""
    var = scale.pow(2).clamp_min(1e-12)
    return 0.5 * (var + mean.pow(2) - 1.0 - var.log())


def teacher_forcing_ratio(step: int, k: float) -> float:
    """Inverse-sigmoid decay of teacher forcing (Bengio et al. 2015), as EC²-VAE uses it:
    k / (k + exp(step / k)). ``k <= 0`` keeps full teacher forcing at every step, as magenta's
    16-bar configs train (their default ``sampling_rate`` 0)."""
    if k <= 0:
        return 1.0
    return float(k / (k + math.exp(min(step / k, 700))))


def pick_tokens(logp: torch.Tensor, sample: bool, temperature: float) -> torch.Tensor:
    """Class indices (B,) from log-probabilities (B, C): argmax, or a sample at ``temperature``."""
    if sample:
        return torch.distributions.Categorical(logits=logp / max(temperature, 1e-4)).sample()
    return logp.argmax(-1)


def rhythm_targets(tokens: torch.Tensor) -> torch.Tensor:
    """Rhythm classes (B, T) of tokens: 0 onset, 1 hold, 2 rest."""
    t = tokens.long()
    out = torch.zeros_like(t)
    out[t == HOLD] = 1
    out[t == REST] = 2
    return out


def pitch_bounds(tokens: torch.Tensor):
    """(lowest, highest) pitch per row (B,) of tokens (B, T); 10000 / -10000 for a row without notes."""
    pitched = tokens < N_PITCHES
    big = torch.full_like(tokens, 10_000)
    return torch.where(pitched, tokens, big).min(1).values, torch.where(pitched, tokens, -big).max(1).values


def shift_melodies(tokens: torch.Tensor, chroma: torch.Tensor, shift: torch.Tensor):
    """Tokens (B, T) and chroma (B, T, 12) moved by ``shift`` (B,) semitones per row (pitches
    only; holds and rests stay), the chord chroma rolled with them. The caller keeps the
    pitches inside 0..127."""
    tok = torch.where(tokens < N_PITCHES, tokens + shift[:, None], tokens)
    idx = (torch.arange(12, device=chroma.device)[None, :] - shift[:, None]) % 12  # new[pc] = old[pc - s]
    return tok, torch.gather(chroma, 2, idx[:, None, :].expand(-1, chroma.size(1), -1))


# ---- scheduled sampling over whole sequences (the decoders' training passes) ------------
def shift_in(seq: torch.Tensor, start: int) -> torch.Tensor:
    """(B, T) → the previous value at each step: ``start`` then seq[:, :-1]."""
    return torch.cat([torch.full_like(seq[:, :1], start), seq[:, :-1]], 1)


def mix(truth: torch.Tensor, guess: torch.Tensor, keep_prob: float) -> torch.Tensor:
    """Each entry from ``truth`` with probability ``keep_prob``, else from ``guess``."""
    return torch.where(torch.rand(truth.shape, device=truth.device) < keep_prob, truth, guess)


def run_gru_cell(cell: nn.GRUCell, x: torch.Tensor, h0: torch.Tensor, training: bool) -> torch.Tensor:
    """A GRU cell's own weights run over a whole sequence x (B, T, I) from h0 (B, H) → (B, T, H)."""
    h, _ = torch.gru(x, h0[None].contiguous(), [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh],
                     True, 1, 0.0, training, False, True)
    return h


class MelodyVAE(nn.Module):
    """Base class: subclasses set ``name``, ``config`` and implement the methods."""

    name = "melody-vae"
    #: True when the chord chroma conditions the model (a melody without chords is then
    #: better served with chords estimated from its notes: ``music.chords.estimate_chords``).
    chord_conditioned = False

    @property
    def layout(self) -> LatentLayout:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_steps(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, tokens, chroma) -> Posterior:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z, chroma, **kwargs) -> DecodeOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, tokens, chroma, step: int = 0, **attrs) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def teacher_forcing_at(self, step: int) -> float:
        """The teacher-forcing ratio at training ``step`` (the config's ``k``)."""
        return teacher_forcing_ratio(step, self.config.k)

    @torch.no_grad()
    def sample(self, n: int, chroma=None, *, temperature: float = 1.0, generator=None) -> DecodeOutput:
        """Decode ``n`` draws of the prior scaled by ``temperature``; sampling the
        tokens at the same temperature."""
        dev = next(self.parameters()).device
        z = torch.randn(n, self.layout.dims, generator=generator, device=dev) * temperature
        if chroma is None:
            chroma = torch.zeros(n, self.n_steps, 12, device=dev)
        return self.decode(z, chroma, sample=temperature > 0, temperature=max(temperature, 1e-4))
