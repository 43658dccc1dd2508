"""ExtRes (Akama, "Controlling Symbolic Music Generation Based on Concept Learning from Domain
Knowledge", ISMIR 2019): an extraction VAE for a concept y = f(x) and a residual CVAE for the rest.

- extraction model: q(z_e | y) (a bidirectional GRU over y) and p(y | z_e) (an autoregressive GRU);
- residual model: q(z_r | x, y) (a bidirectional GRU over the melody and y per step) and
  p(x | z_r, y) (an autoregressive GRU that reads y at every step).

Loss, per melody and divided by its steps: NLL(x) + NLL(y) + β (max(KL_e − free_e, 0) +
max(KL_r − free_r, 0)), KL summed over each group's dims, free_e = ``free_bits`` · ln 2 and free_r
the same or ``free_bits_residual`` · ln 2.
Generation: z_e → y → x, or y taken from a melody (``decode(z, concept=y)``) → x.

The concept is named in the config (``concept``: a built-in name or a user's ``"pkg.mod:func"``)
with its class count and length, so the model builds without running it; the function is looked
up in :mod:`explorer.music.concepts` when melodies are encoded or trained on, never imported here.

Shapes: tokens x (B, T) in 0..129; concept y (B, L) in 0..K-1 with T a multiple of L; the code
z = [z_e, z_r] (B, Ze + Zr).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.base import DecodeOutput, LatentLayout, MelodyVAE, Posterior, kl_normal, mix, pick_tokens, shift_in
from explorer.models.fast_decode import cached, gru_loop, start_tokens, token_table, use_fast
from explorer.music.concepts import ConceptError, get_concept
from explorer.music.melody import N_PITCHES, N_TOKENS


class SeqEncoder(nn.Module):
    """A bidirectional GRU over input vectors (B, T, I) → a diagonal Gaussian over z (B, Z)."""

    def __init__(self, in_dims: int, hidden: int, z_dims: int):
        super().__init__()
        self.gru = nn.GRU(in_dims, hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * hidden, z_dims)
        self.to_logscale = nn.Linear(2 * hidden, z_dims)

    def forward(self, x: torch.Tensor) -> Posterior:
        _, h = self.gru(x)  # (2, B, H)
        h = h.transpose(0, 1).reshape(x.size(0), -1)  # (B, 2H)
        return Posterior(self.to_mu(h), F.softplus(self.to_logscale(h)) + 1e-4)


def last_pitch(prev: torch.Tensor) -> torch.Tensor:
    """For previous tokens (B, T), the pitch of the latest onset among them up to each step (B, T);
    N_PITCHES where there is none yet."""
    steps = torch.arange(prev.size(1), device=prev.device).expand_as(prev)
    idx = torch.where(prev < N_PITCHES, steps, torch.full_like(steps, -1)).cummax(1).values
    return torch.where(idx >= 0, prev.gather(1, idx.clamp_min(0)), torch.full_like(prev, N_PITCHES))


class SeqDecoder(nn.Module):
    """An autoregressive GRU over ``n_out`` classes: reads the previous class and a per-step
    condition (B, T, C); its state starts from a code (B, Z). With ``carry_last`` (melodies) it
    also reads the pitch of the latest onset so far, which a hold or rest would otherwise hide."""

    def __init__(self, n_out: int, embed: int, cond_dims: int, z_dims: int, hidden: int, carry_last: bool = False):
        super().__init__()
        self.start = n_out  # the embedding row of the start symbol
        self.embed = nn.Embedding(n_out + 1, embed)
        self.last = nn.Embedding(N_PITCHES + 1, embed) if carry_last else None
        self.init = nn.Linear(z_dims, hidden)
        self.gru = nn.GRU(embed * (2 if carry_last else 1) + cond_dims, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_out)

    def _inputs(self, prev: torch.Tensor, cond: torch.Tensor, last=None) -> torch.Tensor:
        parts = [self.embed(prev)]
        if self.last is not None:
            parts.append(self.last(last_pitch(prev) if last is None else last))
        return torch.cat(parts + [cond], -1)

    def run(self, prev: torch.Tensor, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, n_out) for previous classes ``prev`` (B, T)."""
        h, _ = self.gru(self._inputs(prev, cond), torch.tanh(self.init(z))[None])
        return F.log_softmax(self.out(h), -1)

    def teacher_forced(self, target: torch.Tensor, cond, z, teacher_forcing: float) -> torch.Tensor:
        """Log-probs (B, T, n_out): each input the true previous class with probability
        ``teacher_forcing``, else the model's own guess from a pass without gradient (parallel
        scheduled sampling, Duckworth et al. 2019)."""
        prev = shift_in(target, self.start)
        if teacher_forcing < 1:
            with torch.no_grad():
                guess = self.run(prev, cond, z).argmax(-1)
            prev = mix(prev, shift_in(guess, self.start), teacher_forcing)
        return self.run(prev, cond, z)

    def generate(self, cond: torch.Tensor, z: torch.Tensor, sample: bool, temperature: float,
                 reference: bool = False):
        """Step by step: (log-probs (B, T, n_out), classes (B, T)) for the condition (B, T, C); in
        eval mode through ``generate_fast`` (the same classes) unless ``reference``."""
        if use_fast(self, reference):
            return self.generate_fast(cond, z, sample, max(temperature, 1e-4))
        h = torch.tanh(self.init(z))[None]
        prev = torch.full((z.size(0),), self.start, dtype=torch.long, device=z.device)
        last = torch.full_like(prev, N_PITCHES)
        logps, picks = [], []
        for t in range(cond.size(1)):
            out, h = self.gru(self._inputs(prev, cond[:, t], last)[:, None], h)
            logp = F.log_softmax(self.out(out[:, 0]), -1)
            prev = pick_tokens(logp, sample, temperature)
            last = torch.where(prev < N_PITCHES, prev, last)
            logps.append(logp)
            picks.append(prev)
        return torch.stack(logps, 1), torch.stack(picks, 1)

    def _tables(self):
        """The previous class's input gates (n_out + 1, 3H) and the latest pitch's (129, 3H) or None."""
        e, w = self.embed.weight.size(1), self.gru.weight_ih_l0  # columns: previous class, [latest pitch], cond
        last = None if self.last is None else token_table(self.last.weight, w, slice(e, 2 * e))
        return token_table(self.embed.weight, w, slice(0, e)), last

    def generate_fast(self, cond: torch.Tensor, z: torch.Tensor, sample: bool, temperature: float):
        """``generate`` through ``fast_decode.gru_loop``: the previous class and the latest pitch are
        rows of tables, the condition's share of the input gates is computed for all steps at once."""
        table, last = cached(self, "tables", self._tables)
        w = self.gru.weight_ih_l0
        seq = F.linear(cond, w[:, w.size(1) - cond.size(-1):], self.gru.bias_ih_l0)  # (B, T, 3H)
        return gru_loop(seq, table, self.gru.weight_hh_l0, self.gru.bias_hh_l0, torch.tanh(self.init(z)),
                        self.out.weight, self.out.bias, start_tokens(z.size(0), self.start, z.device), sample,
                        temperature, last, N_PITCHES, None)


@dataclass(frozen=True)
class ExtResConfig:
    concept: str = "rhythm"  # a built-in concept's name or a user's "pkg.mod:func" (text; never imported here)
    concept_classes: int = 3
    concept_len: int = 32  # positions of y; n_step must be a multiple
    n_step: int = 32
    hidden_dims: int = 256
    embed_dims: int = 64
    ze_dims: int = 16  # the concept's code
    zr_dims: int = 64  # the residual's code
    beta: float = 0.7  # the paper: 0.7 … 1.0 by concept
    free_bits: float = 32.0  # per latent group, in bits: KL below this is not penalised
    free_bits_residual: float | None = None  # z_r's own free bits (None: free_bits); fewer make p(x|z_r,y) lean on y
    carry_last_pitch: bool = False  # the melody decoder also reads the latest onset's pitch (for pitch concepts)
    k: float = 400.0  # teacher forcing decays as k / (k + exp(step / k))


@dataclass
class ExtResOutput(DecodeOutput):
    """DecodeOutput plus the concept: ``concept`` (B, L) the y the melody was decoded from,
    ``concept_logits`` (B, L, K) when y came from z_e (None when it was given)."""

    concept: torch.Tensor | None = None
    concept_logits: torch.Tensor | None = None


class ExtRes(MelodyVAE):
    name = "extres"

    def __init__(self, config: ExtResConfig = ExtResConfig()):
        super().__init__()
        c = self.config = config
        if c.concept_len <= 0 or c.n_step % c.concept_len:
            raise ValueError(f"concept_len {c.concept_len} must divide n_step {c.n_step}")
        if c.concept_classes < 2:
            raise ValueError(f"a concept needs at least 2 classes, got concept_classes={c.concept_classes}")
        k = c.concept_classes
        self.extract_enc = SeqEncoder(k, c.hidden_dims, c.ze_dims)
        self.extract_dec = SeqDecoder(k, c.embed_dims, c.ze_dims, c.ze_dims, c.hidden_dims)
        self.residual_enc = SeqEncoder(N_TOKENS + k, c.hidden_dims, c.zr_dims)
        self.residual_dec = SeqDecoder(N_TOKENS, c.embed_dims, k + c.zr_dims, c.zr_dims, c.hidden_dims,
                                       c.carry_last_pitch)

    @property
    def layout(self) -> LatentLayout:
        c = self.config
        return LatentLayout(c.ze_dims + c.zr_dims, {"concept": (0, c.ze_dims),
                                                     "residual": (c.ze_dims, c.ze_dims + c.zr_dims)})

    @property
    def n_steps(self) -> int:
        return self.config.n_step

    # ---- the concept ---------------------------------------------------------------------------
    def concept_of(self, tokens: torch.Tensor) -> torch.Tensor:
        """y = f(x) (B, L) long for tokens (B, T), by the concept named in the config (looked up,
        never imported); ConceptError when it is not loaded or its output does not fit the model."""
        c = self.config
        y = get_concept(c.concept)(tokens.detach().cpu().numpy())
        if y.shape[1:] != (c.concept_len,) or y.min(initial=0) < 0 or y.max(initial=0) >= c.concept_classes:
            raise ConceptError(f"concept {c.concept!r} gave classes {y.min(initial=0)}..{y.max(initial=0)} over "
                               f"{y.shape[1:]} positions; this model was built for {c.concept_classes} classes over "
                               f"{c.concept_len}")
        return torch.as_tensor(y, device=tokens.device)

    def _y_steps(self, y: torch.Tensor) -> torch.Tensor:
        """One-hot y (B, L) repeated onto the melody's steps (B, T, K)."""
        c = self.config
        return F.one_hot(y.long(), c.concept_classes).float().repeat_interleave(c.n_step // c.concept_len, 1)

    def _ze_steps(self, z_e: torch.Tensor) -> torch.Tensor:
        return z_e[:, None, :].expand(-1, self.config.concept_len, -1)  # (B, L, Ze)

    def _x_cond(self, y: torch.Tensor, z_r: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._y_steps(y), z_r[:, None, :].expand(-1, self.config.n_step, -1)], -1)  # (B, T, K+Zr)

    # ---- encoders ------------------------------------------------------------------------------
    def encode_concept(self, y: torch.Tensor) -> Posterior:
        """q(z_e | y) for y (B, L)."""
        return self.extract_enc(F.one_hot(y.long(), self.config.concept_classes).float())

    def encode_residual(self, tokens: torch.Tensor, y: torch.Tensor) -> Posterior:
        """q(z_r | x, y) for tokens (B, T) and y (B, L)."""
        x = F.one_hot(tokens.long(), N_TOKENS).float()
        return self.residual_enc(torch.cat([x, self._y_steps(y)], -1))

    def encode(self, tokens, chroma=None, *, concept=None) -> Posterior:
        """q([z_e, z_r] | x) with y = f(x), or the given ``concept`` (B, L). Chords are not used."""
        y = self.concept_of(tokens) if concept is None else concept.long()
        pe, pr = self.encode_concept(y), self.encode_residual(tokens, y)
        return Posterior(torch.cat([pe.mean, pr.mean], 1), torch.cat([pe.scale, pr.scale], 1))

    # ---- decoders ------------------------------------------------------------------------------
    def decode_concept(self, z_e, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
                       temperature: float = 1.0, reference: bool = False):
        """p(y | z_e): (log-probs (B, L, K), y (B, L)); with a ``target`` y, teacher forced;
        ``reference=True``: the plain step loop instead of the fast one (the same classes)."""
        cond = self._ze_steps(z_e)
        if target is not None and teacher_forcing > 0:
            logp = self.extract_dec.teacher_forced(target.long(), cond, z_e, teacher_forcing)
            return logp, logp.argmax(-1)
        return self.extract_dec.generate(cond, z_e, sample, temperature, reference)

    def decode_melody(self, z_r, y, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
                      temperature: float = 1.0, reference: bool = False) -> ExtResOutput:
        """p(x | z_r, y) for z_r (B, Zr) and y (B, L); with a ``target`` melody, teacher forced;
        ``reference=True``: the plain step loop instead of the fast one (the same tokens)."""
        cond = self._x_cond(y, z_r)
        if target is not None and teacher_forcing > 0:
            logp = self.residual_dec.teacher_forced(target.long(), cond, z_r, teacher_forcing)
            return ExtResOutput(logp, logp.argmax(-1), concept=y)
        logp, tok = self.residual_dec.generate(cond, z_r, sample, temperature, reference)
        return ExtResOutput(logp, tok, concept=y)

    def split(self, z: torch.Tensor):
        """(z_e, z_r) of codes z (B, Ze + Zr)."""
        return z[:, :self.config.ze_dims], z[:, self.config.ze_dims:]

    def decode(self, z, chroma=None, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
               temperature: float = 1.0, concept=None, reference: bool = False) -> ExtResOutput:
        """z → y → x. y is ``concept`` (B, L) when given; else, with a ``target`` and teacher forcing,
        f(target) for the melody decoder (and y's own log-probs teacher forced); else decoded from z_e."""
        z_e, z_r = self.split(z)
        forced = target is not None and teacher_forcing > 0
        y_logp = None
        if concept is not None:
            y = concept.long()
        elif forced:
            y = self.concept_of(target)
            y_logp, _ = self.decode_concept(z_e, target=y, teacher_forcing=teacher_forcing)
        else:
            y_logp, y = self.decode_concept(z_e, sample=sample, temperature=temperature, reference=reference)
        out = self.decode_melody(z_r, y, target=target if forced else None, teacher_forcing=teacher_forcing,
                                 sample=sample, temperature=temperature, reference=reference)
        out.concept_logits = y_logp
        return out

    # ---- training ------------------------------------------------------------------------------
    def loss(self, tokens, chroma=None, step: int = 0, **_) -> dict:
        c = self.config
        x = tokens.long()
        y = self.concept_of(x)
        pe, pr = self.encode_concept(y), self.encode_residual(x, y)
        z_e, z_r = pe.rsample(), pr.rsample()
        tf = self.teacher_forcing_at(step) if self.training else 1.0
        y_logp, _ = self.decode_concept(z_e, target=y, teacher_forcing=tf)
        x_logp = self.decode_melody(z_r, y, target=x, teacher_forcing=tf).logits
        nll_x = -x_logp.gather(-1, x[..., None])[..., 0].sum(1)  # (B,) summed over steps
        nll_y = -y_logp.gather(-1, y[..., None])[..., 0].sum(1)  # (B,) summed over positions
        kl_e = kl_normal(pe.mean, pe.scale).sum(-1)  # (B,)
        kl_r = kl_normal(pr.mean, pr.scale).sum(-1)
        free_r = c.free_bits if c.free_bits_residual is None else c.free_bits_residual
        kl_term = (kl_e - c.free_bits * math.log(2.0)).clamp_min(0.0) + (kl_r - free_r * math.log(2.0)).clamp_min(0.0)
        total = (nll_x + nll_y + c.beta * kl_term).mean() / c.n_step
        return {"loss": total, "nll": nll_x.mean().detach() / c.n_step, "nll_concept": nll_y.mean().detach() / c.n_step,
                "kl_e": kl_e.mean().detach(), "kl_r": kl_r.mean().detach(), "tf": torch.tensor(tf)}


def concept_tensor(y, device) -> torch.Tensor:
    """Concept classes (B, L) (numpy or list) as a long tensor on ``device``."""
    return torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
