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
    mix,
    pick_tokens,
    pitch_bounds,
    rhythm_targets,
    run_gru_cell,
    shift_in,
    shift_melodies,
)
from explorer.models.fast_decode import cached, gru_loop, start_tokens, token_table, use_fast


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
    # beyond the paper (training only, no new parameters: the authors' layout still loads)
    chord_dropout: float = 0.0  # share of training melodies whose chord condition is zeroed (melodies without chords)
    consistency: float = 0.0  # weight of ‖μ_r(x) − μ_r(transposed x)‖² (transposition must not move z_r)
    # scheduled sampling as whole-sequence passes (fast on a GPU); on a CPU the step loop is ~20% faster per step
    parallel_training: bool = False

    # the authors' released configuration
    @classmethod
    def authors(cls) -> "EC2VAEConfig":
        return cls(130, 2048, 3, 12, 128, 128, 32)


class EC2VAE(MelodyVAE):
    name = "ec2vae"
    chord_conditioned = True

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
    def _rhythm_decoder(self, z_r, sample: bool = False, temperature: float = 1.0, target=None, tf: float = 0.0):
        b = z_r.size(0)
        out = z_r.new_zeros(b, self.config.rhythm_dims)
        out[:, -1] = 1.0
        hx = torch.tanh(self.linear_init_0(z_r))
        logps = []
        for i in range(self.config.n_step):
            hx = self.grucell_0(torch.cat([out, z_r], 1), hx)
            logp = F.log_softmax(self.linear_out_0(hx), 1)
            logps.append(logp)
            out = _pick(logp, sample, temperature, target, i, tf)
        return torch.stack(logps, 1)

    def _melody_decoder(self, z_p, rhythm, chroma, sample: bool = False, temperature: float = 1.0, target=None,
                        tf: float = 0.0):
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
            out = _pick(logp, sample, temperature, target, i, tf)
        return torch.stack(logps, 1)

    def decode(self, z, chroma, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
               temperature: float = 1.0, reference: bool = False) -> DecodeOutput:
        """Generation step by step (in eval mode the fast loops of ``_decode_fast``, the same
        tokens; ``reference=True`` forces the plain loop). With a ``target``: full teacher forcing
        (tf = 1) runs as whole-sequence passes; scheduled sampling (0 < tf < 1) feeds each row the
        true previous value with probability tf, else its own choice, in the step loop — or, with
        ``parallel_training``, as whole-sequence passes (``_decode_parallel``)."""
        c = self.config
        z_p, z_r = z[:, :c.z1_dims], z[:, c.z1_dims:]
        chroma = chroma.float()
        forced = target is not None and teacher_forcing > 0
        if forced and (teacher_forcing >= 1 or c.parallel_training):
            return self._decode_parallel(z_p, z_r, chroma, target.long(), teacher_forcing)
        if not forced and use_fast(self, reference):
            return self._decode_fast(z_p, z_r, chroma, sample, max(temperature, 1e-4))
        tf = teacher_forcing if forced else 0.0
        r_target = rhythm_targets(target) if forced else None
        rhythm_logp = self._rhythm_decoder(z_r, sample, temperature, r_target, tf)
        # the melody decoder reads the rhythm decoder's log-probabilities, as in the authors' code
        logp = self._melody_decoder(z_p, rhythm_logp, chroma, sample, temperature,
                                    target.long() if forced else None, tf)
        return DecodeOutput(logp, logp.argmax(-1), rhythm_logp)

    # ---- the same decoders, fast (generation) -----------------------------------
    def _fast_tables(self):
        """Rhythm's previous-class gates (3, 3H); the melody's previous-token gates (130, 3H) and
        its per-step inputs' weights (3 + 12, 3H), rhythm and chroma columns side by side."""
        c, w = self.config, self.grucell_1.weight_ih  # columns: previous token, rhythm, z_p, chroma
        R, Q = c.roll_dims, c.rhythm_dims
        return (token_table(None, self.grucell_0.weight_ih, slice(0, Q)), token_table(None, w, slice(0, R)),
                torch.cat([w[:, R:R + Q], w[:, R + Q + c.z1_dims:]], 1).t().contiguous())

    def _decode_fast(self, z_p, z_r, chroma, sample: bool, temperature: float) -> DecodeOutput:
        """``decode`` without a target through ``fast_decode.gru_loop``: what does not depend on
        the previous value (z, the rhythm stream, chords) is projected for all steps at once."""
        c, g0, g1, g2 = self.config, self.grucell_0, self.grucell_1, self.grucell_2
        r_table, m_table, w_steps = cached(self, "tables", self._fast_tables)
        b, t, R, Q = z_p.size(0), c.n_step, c.roll_dims, c.rhythm_dims
        seq0 = F.linear(z_r, g0.weight_ih[:, Q:], g0.bias_ih)[:, None].expand(-1, t, -1)  # (B, T, 3H)
        rhythm_logp, _ = gru_loop(seq0, r_table, g0.weight_hh, g0.bias_hh, torch.tanh(self.linear_init_0(z_r)),
                                  self.linear_out_0.weight, self.linear_out_0.bias, start_tokens(b, Q - 1, z_p.device),
                                  sample, temperature, None, 0, None)  # (B, T, 3)
        static = F.linear(z_p, g1.weight_ih[:, R + Q:R + Q + c.z1_dims], g1.bias_ih)  # (B, 3H)
        seq1 = torch.matmul(torch.cat([rhythm_logp, chroma], -1), w_steps).add_(static[:, None])  # (B, T, 3H)
        logp, _ = gru_loop(seq1, m_table, g1.weight_hh, g1.bias_hh, torch.tanh(self.linear_init_1(z_p)),
                           self.linear_out_1.weight, self.linear_out_1.bias, start_tokens(b, R - 1, z_p.device),
                           sample, temperature, None, 0, [g2.weight_ih, g2.weight_hh, g2.bias_ih, g2.bias_hh])
        return DecodeOutput(logp, logp.argmax(-1), rhythm_logp)

    # ---- the same decoders over whole sequences (training) ---------------------
    def _rhythm_given_prev(self, z_r, prev):
        """Rhythm log-probs (B, T, 3) when the previous rhythm classes are ``prev`` (B, T)."""
        x = torch.cat([F.one_hot(prev, self.config.rhythm_dims).float(),
                       z_r[:, None, :].expand(-1, prev.size(1), -1)], -1)  # (B, T, 3 + Z_r)
        h = run_gru_cell(self.grucell_0, x, torch.tanh(self.linear_init_0(z_r)), self.training)
        return F.log_softmax(self.linear_out_0(h), -1)

    def _melody_given_prev(self, z_p, rhythm, chroma, prev):
        """Melody log-probs (B, T, 130) when the previous tokens are ``prev`` (B, T)."""
        t = prev.size(1)
        x = torch.cat([F.one_hot(prev, self.config.roll_dims).float(), rhythm,
                       z_p[:, None, :].expand(-1, t, -1), chroma], -1)  # (B, T, 130 + 3 + Z_p + 12)
        h0 = run_gru_cell(self.grucell_1, x, torch.tanh(self.linear_init_1(z_p)), self.training)  # (B, T, H)
        h1 = run_gru_cell(self.grucell_2, h0, h0[:, 0], self.training)  # the second cell starts from the first's step 0
        return F.log_softmax(self.linear_out_1(h1), -1)

    def _decode_parallel(self, z_p, z_r, chroma, target, teacher_forcing: float) -> DecodeOutput:
        """Parallel scheduled sampling (Duckworth et al. 2019), as the MusicVAE trains: for
        each decoder a pass without gradient guesses every step; each input is the true
        previous value with probability ``teacher_forcing``, else that guess."""
        r_target = rhythm_targets(target)
        r_prev = shift_in(r_target, self.config.rhythm_dims - 1)
        m_prev = shift_in(target, self.config.roll_dims - 1)
        if teacher_forcing < 1:
            with torch.no_grad():
                r_guess = self._rhythm_given_prev(z_r, r_prev).argmax(-1)
            r_prev = mix(r_prev, shift_in(r_guess, self.config.rhythm_dims - 1), teacher_forcing)
        rhythm_logp = self._rhythm_given_prev(z_r, r_prev)
        if teacher_forcing < 1:
            with torch.no_grad():
                m_guess = self._melody_given_prev(z_p, rhythm_logp, chroma, m_prev).argmax(-1)
            m_prev = mix(m_prev, shift_in(m_guess, self.config.roll_dims - 1), teacher_forcing)
        logp = self._melody_given_prev(z_p, rhythm_logp, chroma, m_prev)
        return DecodeOutput(logp, logp.argmax(-1), rhythm_logp)

    # ---- training -----------------------------------------------------------
    def loss(self, tokens, chroma, step: int = 0, **_) -> dict:
        c = self.config
        chroma = chroma.float()
        if self.training and c.chord_dropout > 0:
            keep = torch.rand(tokens.size(0), 1, 1, device=chroma.device) >= c.chord_dropout
            chroma = chroma * keep
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
        terms = {"nll": nll.detach(), "nll_rhythm": nll_r.detach(), "kl_p": kl_p.detach(), "kl_r": kl_r.detach(),
                 "tf": torch.tensor(tf)}
        if c.consistency > 0:
            moved_tok, moved_ch = transpose_randomly(tokens.long(), chroma)
            mu_r = self.encode(moved_tok, moved_ch).mean[:, c.z1_dims:]
            cons = (post.mean[:, c.z1_dims:] - mu_r).pow(2).sum(-1).mean()
            total = total + c.consistency * cons
            terms["consistency"] = cons.detach()
        return {"loss": total} | terms


def transpose_randomly(tokens, chroma, max_shift: int = 6):
    """Each melody (B, T) and its chroma (B, T, 12) moved by a random non-zero shift in
    ±``max_shift`` semitones that keeps its pitches in 0..127 (0 when none does)."""
    lo, hi = pitch_bounds(tokens)
    mag = torch.randint(1, max_shift + 1, (tokens.size(0),), device=tokens.device)
    shift = torch.where(torch.rand(tokens.size(0), device=tokens.device) < 0.5, -mag, mag)
    shift = torch.where(hi + shift > 127, -mag, shift)
    shift = torch.where(lo + shift < 0, mag, shift)
    fits = (lo + shift >= 0) & (hi + shift <= 127) & (tokens < 128).any(1)
    shift = torch.where(fits, shift, torch.zeros_like(shift))
    return shift_melodies(tokens, chroma, shift)


def _pick(logp, sample: bool, temperature: float, target=None, i: int = 0, tf: float = 0.0):
    """The next step's input as a one-hot vector: the chosen class, or (scheduled sampling,
    per row with probability ``tf``) the target's class at step ``i``."""
    chosen = pick_tokens(logp, sample, temperature)
    if target is not None and tf > 0:
        chosen = torch.where(torch.rand(chosen.shape, device=chosen.device) < tf, target[:, i], chosen)
    return F.one_hot(chosen, logp.size(-1)).float()


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
