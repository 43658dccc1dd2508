"""A VirtuosoNet-like conditional VAE (Jeong et al., ISMIR 2019): score in, expressive
performance out, a style vector z deciding how.

Read top to bottom: the segment helpers, the hierarchical score encoder (note → beat →
measure), the performance (style) encoder, the decoder, the config, the model.
Shapes: B windows, T notes, NB beats, NM measures, F score features, P = 4 performance
targets (log2 beat period, velocity, timing, articulation — partitura's codec), Z style dims.
Targets are standardised with the training statistics kept in the config.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

NAME = "virtuoso"


def segment_mean(x: torch.Tensor, idx: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of ``x`` (B, T, H) over the notes of each segment ``idx`` (B, T) → (B, n, H)."""
    B, T, H = x.shape
    out = x.new_zeros(B, n, H).scatter_add_(1, idx.unsqueeze(-1).expand(B, T, H), x)
    cnt = x.new_zeros(B, n, 1).scatter_add_(1, idx.unsqueeze(-1), x.new_ones(B, T, 1))
    return out / cnt.clamp(min=1.0)


def broadcast(y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Each note's segment row: ``y`` (B, n, H), ``idx`` (B, T) → (B, T, H)."""
    return torch.gather(y, 1, idx.unsqueeze(-1).expand(-1, -1, y.shape[-1]))


def run_gru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """A batch-first GRU over padded sequences of ``lengths`` (None: all full)."""
    if lengths is None or bool((lengths == x.shape[1]).all()):
        return gru(x)[0]
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=x.shape[1])[0]


def _bigru(n_in: int, hidden: int) -> nn.GRU:
    return nn.GRU(n_in, hidden // 2, batch_first=True, bidirectional=True)


class ScoreEncoder(nn.Module):
    """Note-, beat- and measure-level bi-GRUs; each note's encoding joins all three."""

    def __init__(self, n_features: int, hidden: int):
        super().__init__()
        self.inp = nn.Linear(n_features, hidden)
        self.note = _bigru(hidden, hidden)
        self.beat = _bigru(hidden, hidden)
        self.measure = _bigru(hidden, hidden)
        self.out = nn.Linear(3 * hidden, hidden)

    def forward(self, feats, beat, measure, n_beats, n_measures):
        h = self.note(F.gelu(self.inp(feats)))[0]                                    # (B, T, H)
        hb = run_gru(self.beat, segment_mean(h, beat, int(n_beats.max())), n_beats)  # (B, NB, H)
        hm = run_gru(self.measure, segment_mean(h, measure, int(n_measures.max())), n_measures)  # (B, NM, H)
        return torch.tanh(self.out(torch.cat([h, broadcast(hb, beat), broadcast(hm, measure)], -1)))  # (B, T, H)


class StyleEncoder(nn.Module):
    """Score encoding + performance targets → q(z | performance, score)."""

    def __init__(self, hidden: int, n_targets: int, z_dims: int):
        super().__init__()
        self.inp = nn.Linear(hidden + n_targets, hidden)
        self.gru = _bigru(hidden, hidden)
        self.mu = nn.Linear(hidden, z_dims)
        self.logvar = nn.Linear(hidden, z_dims)

    def forward(self, enc, targets):
        h = self.gru(F.gelu(self.inp(torch.cat([enc, targets], -1))))[0].mean(1)  # (B, H)
        return self.mu(h), self.logvar(h).clamp(-8.0, 4.0)                        # (B, Z) each


class PerformanceDecoder(nn.Module):
    """Score encoding + z → per-note targets: tempo at the beat level (one value per beat,
    as a beat has one tempo), velocity/timing/articulation at the note level."""

    def __init__(self, hidden: int, z_dims: int, n_targets: int):
        super().__init__()
        self.beat_gru = _bigru(hidden + z_dims, hidden)
        self.tempo = nn.Linear(hidden, 1)
        self.note_gru = _bigru(2 * hidden + z_dims, hidden)
        self.note_out = nn.Linear(hidden, n_targets - 1)

    def forward(self, enc, z, beat, n_beats):
        B, T, _ = enc.shape
        eb = segment_mean(enc, beat, int(n_beats.max()))                                   # (B, NB, H)
        hb = run_gru(self.beat_gru, torch.cat([eb, z[:, None].expand(-1, eb.shape[1], -1)], -1), n_beats)
        hbn = broadcast(hb, beat)                                                          # (B, T, H)
        hn = self.note_gru(torch.cat([enc, hbn, z[:, None].expand(-1, T, -1)], -1))[0]     # (B, T, H)
        return torch.cat([self.tempo(hbn), self.note_out(hn)], -1)                        # (B, T, P)


@dataclass
class VirtuosoConfig:
    """Sizes, loss weights and the target statistics (so a checkpoint decodes on its own)."""

    n_features: int = 33
    n_targets: int = 4
    hidden: int = 96
    z_dims: int = 16
    beta: float = 0.005
    target_weights: tuple = (1.0, 1.0, 0.5, 0.5)
    target_mean: tuple = (0.0, 0.0, 0.0, 0.0)
    target_std: tuple = (1.0, 1.0, 1.0, 1.0)
    target_names: tuple = ("log2_beat_period", "velocity", "timing", "articulation_log")
    feature_names: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "VirtuosoConfig":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})


class VirtuosoVAE(nn.Module):
    """The conditional VAE. ``forward`` is the training objective; ``encode``/``decode`` the parts."""

    name = NAME

    def __init__(self, config: VirtuosoConfig):
        super().__init__()
        c = self.config = config
        self.score_encoder = ScoreEncoder(c.n_features, c.hidden)
        self.style_encoder = StyleEncoder(c.hidden, c.n_targets, c.z_dims)
        self.decoder = PerformanceDecoder(c.hidden, c.z_dims, c.n_targets)
        self.register_buffer("t_mean", torch.tensor(c.target_mean, dtype=torch.float32), persistent=False)
        self.register_buffer("t_std", torch.tensor(c.target_std, dtype=torch.float32), persistent=False)
        self.register_buffer("t_w", torch.tensor(c.target_weights, dtype=torch.float32), persistent=False)

    def normalize(self, targets):
        return ((targets - self.t_mean) / self.t_std).clamp(-5.0, 5.0)

    def denormalize(self, y):
        return y * self.t_std + self.t_mean

    def score(self, feats, beat, measure):
        """Score encoding (B, T, H); beat/measure (B, T) long from 0."""
        n_beats, n_measures = beat.max(1).values + 1, measure.max(1).values + 1
        return self.score_encoder(feats, beat, measure, n_beats, n_measures), n_beats

    def encode(self, feats, beat, measure, targets):
        """(mu, logvar), each (B, Z), of raw ``targets`` (B, T, P) played on the score."""
        enc, _ = self.score(feats, beat, measure)
        return self.style_encoder(enc, self.normalize(targets))

    def decode(self, feats, beat, measure, z):
        """Raw targets (B, T, P) for the score played in style ``z`` (B, Z)."""
        enc, n_beats = self.score(feats, beat, measure)
        return self.denormalize(self.decoder(enc, z, beat, n_beats))

    def forward(self, feats, beat, measure, targets, beta: float | None = None) -> dict:
        enc, n_beats = self.score(feats, beat, measure)
        y = self.normalize(targets)                                         # (B, T, P)
        mu, logvar = self.style_encoder(enc, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        pred = self.decoder(enc, z, beat, n_beats)                          # (B, T, P)
        per_target = ((pred - y) ** 2).mean((0, 1))                         # (P,)
        recon = (per_target * self.t_w).sum()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(1).mean()
        b = self.config.beta if beta is None else beta
        return {"loss": recon + b * kl, "recon": recon, "kl": kl,
                **{f"mse_{n}": v for n, v in zip(self.config.target_names, per_target)}}
