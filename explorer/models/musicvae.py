"""MusicVAE (Roberts et al., "A Hierarchical Latent Vector Model for Learning
Long-Term Structure in Music", ICML 2018) for monophonic melodies.

- ``MusicVAE`` (flat): a bidirectional LSTM encoder, z, and an autoregressive
  LSTM decoder whose initial state and every input carry z. The paper's 2-bar
  melody model; the same class with ``n_step=256`` is the flat 16-bar baseline.
- ``HierarchicalMusicVAE``: the same encoder; a *conductor* LSTM turns z into
  one embedding per bar, and a bar decoder generates each bar from its
  embedding alone (its state restarts at every bar; it also reads the previous
  token, which carries over from the bar before). The restart is what keeps
  long melodies' structure: the decoder cannot ignore z by leaning on 255
  steps of its own history.

Loss: per-melody reconstruction NLL (summed over steps) + β_t · max(KL − free
nats, 0), β_t annealed to β as β(1 − rate^step), β, rate and free bits as in
magenta's ``cat-mel_2bar_small`` and ``hierdec-mel_16bar`` configs, all
divided by the number of steps. Teacher forcing decays as in the other
models, done as parallel scheduled sampling (Duckworth et al. 2019): a first
pass without gradient predicts every token, then each input is the true token
with probability ``tf`` or the model's prediction otherwise. Both passes run
the LSTMs over whole sequences, which is far faster on a CPU than a step
loop; generation without a target loops step by step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.base import (DecodeOutput, LatentLayout, MelodyVAE, Posterior, kl_normal, mix, pick_tokens,
                                  shift_in)
from explorer.models.fast_decode import cached, lstm_loop, token_table, use_fast
from explorer.music.melody import N_TOKENS

START = N_TOKENS  # the embedding row of the start token


class StateFromZ(nn.Module):
    """A vector → the (h0, c0) of a ``layers``-deep LSTM of width ``hidden`` (tanh, as in MusicVAE)."""

    def __init__(self, z_dims: int, hidden: int, layers: int):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.proj = nn.Linear(z_dims, 2 * layers * hidden)

    def forward(self, z: torch.Tensor):
        s = torch.tanh(self.proj(z)).view(z.size(0), 2, self.layers, self.hidden)  # (B, 2, L, H)
        return s[:, 0].transpose(0, 1).contiguous(), s[:, 1].transpose(0, 1).contiguous()  # (L, B, H) each


class TokenDecoder(nn.Module):
    """An LSTM that reads (previous token, context) and predicts the next token.

    ``context`` is z for the flat model and the bar's conductor embedding for
    the hierarchical one; it sets the initial state and joins every input.
    """

    def __init__(self, context_dims: int, embed_dims: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(N_TOKENS + 1, embed_dims)
        self.init = StateFromZ(context_dims, hidden, layers)
        self.lstm = nn.LSTM(embed_dims + context_dims, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, N_TOKENS)

    def run(self, prev: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, 130) for given previous tokens ``prev`` (B, T) and ``context`` (B, C)."""
        x = torch.cat([self.embed(prev), context[:, None, :].expand(-1, prev.size(1), -1)], -1)  # (B, T, E + C)
        h, _ = self.lstm(x, self.init(context))
        return F.log_softmax(self.out(h), -1)

    def generate(self, context: torch.Tensor, prev: torch.Tensor, n: int, sample: bool, temperature: float,
                 reference: bool = False):
        """Step by step: (log-probs (B, n, 130), tokens (B, n)) starting after token ``prev`` (B,);
        in eval mode through ``generate_fast`` (the same tokens) unless ``reference``."""
        if use_fast(self, reference):
            return self.generate_fast(context, prev, n, sample, max(temperature, 1e-4))
        state = self.init(context)
        logps, toks = [], []
        for _ in range(n):
            x = torch.cat([self.embed(prev), context], -1)[:, None, :]  # (B, 1, E + C)
            h, state = self.lstm(x, state)
            logp = F.log_softmax(self.out(h[:, 0]), -1)
            prev = pick_tokens(logp, sample, temperature)
            logps.append(logp)
            toks.append(prev)
        return torch.stack(logps, 1), torch.stack(toks, 1)

    def generate_fast(self, context: torch.Tensor, prev: torch.Tensor, n: int, sample: bool, temperature: float):
        """``generate`` through ``fast_decode.lstm_loop``: the embedded previous token is a row of a
        (131, 4H) table and the context's share of layer 0's input gates is computed once."""
        lstm, e = self.lstm, self.embed.weight.size(1)
        w_ih = lstm.weight_ih_l0
        table = cached(self, "table", lambda: token_table(self.embed.weight, w_ih, slice(0, e)))
        static = F.linear(context, w_ih[:, e:], lstm.bias_ih_l0)  # (B, 4H)
        upper = [w for k in range(1, lstm.num_layers) for w in
                 (getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}"),
                  getattr(lstm, f"bias_ih_l{k}"), getattr(lstm, f"bias_hh_l{k}"))]
        h, c = self.init(context)  # (L, B, H) each
        return lstm_loop(static[:, None].expand(-1, n, -1), table, lstm.weight_hh_l0, lstm.bias_hh_l0, upper,
                         list(h.unbind(0)), list(c.unbind(0)), self.out.weight, self.out.bias, prev, sample,
                         temperature)


@dataclass(frozen=True)
class MusicVAEConfig:
    hidden_dims: int = 256  # encoder (per direction) and decoder LSTM width
    embed_dims: int = 64
    z_dims: int = 128
    dec_layers: int = 2
    n_step: int = 32  # 16 steps per bar
    steps_per_bar: int = 16
    beta: float = 0.2  # magenta's cat-mel_2bar_small max_beta
    beta_rate: float = 0.99999  # β_t = β (1 − rate^step), magenta's rate: β stays small for the first 10⁴ steps
    free_bits: float = 0.0  # magenta's 2-bar melody configs: none
    k: float = 400.0  # teacher forcing decays as k / (k + exp(step / k))


@dataclass(frozen=True)
class HierarchicalMusicVAEConfig(MusicVAEConfig):
    n_step: int = 256  # 16 bars
    conductor_dims: int = 256
    conductor_layers: int = 2
    free_bits: float = 256.0  # magenta's hierdec-mel_16bar free bits (KL below this is not penalised)


class MusicVAE(MelodyVAE):
    name = "musicvae"

    def __init__(self, config: MusicVAEConfig = MusicVAEConfig()):
        super().__init__()
        c = self.config = config
        self.enc_embed = nn.Embedding(N_TOKENS, c.embed_dims)
        self.encoder = nn.LSTM(c.embed_dims, c.hidden_dims, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.hidden_dims, c.z_dims)
        self.to_logscale = nn.Linear(2 * c.hidden_dims, c.z_dims)
        self._build_decoder()

    def _build_decoder(self):
        c = self.config
        self.decoder = TokenDecoder(c.z_dims, c.embed_dims, c.hidden_dims, c.dec_layers)

    @property
    def layout(self) -> LatentLayout:
        return LatentLayout(self.config.z_dims)

    @property
    def n_steps(self) -> int:
        return self.config.n_step

    def encode(self, tokens, chroma=None) -> Posterior:
        _, (h, _) = self.encoder(self.enc_embed(tokens.long()))  # h: (2, B, H)
        h = h.transpose(0, 1).reshape(tokens.size(0), -1)  # (B, 2H)
        return Posterior(self.to_mu(h), F.softplus(self.to_logscale(h)) + 1e-4)

    # -- decoding -------------------------------------------------------------------------------
    def _logp_given_prev(self, z, prev):  # (B, T) previous tokens → (B, T, 130)
        return self.decoder.run(prev, z)

    def _generate(self, z, sample, temperature, reference: bool = False):
        start = torch.full((z.size(0),), START, dtype=torch.long, device=z.device)
        return self.decoder.generate(z, start, self.config.n_step, sample, temperature, reference)

    def decode(self, z, chroma=None, *, target=None, teacher_forcing: float = 0.0, sample: bool = False,
               temperature: float = 1.0, reference: bool = False) -> DecodeOutput:
        """Generation without a target (in eval mode the fast loops, the same tokens;
        ``reference=True`` forces the plain step loop); with one, parallel scheduled sampling."""
        if target is None or teacher_forcing <= 0:
            logp, tok = self._generate(z, sample, temperature, reference)
            return DecodeOutput(logp, tok)
        target = target.long()
        prev = shift_in(target, START)  # (B, T)
        if teacher_forcing < 1:
            with torch.no_grad():  # parallel scheduled sampling: the model's own guesses replace some inputs
                guess = self._logp_given_prev(z, prev).argmax(-1)
            prev = mix(prev, shift_in(guess, START), teacher_forcing)
        logp = self._logp_given_prev(z, prev)
        return DecodeOutput(logp, logp.argmax(-1))

    def beta_at(self, step: int) -> float:
        c = self.config
        return c.beta * (1.0 - c.beta_rate ** step)

    def loss(self, tokens, chroma=None, step: int = 0, **_) -> dict:
        post = self.encode(tokens)
        z = post.rsample()
        tf = self.teacher_forcing_at(step) if self.training else 1.0
        out = self.decode(z, target=tokens, teacher_forcing=tf)
        t = tokens.long()
        nll = -out.logits.gather(-1, t[..., None])[..., 0].sum(1)  # (B,) summed over steps
        kl = kl_normal(post.mean, post.scale).sum(-1)  # (B,)
        free = self.config.free_bits * math.log(2.0)
        beta = self.beta_at(step)
        total = (nll + beta * (kl - free).clamp_min(0.0)).mean() / t.size(1)
        return {"loss": total, "nll": nll.mean().detach() / t.size(1), "kl": kl.mean().detach(),
                "beta": torch.tensor(beta), "tf": torch.tensor(tf)}


class HierarchicalMusicVAE(MusicVAE):
    name = "musicvae16"

    def _build_decoder(self):
        c = self.config
        if c.n_step % c.steps_per_bar:
            raise ValueError(f"n_step {c.n_step} is not a whole number of {c.steps_per_bar}-step bars")
        self.conductor_init = StateFromZ(c.z_dims, c.conductor_dims, c.conductor_layers)
        self.conductor = nn.LSTM(1, c.conductor_dims, num_layers=c.conductor_layers, batch_first=True)
        self.decoder = TokenDecoder(c.conductor_dims, c.embed_dims, c.hidden_dims, c.dec_layers)

    @property
    def n_bars(self) -> int:
        return self.config.n_step // self.config.steps_per_bar

    def bar_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """The conductor's output: one embedding per bar, (B, U, C)."""
        zeros = torch.zeros(z.size(0), self.n_bars, 1, device=z.device, dtype=z.dtype)
        out, _ = self.conductor(zeros, self.conductor_init(z))
        return out

    def _logp_given_prev(self, z, prev):
        b, s = z.size(0), self.config.steps_per_bar
        bars = self.bar_embeddings(z)  # (B, U, C)
        logp = self.decoder.run(prev.reshape(b * self.n_bars, s), bars.reshape(b * self.n_bars, -1))
        return logp.reshape(b, self.config.n_step, -1)  # (B, T, 130)

    def _generate(self, z, sample, temperature, reference: bool = False):
        bars = self.bar_embeddings(z)
        prev = torch.full((z.size(0),), START, dtype=torch.long, device=z.device)
        logps, toks = [], []
        for u in range(self.n_bars):
            lp, tk = self.decoder.generate(bars[:, u], prev, self.config.steps_per_bar, sample, temperature, reference)
            logps.append(lp)
            toks.append(tk)
            prev = tk[:, -1]
        return torch.cat(logps, 1), torch.cat(toks, 1)
