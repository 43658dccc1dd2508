"""Attribute vectors: MusicVAE-style attribute arithmetic on any model.

The vector of an attribute is the mean posterior mean z of the segments in
the attribute's top quartile minus that of the segments in its bottom
quartile (Roberts et al. 2018, "A Hierarchical Latent Vector Model for
Learning Long-Term Structure in Music", section 5.3). Adding ``amount ·
vector`` to a melody's z moves it towards more (or, with a negative amount,
less) of the attribute, on models with or without regularised dimensions.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from explorer.music.attributes import ATTRIBUTES, compute

MIN_SEGMENTS = 8  # fewer rows give quartiles of one or two melodies


def quartile_vector(mu: np.ndarray, values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Mean of ``mu`` over the top quartile of ``values`` minus the mean over the bottom quartile.

    The quartiles are the N // 4 rows of highest and of lowest value. Many
    attributes tie (most segments have no rest, say), so rows of equal value
    are ordered at random (with ``seed``) rather than all counted in a
    quartile: the bottom quartile of the rest ratio is then a quarter of the
    segments without rests, and the vector still points towards more rests.

    Parameters
    ----------
    mu : numpy.ndarray
        Latent codes, shape (N, D).
    values : numpy.ndarray
        One attribute per row, shape (N,); NaN rows are left out.
    seed : int
        Seed of the order among ties.

    Returns
    -------
    vector : numpy.ndarray
        Shape (D,), float32. All zeros when the attribute does not vary.

    Raises
    ------
    ValueError
        For shapes that do not match, or fewer than ``MIN_SEGMENTS`` finite values.
    """
    mu = np.asarray(mu, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if mu.ndim != 2 or values.shape != (len(mu),):
        raise ValueError(f"mu must be (N, D) and values (N,), got {mu.shape} and {values.shape}")
    ok = np.isfinite(values)
    if ok.sum() < MIN_SEGMENTS:
        raise ValueError(f"an attribute vector needs at least {MIN_SEGMENTS} segments with a finite value, "
                         f"got {int(ok.sum())}")
    mu, values = mu[ok], values[ok]
    if values.min() == values.max():
        return np.zeros(mu.shape[1], np.float32)
    order = np.lexsort((np.random.default_rng(seed).random(len(values)), values))  # ascending, ties shuffled
    q = len(values) // 4
    return (mu[order[-q:]].mean(0) - mu[order[:q]].mean(0)).astype(np.float32)


def training_rows(dataset, limit: int = 4000, seed: int = 0) -> np.ndarray:
    """The rows of ``dataset`` the vectors are computed from (sorted indices).

    The train split, or every row when the train split has fewer than
    ``MIN_SEGMENTS`` segments (a single uploaded tune lands in one split);
    at most ``limit`` of them, drawn without replacement with ``seed``.
    """
    rows = np.flatnonzero(dataset.split == "train")
    if len(rows) < MIN_SEGMENTS:
        rows = np.arange(len(dataset))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    return rows


def attribute_vectors(tm, dataset, names=ATTRIBUTES, limit: int = 4000, seed: int = 0,
                      batch_size: int = 256, progress: Callable[[float], None] | None = None
                      ) -> dict[str, np.ndarray]:
    """The attribute vector of each of ``names`` for the model ``tm`` on ``dataset``.

    Parameters
    ----------
    tm : explorer.models.trained.TrainedModel
        Anything with ``encode(tokens (N, T), chroma (N, T, 12)) -> (z, mu, sigma)``.
    dataset : explorer.data.dataset.SegmentDataset
        Segments of the model's length; see :func:`training_rows` for which rows are used.
    names : sequence of str
        Attributes of :mod:`explorer.music.attributes`.
    limit : int
        Most segments encoded (a random subset of that many, drawn with ``seed``).
    seed : int
        Seed of the subset.
    batch_size : int
        Segments per encoder call (and per ``progress`` report).
    progress : callable, optional
        Called with the fraction done (0..1) after each batch.

    Returns
    -------
    vectors : dict of str to numpy.ndarray
        ``{name: (D,) float32}``, in the order of ``names``.

    Raises
    ------
    ValueError
        For fewer than ``MIN_SEGMENTS`` segments, or ``limit`` below that.
    KeyError
        For an unknown attribute name.
    explorer.music.melody.MelodyError
        When the dataset's segments are not the model's length.
    """
    if limit < MIN_SEGMENTS:
        raise ValueError(f"limit must be at least {MIN_SEGMENTS}, got {limit}")
    rows = training_rows(dataset, limit, seed)
    if len(rows) < MIN_SEGMENTS:
        raise ValueError(f"attribute vectors need at least {MIN_SEGMENTS} segments; the dataset has {len(rows)}")
    tokens = dataset.tokens[rows].astype(np.int64)  # (N, T)
    chroma = dataset.chroma[rows].astype(np.float32)  # (N, T, 12)
    attrs = compute(tokens, tuple(names))  # raises KeyError before the slow part
    mus = []
    for i in range(0, len(rows), batch_size):
        _, mu, _ = tm.encode(tokens[i:i + batch_size], chroma[i:i + batch_size])
        mus.append(mu)  # (b, D)
        if progress is not None:
            progress(min(1.0, (i + batch_size) / len(rows)))
    mu = np.concatenate(mus)  # (N, D)
    return {n: quartile_vector(mu, attrs[n], seed) for n in names}
