"""Steering a melody through its latent code: set regularised dims, add
attribute vectors, sweep one control and measure what comes out.

Used by the attribute-sliders page and usable from a notebook; the page's path from z to
sound is :func:`decode_one`, then ``explorer.music.convert.melody_to_midi_bytes`` and
``explorer.audio.render_wav_bytes``::

    _, mu, _ = tm.encode([seed])
    z = steer(mu[0], dims={2: 1.5}, vectors=tm.attribute_vectors, amounts={"contour": -1.0})
    melody = decode_one(tm, z, seed.chroma, qpm=seed.qpm)
    wav = render_wav_bytes(melody_to_midi_bytes(melody))
"""
from __future__ import annotations

import numpy as np

from explorer.music.attributes import ATTRIBUTES, compute
from explorer.music.melody import DEFAULT_QPM, Melody

DIM_RANGE = (-3.0, 3.0)  # a regularised dim's slider: about ±3 prior standard deviations
AMOUNT_RANGE = (-2.0, 2.0)  # an attribute vector's amount: up to twice the quartile-to-quartile shift


def steer(mu, dims: dict | None = None, vectors: dict | None = None, amounts: dict | None = None) -> np.ndarray:
    """A latent code: ``mu`` with ``dims`` set, plus ``Σ amounts[name] · vectors[name]``.

    ``steer(z, vectors=tm.attribute_vectors, amounts={"note_density": 1.0})`` asks for more
    notes with the vector a checkpoint stores, −1.0 for fewer.

    Parameters
    ----------
    mu : array_like
        The starting code, shape (D,), or a batch of codes (N, D).
    dims : dict of int to float, optional
        Dim index → the value it takes (before the vectors are added).
    vectors : dict of str to array_like, optional
        Attribute name → vector (D,), as :func:`explorer.latent.attribute_vectors.attribute_vectors`
        gives or ``TrainedModel.attribute_vectors`` holds.
    amounts : dict of str to float, optional
        Attribute name → how much of its vector to add; every name needs a vector.

    Returns
    -------
    z : numpy.ndarray
        The shape of ``mu``, float32; a new array (``mu`` is not changed).

    Raises
    ------
    ValueError
        For a dim outside 0..D-1, or a vector of another length.
    KeyError
        For an amount whose attribute has no vector.
    """
    z = np.array(mu, dtype=np.float32)  # (D,) or (N, D)
    n_dims = z.shape[-1]
    for d, v in (dims or {}).items():
        if not 0 <= int(d) < n_dims:
            raise ValueError(f"dim must lie in 0..{n_dims - 1}, got {d}")
        z[..., int(d)] = float(v)
    for name, a in (amounts or {}).items():
        if not a:
            continue
        if vectors is None or name not in vectors:
            raise KeyError(f"no attribute vector for {name!r}; have {sorted(vectors or {})}")
        vec = np.asarray(vectors[name], dtype=np.float32)
        if vec.shape != (n_dims,):
            raise ValueError(f"the vector of {name!r} has shape {vec.shape}; z has {z.shape}")
        z += float(a) * vec
    return z


def sweep_latents(mu, values, *, dim: int | None = None, vector=None) -> np.ndarray:
    """Copies of ``mu`` along one control: dim ``dim`` set to each of ``values``,
    or ``mu + value · vector`` for each value.

    Parameters
    ----------
    mu : array_like, shape (D,)
    values : array_like, shape (K,)
    dim : int, optional
    vector : array_like, shape (D,), optional
        Exactly one of ``dim`` and ``vector`` is given.

    Returns
    -------
    zs : numpy.ndarray
        Shape (K, D), float32.
    """
    if (dim is None) == (vector is None):
        raise ValueError("give exactly one of dim and vector")
    mu = np.asarray(mu, dtype=np.float32).reshape(-1)
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if dim is not None:
        return np.stack([steer(mu, dims={dim: v}) for v in values])
    return np.stack([steer(mu, vectors={"v": vector}, amounts={"v": v}) for v in values])


def sweep_attributes(tm, mu, chroma, values, *, dim: int | None = None, vector=None,
                     names=ATTRIBUTES) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Decode ``mu`` swept along one control (one batched decode) and measure the outputs.

    Parameters
    ----------
    tm : explorer.models.trained.TrainedModel
    mu : array_like, shape (D,)
        The seed's posterior mean.
    chroma : array_like, shape (T, 12)
        The chord condition of every output (the seed's).
    values, dim, vector
        As :func:`sweep_latents`.
    names : sequence of str
        Attributes measured.

    Returns
    -------
    tokens : numpy.ndarray
        Shape (K, T), uint8: the decoded melodies.
    attributes : dict of str to numpy.ndarray
        ``{name: (K,) float}`` measured on ``tokens``.
    """
    zs = sweep_latents(mu, values, dim=dim, vector=vector)  # (K, D)
    tokens = tm.decode_tokens(zs, np.asarray(chroma, np.float32))  # (K, T)
    return tokens, compute(tokens, tuple(names))


def standardise(attrs: dict, reference: dict | None = None) -> dict[str, np.ndarray]:
    """Each attribute as (value − mean) / std of ``reference`` (e.g. a dataset's
    attributes), so that attributes of different units share one axis.

    Parameters
    ----------
    attrs : dict of str to array_like
        ``{name: (K,)}`` to standardise.
    reference : dict of str to array_like, optional
        ``{name: (M,)}`` whose mean and std are used; default ``attrs`` itself.
        NaN values are ignored; a std of 0 counts as 1 (values become offsets).

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: (K,) float}`` for every name of ``attrs``.
    """
    out = {}
    for name, v in attrs.items():
        v = np.asarray(v, dtype=np.float64)
        ref = np.asarray((reference or attrs).get(name, v), dtype=np.float64)
        ref = ref[np.isfinite(ref)]
        m, s = (float(ref.mean()), float(ref.std())) if len(ref) else (0.0, 1.0)
        out[name] = (v - m) / (s if s > 0 else 1.0)
    return out


def decode_one(tm, z, chroma=None, *, qpm: float = DEFAULT_QPM) -> Melody:
    """The greedy decode of one latent code ``z`` (D,) under ``chroma`` (T, 12) (default: no chords)."""
    z = np.asarray(z, dtype=np.float32).reshape(1, -1)  # (1, D)
    ch = None if chroma is None else np.asarray(chroma, np.float32)[None]  # (1, T, 12)
    return tm.decode(z, ch, qpm=qpm)[0]
