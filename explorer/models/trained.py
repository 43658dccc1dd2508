"""TrainedModel: what the app, the evaluation and a notebook call (like magenta's TrainedModel).

It takes and returns music (``Melody`` objects or token arrays), hides batching, device and
eval mode, and offers encode, decode, reconstruct, interpolate (lerp or slerp on the posterior
means), swap and sample over any melody model of the registry, plus the attribute vectors a
checkpoint stores. Latent-space operations on top of it (steering, sweeps, analogies,
projections, palettes) are the functions of :mod:`explorer.latent`; reading a MIDI file into
segments is :func:`explorer.data.upload.dataset_from_midi_bytes`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from explorer.device import pick_device
from explorer.models.checkpoint import load_checkpoint
from explorer.music.attributes import ATTRIBUTES
from explorer.music.melody import DEFAULT_QPM, Melody, MelodyError, clean_tokens

INTERPOLATIONS = ("lerp", "slerp")
EXTRA_PREFIX = "attribute_vector."  # checkpoint extras: attribute_vector.<name> → (D,)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between vectors (..., D); lerp when they are parallel."""
    an = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-12)
    bn = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-12)
    omega = np.arccos(np.clip((an * bn).sum(-1, keepdims=True), -1.0, 1.0))
    so = np.sin(omega)
    lerp = (1 - t) * a + t * b
    with np.errstate(invalid="ignore", divide="ignore"):
        sl = np.sin((1 - t) * omega) / so * a + np.sin(t * omega) / so * b
    return np.where(so < 1e-6, lerp, sl)


def vectors_to_extras(vectors: dict) -> dict:
    """``{name: (D,)}`` → checkpoint extras ``{"attribute_vector.<name>": (D,)}``."""
    return {EXTRA_PREFIX + k: np.asarray(v, np.float32) for k, v in vectors.items()}


def vectors_from_extras(extras: dict) -> dict:
    """The attribute vectors stored in a checkpoint's extras, ``{name: (D,) float32}``, in attribute order."""
    found = {k[len(EXTRA_PREFIX):]: np.asarray(v.cpu() if hasattr(v, "cpu") else v, np.float32)
             for k, v in extras.items() if k.startswith(EXTRA_PREFIX)}
    return {k: found[k] for k in sorted(found, key=lambda a: (ATTRIBUTES.index(a) if a in ATTRIBUTES else 99, a))}


class TrainedModel:
    """A loaded model. ``device`` is ``auto`` (GPU when present), ``cpu`` or ``cuda``."""

    def __init__(self, model, meta: dict | None = None, extras: dict | None = None, device="auto",
                 batch_size: int = 256):
        self.device = pick_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        self.meta = meta or {}
        self.extras = extras or {}
        self.batch_size = batch_size

    @classmethod
    def load(cls, path, device="auto") -> "TrainedModel":
        """Load a checkpoint; CheckpointError (with the reason) when it is not ours."""
        dev = pick_device(device) if isinstance(device, str) else device
        model, meta, extras = load_checkpoint(path, device=dev)
        tm = cls(model, meta, extras, dev)
        tm.path = Path(path)
        return tm

    def __repr__(self):
        return f"TrainedModel({self.name}, z={self.layout.dims}, device={self.device})"

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def layout(self):
        return self.model.layout

    @property
    def card(self) -> dict:
        return self.meta.get("card", {})

    @property
    def n_steps(self) -> int:
        return self.model.n_steps

    # ---- attribute arithmetic (MusicVAE) -------------------------------------------
    @property
    def attribute_vectors(self) -> dict:
        """``{attribute: (D,)}`` stored with the checkpoint (top-quartile minus bottom-quartile
        mean z of its training segments); empty for a checkpoint without them."""
        if not hasattr(self, "_vectors"):
            self._vectors = vectors_from_extras(self.extras)
        return self._vectors

    def set_attribute_vectors(self, vectors: dict) -> None:
        """Replace the attribute vectors (``{name: (D,)}``), e.g. before saving the checkpoint."""
        self.extras = {k: v for k, v in self.extras.items() if not k.startswith(EXTRA_PREFIX)} | {
            k: torch.as_tensor(v) for k, v in vectors_to_extras(vectors).items()}
        self.__dict__.pop("_vectors", None)

    def attribute_vector(self, name: str) -> np.ndarray:
        """The stored vector (D,) of attribute ``name``; KeyError naming those stored."""
        vecs = self.attribute_vectors
        if name not in vecs:
            raise KeyError(f"no attribute vector {name!r} in this checkpoint; it has {list(vecs) or 'none'} "
                           "(`explorer ship` computes and stores them)")
        return vecs[name]

    # ---- inputs ---------------------------------------------------------------
    def _arrays(self, melodies, chroma=None):
        """(tokens (N, T) int64, chroma (N, T, 12) float32) of melodies or arrays."""
        if isinstance(melodies, Melody):
            melodies = [melodies]
        if isinstance(melodies, (list, tuple)) and melodies and isinstance(melodies[0], Melody):
            tok = np.stack([m.tokens for m in melodies]).astype(np.int64)
            ch = np.stack([m.chroma for m in melodies]).astype(np.float32)
        else:
            tok = np.asarray(melodies, dtype=np.int64)
            if tok.ndim == 1:
                tok = tok[None]
            ch = np.zeros(tok.shape + (12,), np.float32) if chroma is None else np.asarray(chroma, np.float32)
            if ch.ndim == 2:
                ch = ch[None]
        if tok.shape[1] != self.n_steps:
            raise MelodyError(f"this model reads {self.n_steps} steps ({self.n_steps // 16} bars); "
                              f"got melodies of {tok.shape[1]} steps")
        return tok, ch

    def _batches(self, *arrays):
        n = len(arrays[0])
        for i in range(0, n, self.batch_size):
            yield [torch.as_tensor(a[i:i + self.batch_size], device=self.device) for a in arrays]

    # ---- the operations ---------------------------------------------------------
    @torch.no_grad()
    def encode(self, melodies, chroma=None, *, seed: int | None = None):
        """(z sampled, mu, sigma), each (N, D) numpy."""
        tok, ch = self._arrays(melodies, chroma)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        zs, mus, sig = [], [], []
        for t, c in self._batches(tok, ch):
            post = self.model.encode(t, c)
            zs.append(post.rsample(gen).cpu().numpy())
            mus.append(post.mean.cpu().numpy())
            sig.append(post.scale.cpu().numpy())
        return np.concatenate(zs), np.concatenate(mus), np.concatenate(sig)

    @torch.no_grad()
    def decode_tokens(self, z, chroma=None, *, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
        """Tokens (N, T) of latent codes (N, D): greedy, or sampled at ``temperature`` > 0."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.shape[1] != self.layout.dims:
            raise ValueError(f"z must have {self.layout.dims} dims, got {z.shape[1]}")
        ch = np.zeros((len(z), self.n_steps, 12), np.float32) if chroma is None else np.asarray(chroma, np.float32)
        if ch.ndim == 2:
            ch = np.broadcast_to(ch, (len(z),) + ch.shape).copy()
        if seed is not None:
            torch.manual_seed(seed)
        out = []
        for zz, c in self._batches(z, ch):
            dec = self.model.decode(zz, c, sample=temperature > 0, temperature=max(temperature, 1e-4))
            out.append(dec.tokens.cpu().numpy())
        return clean_tokens(np.concatenate(out)).astype(np.uint8)

    def decode(self, z, chroma=None, *, temperature: float = 0.0, qpm: float = DEFAULT_QPM, seed=None) -> list:
        """Melodies of latent codes; the chroma is the chord condition (zeros: none)."""
        tok = self.decode_tokens(z, chroma, temperature=temperature, seed=seed)
        ch = np.zeros(tok.shape + (12,), np.uint8) if chroma is None else np.broadcast_to(
            np.asarray(chroma, np.uint8), tok.shape + (12,))
        return [Melody(t, c, qpm) for t, c in zip(tok, ch)]

    def reconstruct(self, melodies, chroma=None) -> list:
        """Encode (posterior mean) and decode greedily, keeping each input's chords and tempo."""
        tok, ch = self._arrays(melodies, chroma)
        _, mu, _ = self.encode(tok, ch)
        qpms = [m.qpm for m in melodies] if isinstance(melodies, (list, tuple)) and melodies and isinstance(
            melodies[0], Melody) else [melodies.qpm] * len(tok) if isinstance(melodies, Melody) else [DEFAULT_QPM] * len(tok)
        out = self.decode_tokens(mu, ch)
        return [Melody(t, c.astype(np.uint8), q) for t, c, q in zip(out, ch, qpms)]

    def _group_mask(self, groups) -> np.ndarray:
        mask = np.zeros(self.layout.dims, bool)
        if groups is None:
            mask[:] = True
            return mask
        for g in [groups] if isinstance(groups, str) else groups:
            mask[self.layout.group_slice(g)] = True
        return mask

    def interpolate(self, a: Melody, b: Melody, steps: int = 8, method: str = "slerp", groups=None,
                    chroma=None) -> list:
        """``steps`` melodies from a to b (both ends included) on the posterior means;
        with ``groups`` only those latent groups move (the rest stays a's)."""
        if method not in INTERPOLATIONS:
            raise ValueError(f"method must be one of {INTERPOLATIONS}, got {method!r}")
        if not 2 <= steps <= 64:
            raise ValueError(f"steps must lie in 2..64, got {steps}")
        _, mu, _ = self.encode([a, b])
        mask = self._group_mask(groups)
        ts = np.linspace(0, 1, steps)
        zs = []
        for t in ts:
            z = slerp(mu[0], mu[1], t) if method == "slerp" else (1 - t) * mu[0] + t * mu[1]
            zs.append(np.where(mask, z, mu[0]))
        ch = chroma if chroma is not None else np.stack([(1 - t) * a.chroma + t * b.chroma >= 0.5 for t in ts])
        return self.decode(np.stack(zs), np.asarray(ch, np.float32), qpm=a.qpm)

    def swap(self, a: Melody, b: Melody, groups, chroma=None) -> Melody:
        """a's latent code with ``groups`` taken from b: for EC²-VAE,
        ``swap(a, b, "rhythm")`` is pitch(a) + rhythm(b). Chords: a's unless given."""
        _, mu, _ = self.encode([a, b])
        mask = self._group_mask(groups)
        z = np.where(mask, mu[1], mu[0])
        return self.decode(z[None], (a.chroma if chroma is None else chroma)[None], qpm=a.qpm)[0]

    def sample(self, n: int = 1, temperature: float = 1.0, chroma=None, seed: int | None = None) -> list:
        """Prior samples: z ~ N(0, temperature²), tokens sampled at ``temperature``."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.layout.dims)).astype(np.float32) * temperature
        return self.decode(z, chroma, temperature=temperature, seed=seed)
