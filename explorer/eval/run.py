"""``explorer eval``: reconstruction, latent metrics and the EC²-VAE tests on a split."""
from __future__ import annotations

import time

import numpy as np
import torch

from explorer.eval.metrics import active_units, interpretability, mig, sap, spearman
from explorer.models.base import rhythm_targets
from explorer.models.trained import TrainedModel
from explorer.music.attributes import ATTRIBUTES
from explorer.music.attributes import compute as compute_attributes
from explorer.music.chords import estimate_missing_chords  # noqa: F401  (re-exported: eval and train use it)
from explorer.music.melody import HOLD, N_PITCHES, REST, transpose_tokens


@torch.no_grad()
def reconstruction(tm: TrainedModel, tokens: np.ndarray, chroma: np.ndarray, mu: np.ndarray | None = None) -> dict:
    """Token accuracies with z = posterior mean: teacher-forced and greedy over all
    steps, greedy onset-pitch (share of target onsets decoded as that pitch) and
    greedy rhythm (onset/hold/rest). ``mu`` (N, D): the posterior means when the
    caller already has them."""
    n_tf = n_gr = n_on = n_on_ok = n_rh = 0
    total = 0
    model = tm.model
    if mu is None:
        _, mu, _ = tm.encode(tokens, chroma)
    for t, c, m in tm._batches(tokens.astype(np.int64), chroma.astype(np.float32), mu.astype(np.float32)):
        tf = model.decode(m, c, target=t, teacher_forcing=1.0).logits.argmax(-1)
        gr = model.decode(m, c).tokens
        onset = t < N_PITCHES
        n_tf += int((tf == t).sum())
        n_gr += int((gr == t).sum())
        n_on += int(onset.sum())
        n_on_ok += int(((gr == t) & onset).sum())
        n_rh += int((rhythm_targets(gr) == rhythm_targets(t)).sum())
        total += t.numel()
    return {"recon_accuracy_teacher_forced": round(n_tf / total, 4), "recon_accuracy_greedy": round(n_gr / total, 4),
            "recon_accuracy_onset_pitch": round(n_on_ok / max(n_on, 1), 4),
            "recon_accuracy_rhythm": round(n_rh / total, 4)}


def _group_norms(tm, mu_a, mu_b) -> tuple[float, float]:
    p = tm.layout.group_slice("pitch")
    r = tm.layout.group_slice("rhythm")
    return (float(np.linalg.norm(mu_a[:, p] - mu_b[:, p], axis=1).mean()),
            float(np.linalg.norm(mu_a[:, r] - mu_b[:, r], axis=1).mean()))


def transposition_test(tm, tokens, chroma, shifts=(-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6)) -> dict:
    """Mean ‖Δz_p‖ and ‖Δz_r‖ when inputs (and chords) are transposed; ratio = Δz_p / Δz_r.
    A disentangled model moves z_p and keeps z_r."""
    _, mu0, _ = tm.encode(tokens, chroma)
    dps, drs = [], []
    pitched = tokens < N_PITCHES
    lo = np.where(pitched, tokens, 255).min(1).astype(int)
    hi = np.where(pitched, tokens, 0).max(1).astype(int)
    for s in shifts:
        ok = (lo + s >= 0) & (hi + s <= 127)
        if not ok.any():
            continue
        tt = transpose_tokens(tokens[ok], s)
        cc = np.roll(chroma[ok], s, axis=-1)
        _, mu, _ = tm.encode(tt, cc)
        dp, dr = _group_norms(tm, mu, mu0[ok])
        dps.append(dp)
        drs.append(dr)
    dp, dr = float(np.mean(dps)), float(np.mean(drs))
    return {"dz_p": round(dp, 4), "dz_r": round(dr, 4), "ratio": round(dp / max(dr, 1e-9), 3)}


def change_rhythm(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each melody's onset pitches, in order, placed on the rhythm of another melody
    of the batch with the same number of notes (rows with no partner are dropped:
    returns (kept row indices, new tokens))."""
    onsets = tokens < N_PITCHES
    counts = onsets.sum(1)
    keep, out = [], []
    for i in range(len(tokens)):
        partners = np.flatnonzero((counts == counts[i]) & (np.arange(len(tokens)) != i))
        if counts[i] == 0 or not len(partners):
            continue
        j = int(rng.choice(partners))
        if np.array_equal(onsets[i], onsets[j]) and np.array_equal(tokens[i] == HOLD, tokens[j] == HOLD):
            continue
        new = np.where(tokens[j] == REST, REST, HOLD).astype(np.uint8)
        new[onsets[j]] = tokens[i][onsets[i]]
        keep.append(i)
        out.append(new)
    return np.asarray(keep, dtype=int), np.asarray(out, dtype=np.uint8).reshape(-1, tokens.shape[1])


def rhythm_test(tm, tokens, chroma, seed: int = 0) -> dict:
    """Mean ‖Δz_p‖ and ‖Δz_r‖ when the rhythm changes and the pitches stay;
    ratio = Δz_r / Δz_p (a disentangled model moves z_r)."""
    rng = np.random.default_rng(seed)
    keep, new = change_rhythm(tokens, rng)
    if not len(keep):
        return {"dz_p": 0.0, "dz_r": 0.0, "ratio": 0.0, "n": 0}
    _, mu0, _ = tm.encode(tokens[keep], chroma[keep])
    _, mu1, _ = tm.encode(new, chroma[keep])
    dp, dr = _group_norms(tm, mu1, mu0)
    return {"dz_p": round(dp, 4), "dz_r": round(dr, 4), "ratio": round(dr / max(dp, 1e-9), 3), "n": int(len(keep))}


def vector_effects(tm: TrainedModel, tokens: np.ndarray, chroma: np.ndarray, mu: np.ndarray, vectors: dict,
                   amount: float = 1.0, limit: int = 500, seed: int = 0) -> dict:
    """What adding each attribute vector does to the decoded melodies.

    For up to ``limit`` rows, decodes ``mu`` and ``mu + amount · vector`` greedily and
    measures every attribute of both outputs. Per vector: ``delta`` (mean change of its
    own attribute, in the attribute's units), ``delta_std`` (that change over the
    attribute's std on these rows), ``increased`` (share of melodies whose attribute
    rose), ``others_abs_delta_std`` (mean |change|/std of the other attributes) and
    ``largest_other`` (the other attribute that moved most, with its change/std).
    """
    if len(mu) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(mu), limit, replace=False))
        tokens, chroma, mu = tokens[rows], chroma[rows], mu[rows]
    names = list(ATTRIBUTES)
    std = {n: float(np.nanstd(v)) or 1.0 for n, v in compute_attributes(tokens, names).items()}
    base = compute_attributes(tm.decode_tokens(mu, chroma), names)
    out = {}
    for name, vec in vectors.items():
        moved = compute_attributes(tm.decode_tokens(mu + np.float32(amount) * vec, chroma), names)
        change = {n: float(np.nanmean(moved[n] - base[n])) for n in names}
        others = {n: abs(change[n]) / std[n] for n in names if n != name}
        top = max(others, key=others.get)
        out[name] = {"delta": round(change[name], 4), "delta_std": round(change[name] / std[name], 3),
                     "increased": round(float(np.nanmean(moved[name] > base[name])), 3),
                     "others_abs_delta_std": round(float(np.mean(list(others.values()))), 3),
                     "largest_other": [top, round(change[top] / std[top], 3)]}
    return {"amount": amount, "segments": int(len(mu)), "per_attribute": out}


def evaluate(tm: TrainedModel, ds, *, split: str = "test", limit: int | None = 4000, seed: int = 0,
             vectors: bool = True, chords: str = "as-is") -> dict:
    """All figures of ``tm`` on ``split`` of dataset ``ds`` (rows capped at ``limit``);
    ``vectors=False`` leaves out the attribute-vector effects; ``chords="estimated"`` gives
    every segment without chords chords estimated from its notes (``"as-is"``: the data's)."""
    if chords not in ("as-is", "estimated"):
        raise ValueError(f"chords must be 'as-is' or 'estimated', got {chords!r}")
    t0 = time.perf_counter()
    sub = ds.take_split(split)
    if len(sub) == 0:
        raise ValueError(f"the {split} split of this data is empty; splits: {ds.counts()}")
    rows = np.arange(len(sub))
    if limit and len(sub) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(sub), limit, replace=False))
    tokens, chroma = sub.tokens[rows], sub.chroma[rows].astype(np.float32)
    out = {"model": tm.name, "split": split, "segments": int(len(rows))}
    if chords == "estimated":
        chroma, out["chords_estimated"] = estimate_missing_chords(tokens, chroma)
    _, mu, sigma = tm.encode(tokens, chroma)
    out |= reconstruction(tm, tokens, chroma, mu)
    out["active_units"] = active_units(mu)
    out["latent_dims"] = int(mu.shape[1])
    attrs = {k: v for k, v in compute_attributes(tokens, ATTRIBUTES).items()}
    reg = tm.layout.regularized
    if reg:
        reg_attrs = {a: attrs[a] for a in reg}
        out["interpretability"] = interpretability(mu, reg_attrs, seed=seed)
        out["mig"] = mig(mu, reg_attrs)
        out["sap"] = sap(mu, reg_attrs)
        out["spearman"] = spearman(mu, reg_attrs, reg)
    if "pitch" in tm.layout.groups and "rhythm" in tm.layout.groups:
        out["transposition_test"] = transposition_test(tm, tokens, chroma)
        out["rhythm_test"] = rhythm_test(tm, tokens, chroma, seed=seed)
    if vectors and tm.attribute_vectors:
        out["attribute_vectors"] = vector_effects(tm, tokens, chroma.astype(np.float32), mu, tm.attribute_vectors,
                                                  seed=seed)
    out["kl_per_dim"] = [round(float(v), 4) for v in
                         (0.5 * (sigma ** 2 + mu ** 2 - 1 - np.log(np.maximum(sigma ** 2, 1e-12)))).mean(0)]
    out["sources"] = sorted(set(sub.source[rows].tolist()))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["device"] = str(tm.device)
    return out


def evaluate_unseen(tm: TrainedModel, corpora: dict, *, limit: int | None = 4000, seed: int = 0) -> dict:
    """``{name: figures}`` on every segment (``split="all"``, capped at ``limit``) of each
    corpus in ``corpora`` (``{name: dataset}``). ValueError when a corpus shares a source
    with the model's training data (its card's ``data.sources``): it would not be unseen.

    A chord-conditioned model on a corpus with segments without chords is also evaluated with
    chords estimated from the notes of those segments (as the app conditions such melodies), as
    ``"<name> · estimated chords"``."""
    trained_on = set(tm.card.get("data", {}).get("sources", []))
    out = {}
    for name, ds in corpora.items():
        both = trained_on & set(ds.tune_source.tolist())
        if both:
            raise ValueError(f"{name} is not unseen: {sorted(both)} was in this model's training data")
        figs = evaluate(tm, ds, split="all", limit=limit, seed=seed, vectors=False)
        figs.pop("kl_per_dim", None)
        out[name] = figs
        if tm.model.chord_conditioned and not np.asarray(ds.chroma).reshape(len(ds), -1).any(1).all():
            figs = evaluate(tm, ds, split="all", limit=limit, seed=seed, vectors=False, chords="estimated")
            figs.pop("kl_per_dim", None)
            out[f"{name} · estimated chords"] = figs
    return out
