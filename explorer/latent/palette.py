"""A 4-corner palette: melodies on an N×N grid spanned by four corner melodies
(bilinear interpolation of their posterior means, like Magenta's Beat Blender).

Corner order is A (top left), B (top right), C (bottom left), D (bottom right);
cells are numbered row by row from the top left.
"""
from __future__ import annotations

import numpy as np

CORNERS = ("A", "B", "C", "D")
GRID_SIZES = (3, 4, 5)


def bilinear_weights(n: int) -> np.ndarray:
    """Weights of the four corners at each cell of an n×n grid.

    Returns
    -------
    weights : numpy.ndarray
        Shape (n, n, 4), rows summing to 1; cell (r, c) sits at
        u = c / (n − 1) across and v = r / (n − 1) down, and weighs
        A (1−u)(1−v), B u(1−v), C (1−u)v, D uv.
    """
    if not 2 <= n <= 16:
        raise ValueError(f"the palette grid must be 2..16 cells a side, got {n}")
    t = np.linspace(0.0, 1.0, n)
    v, u = np.meshgrid(t, t, indexing="ij")  # (n, n): v down the rows, u across
    return np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], axis=-1)


def cell_labels(n: int) -> list[str]:
    """A label per cell, row by row: the corners' letters, else "row·column" from 1."""
    corners = {(0, 0): "A", (0, n - 1): "B", (n - 1, 0): "C", (n - 1, n - 1): "D"}
    return [corners.get((r, c), f"{r + 1}·{c + 1}") for r in range(n) for c in range(n)]


def palette_latents(corner_mu, n: int) -> np.ndarray:
    """Latent codes of the grid: shape (n·n, D), row by row, of corner codes (4, D)."""
    corner_mu = np.asarray(corner_mu, dtype=np.float32)
    if corner_mu.ndim != 2 or len(corner_mu) != 4:
        raise ValueError(f"corner codes must have shape (4, D) (A, B, C, D), got {corner_mu.shape}")
    w = bilinear_weights(n).reshape(n * n, 4)  # (n², 4)
    return (w @ corner_mu).astype(np.float32)  # (n², D)


def palette(tm, corners, n: int = 4) -> list:
    """Decode the n×n palette of four corner melodies (one batched decode).

    Parameters
    ----------
    tm : explorer.models.trained.TrainedModel
    corners : sequence of explorer.music.melody.Melody
        A, B, C, D, each of the model's length.
    n : int
        Cells per side.

    Returns
    -------
    melodies : list of explorer.music.melody.Melody
        n·n melodies, row by row (index ``r * n + c``); the chord condition of
        a cell is the corners' chroma blended with the same weights (a pitch
        class sounds where the blend is at least 0.5); the tempo is A's.

    Raises
    ------
    ValueError
        For other than four corners or a bad ``n``.
    explorer.music.melody.MelodyError
        For corners that are not the model's length.
    """
    corners = list(corners)
    if len(corners) != 4:
        raise ValueError(f"a palette needs 4 corner melodies (A, B, C, D), got {len(corners)}")
    _, mu, _ = tm.encode(corners)  # (4, D)
    w = bilinear_weights(n).reshape(n * n, 4)
    chroma = np.stack([c.chroma for c in corners]).astype(np.float32)  # (4, T, 12)
    cell_chroma = (np.einsum("kc,ctp->ktp", w, chroma) >= 0.5).astype(np.float32)  # (n², T, 12)
    return tm.decode(palette_latents(mu, n), cell_chroma, qpm=corners[0].qpm)
