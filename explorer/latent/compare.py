"""Two models on one melody: the same reconstruction, interpolation and attribute-vector shift
through each, with figures measured on what comes out (for the Compare page and notebooks)::

    runs = [compare_one(tm, a, b, steps=5, attribute="note_density", amount=1.0,
                        vector=tm.attribute_vectors["note_density"]) for tm in (tm1, tm2)]
    runs[0].recon_agreement["tokens"], runs[1].shift_kept["tokens"]

Both models must read melodies of the same length (:func:`length_mismatch`): a 2-bar model and a
16-bar model cannot share a melody, and running the 2-bar one on the first bars of a 16-bar
melody would compare one model that hears the whole tune with one that hears an eighth of it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from explorer.latent.control import decode_one, steer
from explorer.music.attributes import compute
from explorer.music.melody import N_PITCHES, STEPS_PER_BAR, Melody


def length_mismatch(label_a: str, steps_a: int, label_b: str, steps_b: int) -> str | None:
    """Why models ``label_a`` and ``label_b`` (reading ``steps_*`` 16th steps) cannot share a
    melody, in words; None when they read the same length."""
    if steps_a == steps_b:
        return None

    def reads(label, steps):
        return f"{label} reads {steps // STEPS_PER_BAR}-bar melodies ({steps} steps)"

    return (f"{reads(label_a, steps_a)} and {reads(label_b, steps_b)}: one melody cannot go through both. "
            f"Cutting the longer melody to {min(steps_a, steps_b) // STEPS_PER_BAR} bars would compare a model "
            "that hears the whole melody with one that hears a part of it, so the page does not do it.")


def agreement(target, output) -> dict:
    """How much of melody ``target`` the melody ``output`` keeps, both tokens (T,) on the 16th grid.

    Returns
    -------
    dict
        ``tokens``: share of the T steps with the same token (pitch onset, hold or rest);
        ``onset_pitch``: share of ``target``'s note onsets that ``output`` starts on the same
        pitch at the same step (None when ``target`` has no note); ``onsets``: how many
        onsets ``target`` has.

    Raises
    ------
    ValueError
        When the two are not the same length.
    """
    t = np.asarray(target, dtype=np.int64).reshape(-1)  # (T,)
    o = np.asarray(output, dtype=np.int64).reshape(-1)  # (T,)
    if t.shape != o.shape:
        raise ValueError(f"melodies of {len(t)} and {len(o)} steps cannot be compared step by step")
    same = t == o
    onset = t < N_PITCHES
    n = int(onset.sum())
    return {"tokens": float(same.mean()), "onset_pitch": float(same[onset].mean()) if n else None, "onsets": n}


def path_changes(tokens) -> dict:
    """How a path of decoded melodies (K, T) moves: ``distinct`` melodies among the K,
    ``mean_change`` and ``largest_change``, the share of steps whose token differs between
    neighbouring melodies (averaged over, and the largest of, the K − 1 moves)."""
    tok = np.asarray(tokens)
    if tok.ndim != 2 or len(tok) < 2:
        raise ValueError(f"a path needs shape (K ≥ 2, T), got {tok.shape}")
    moves = (tok[1:] != tok[:-1]).mean(axis=1)  # (K - 1,)
    return {"distinct": len({row.tobytes() for row in tok}), "mean_change": float(moves.mean()),
            "largest_change": float(moves.max())}


@dataclass
class ModelRun:
    """What one model made of melody A (and B): its reconstruction of A and how much of A it
    keeps, the A→B path, and — with the fields of :func:`shift_of` — A shifted by ``amount`` × the vector of
    ``attribute``, with the attribute measured on the input, the reconstruction and the shifted
    melody (the ``shift*`` fields, the attribute and the amount are None before)."""

    recon: Melody
    recon_agreement: dict
    path: list
    path_changes: dict
    attribute: str | None = None
    amount: float | None = None
    shifted: Melody | None = None
    shift_values: dict | None = None  # {"input", "reconstruction", "shifted"} → the attribute's value
    shift_kept: dict | None = None  # agreement(input, shifted)

    @property
    def shift_change(self) -> float | None:
        """The attribute on the shifted melody minus on the reconstruction (the vector's own
        effect, without the reconstruction's error)."""
        if self.shift_values is None:
            return None
        return self.shift_values["shifted"] - self.shift_values["reconstruction"]


def reconstruct_and_interpolate(tm, a: Melody, b: Melody, *, steps: int = 5, method: str = "slerp") -> ModelRun:
    """Reconstruct ``a`` and interpolate ``a`` → ``b`` in ``steps`` (``method`` on the posterior
    means) with ``tm`` (a TrainedModel), greedy decoding under each input's chords.

    Raises MelodyError (from the model) when a melody is not the model's length, ValueError for
    a bad ``steps`` or ``method``."""
    _, mu, _ = tm.encode([a])
    recon = decode_one(tm, mu[0], a.chroma, qpm=a.qpm)
    path = tm.interpolate(a, b, steps=steps, method=method)
    return ModelRun(recon, agreement(a.tokens, recon.tokens), path, path_changes(np.stack([m.tokens for m in path])))


def shift_of(tm, a: Melody, recon: Melody, *, attribute: str, amount: float, vector) -> dict:
    """``a``'s posterior mean plus ``amount`` × ``vector`` (D,) decoded greedily by ``tm`` under
    ``a``'s chords, with ``attribute`` measured on ``a``, on ``recon`` (``tm``'s reconstruction
    of ``a``) and on the shifted melody: the shift fields of a :class:`ModelRun`.

    Raises ValueError for a vector of another size, KeyError for an unknown attribute."""
    _, mu, _ = tm.encode([a])
    shifted = decode_one(tm, steer(mu[0], vectors={attribute: vector}, amounts={attribute: amount}),
                         a.chroma, qpm=a.qpm)
    values = compute(np.stack([a.tokens, recon.tokens, shifted.tokens]), (attribute,))[attribute]  # (3,)
    return {"attribute": attribute, "amount": float(amount), "shifted": shifted,
            "shift_values": dict(zip(("input", "reconstruction", "shifted"), map(float, values))),
            "shift_kept": agreement(a.tokens, shifted.tokens)}


def compare_one(tm, a: Melody, b: Melody, *, steps: int = 5, method: str = "slerp",
                attribute: str = "note_density", amount: float = 1.0, vector=None) -> ModelRun:
    """:func:`reconstruct_and_interpolate`, then (with a ``vector``) the fields of :func:`shift_of`."""
    run = reconstruct_and_interpolate(tm, a, b, steps=steps, method=method)
    if vector is None:
        return run
    return replace(run, **shift_of(tm, a, run.recon, attribute=attribute, amount=amount, vector=vector))


def shared_corpus_rows(rows_a: list[dict], rows_b: list[dict], label_a: str, label_b: str,
                       figures=("greedy", "onset pitch")) -> list[dict]:
    """The corpora that both models never saw in training, with each model's figures side by side.

    ``rows_*`` are :func:`explorer.models.card.comparison_rows` of each card: the model's own
    test split first (left out here: the two splits hold different music), then one row per
    corpus left out of its training. The result has one row per such corpus present in both,
    in ``rows_a``'s order, with ``"<figure> · <label>"`` for each of ``figures`` and each model
    (None where a card lacks the figure)."""
    by_corpus = {r["corpus"]: r for r in rows_b[1:]}
    out = []
    for r in rows_a[1:]:
        other = by_corpus.get(r["corpus"])
        if other is None:
            continue
        row = {"corpus": r["corpus"]}
        for f in figures:
            row |= {f"{f} · {label_a}": r.get(f), f"{f} · {label_b}": other.get(f)}
        out.append(row)
    return out
