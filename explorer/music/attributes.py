"""Musical attributes of melodies, vectorised over a batch of token sequences.

Every function takes tokens of shape (N, T) (or (T,)) on the 16th grid with
bars starting at step 0, and returns a float array (N,) (or a float). The
definitions and their sources are in ``docs/attributes.md``.
"""
from __future__ import annotations

import numpy as np

from explorer.music.melody import HOLD, N_PITCHES, REST, STEPS_PER_BAR, ensure_tokens

# Toussaint's metrical complexity weights as used by AR-VAE (Pati & Lerch 2020):
# the inverse of metrical strength per 16th of a 4/4 bar (their triplet
# positions do not exist on this grid).
_BEAT_W = np.array([0.20, 0.67, 0.25, 0.67])
RHYTHM_COMPLEXITY_WEIGHTS = np.array([[b, 1.0, 0.5, 1.0] for b in _BEAT_W]).ravel()
# metrical level per 16th of a 4/4 bar: downbeat 4, half bar 3, beats 2, 8ths 1, 16ths 0
METRICAL_LEVEL = np.array([4, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0])
# Krumhansl-Kessler key profiles (major, minor), from C
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
MINOR_SCALE = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=bool)  # natural minor + leading tone

ATTRIBUTES = (
    "note_density",
    "rhythmic_complexity",
    "pitch_range",
    "contour",
    "mean_pitch",
    "syncopation",
    "in_key_ratio",
    "interval_entropy",
    "rest_ratio",
)
# The four that AR-VAE regularises, in its order of latent dims.
AR_ATTRIBUTES = ("rhythmic_complexity", "pitch_range", "note_density", "contour")

LABELS = {
    "note_density": "note density (onsets per step)",
    "rhythmic_complexity": "rhythmic complexity (metrical weight, 0-1)",
    "pitch_range": "pitch range (semitones)",
    "contour": "contour (last - first pitch, semitones)",
    "mean_pitch": "mean pitch (MIDI)",
    "syncopation": "syncopation (share of onsets)",
    "in_key_ratio": "in-key ratio",
    "interval_entropy": "interval entropy (bits)",
    "rest_ratio": "rest ratio",
}


def _as_batch(tokens):
    tok = ensure_tokens(tokens).astype(np.int64)
    single = tok.ndim == 1
    if single:
        tok = tok[None]
    if tok.ndim != 2:
        raise ValueError(f"tokens must have shape (N, T) or (T,), got {tok.shape}")
    return tok, single


def _out(x, single):
    x = np.asarray(x, dtype=np.float64)
    return float(x[0]) if single else x


def _tile(pattern, t):
    return np.resize(pattern, t)


def _onset_pitches(tok):
    """Per row: onset mask (N, T), and for each onset the previous onset's pitch."""
    onset = tok < N_PITCHES
    n, t = tok.shape
    idx = np.where(onset, np.arange(t)[None], -1)
    last = np.maximum.accumulate(idx, axis=1)  # last onset at or before t
    prev = np.concatenate([np.full((n, 1), -1), last[:, :-1]], axis=1)  # strictly before t
    prev_pitch = np.take_along_axis(tok, np.clip(prev, 0, None), axis=1)
    has_prev = onset & (prev >= 0)
    return onset, prev_pitch, has_prev


def note_density(tokens):
    tok, single = _as_batch(tokens)
    return _out((tok < N_PITCHES).sum(1) / tok.shape[1], single)


def rest_ratio(tokens):
    tok, single = _as_batch(tokens)
    return _out((tok == REST).sum(1) / tok.shape[1], single)


def rhythmic_complexity(tokens):
    tok, single = _as_batch(tokens)
    w = _tile(RHYTHM_COMPLEXITY_WEIGHTS, tok.shape[1])
    return _out(((tok < N_PITCHES) * w).sum(1) / w.sum(), single)


def pitch_range(tokens):
    tok, single = _as_batch(tokens)
    onset = tok < N_PITCHES
    hi = np.where(onset, tok, -1).max(1)
    lo = np.where(onset, tok, 999).min(1)
    return _out(np.where(onset.sum(1) >= 2, hi - lo, 0), single)


def contour(tokens):
    tok, single = _as_batch(tokens)
    onset, prev_pitch, has_prev = _onset_pitches(tok)
    return _out(np.where(has_prev, tok - prev_pitch, 0).sum(1), single)


def mean_pitch(tokens):
    """Mean onset pitch; NaN for a sequence with no note."""
    tok, single = _as_batch(tokens)
    onset = tok < N_PITCHES
    cnt = onset.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(cnt > 0, np.where(onset, tok, 0).sum(1) / np.maximum(cnt, 1), np.nan)
    return _out(m, single)


def _note_ends(tok):
    """For each step, the index of the first later step that is not a HOLD."""
    n, t = tok.shape
    not_hold = np.where(tok != HOLD, np.arange(t)[None], t)
    # first non-hold at index >= t, then shift to "strictly after"
    nxt = np.minimum.accumulate(not_hold[:, ::-1], axis=1)[:, ::-1]
    return np.concatenate([nxt[:, 1:], np.full((n, 1), t)], axis=1)


def _next_stronger():
    """Offset from each 16th of a bar to the next position of higher level."""
    lv = np.append(METRICAL_LEVEL, 5)  # the next bar's downbeat beats everything
    out = np.zeros(STEPS_PER_BAR, dtype=np.int64)
    for p in range(STEPS_PER_BAR):
        q = p + 1
        while lv[min(q, STEPS_PER_BAR)] <= lv[p] and q < STEPS_PER_BAR:
            q += 1
        out[p] = q - p
    return out


_NEXT_STRONGER = _next_stronger()


def syncopation(tokens):
    """Share of onsets whose note sounds through the next stronger metrical
    position (a Longuet-Higgins & Lee syncopation); 0 without notes."""
    tok, single = _as_batch(tokens)
    n, t = tok.shape
    onset = tok < N_PITCHES
    ends = _note_ends(tok)
    target = np.arange(t) + _tile(_NEXT_STRONGER, t)
    sync = onset & (target[None] < t) & (ends > target[None])
    cnt = onset.sum(1)
    return _out(np.where(cnt > 0, sync.sum(1) / np.maximum(cnt, 1), 0.0), single)


def pitch_class_histogram(tokens):
    """Duration-weighted pitch-class histogram (N, 12), in steps."""
    tok, _ = _as_batch(tokens)
    n, t = tok.shape
    onset = tok < N_PITCHES
    idx = np.where(onset, np.arange(t)[None], -1)
    last = np.maximum.accumulate(idx, axis=1)
    sounding_pitch = np.take_along_axis(tok, np.clip(last, 0, None), axis=1)
    sounding = (last >= 0) & (tok != REST)
    # a HOLD after a REST has no note: mark steps after the last rest as silent
    rest_idx = np.maximum.accumulate(np.where(tok == REST, np.arange(t)[None], -1), axis=1)
    sounding &= last > rest_idx
    hist = np.zeros((n, 12))
    rows = np.repeat(np.arange(n), t).reshape(n, t)
    np.add.at(hist, (rows[sounding], sounding_pitch[sounding] % 12), 1.0)
    return hist


def estimate_key(tokens):
    """Krumhansl-Schmuckler key of each row: (tonic pc (N,), is_minor (N,))."""
    hist = pitch_class_histogram(tokens)
    profiles = np.stack([np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)])
    pz = (profiles - profiles.mean(1, keepdims=True)) / profiles.std(1, keepdims=True)
    hz = hist - hist.mean(1, keepdims=True)
    sd = hist.std(1, keepdims=True)
    hz = np.divide(hz, sd, out=np.zeros_like(hz), where=sd > 0)
    best = (hz @ pz.T).argmax(1)
    return best % 12, best >= 12


def in_key_ratio(tokens):
    """Share of onsets in the scale of the segment's estimated key; 0 without notes."""
    tok, single = _as_batch(tokens)
    tonic, minor = estimate_key(tok)
    scales = np.where(minor[:, None], MINOR_SCALE[None], MAJOR_SCALE[None])  # (N, 12) from tonic
    onset = tok < N_PITCHES
    rel = (tok - tonic[:, None]) % 12
    inkey = np.take_along_axis(scales, rel, axis=1) & onset
    cnt = onset.sum(1)
    return _out(np.where(cnt > 0, inkey.sum(1) / np.maximum(cnt, 1), 0.0), single)


def interval_entropy(tokens):
    """Shannon entropy (bits) of the absolute melodic intervals, clipped to an
    octave (13 bins); 0 with fewer than two notes."""
    tok, single = _as_batch(tokens)
    n, t = tok.shape
    onset, prev_pitch, has_prev = _onset_pitches(tok)
    iv = np.clip(np.abs(tok - prev_pitch), 0, 12)
    hist = np.zeros((n, 13))
    rows = np.repeat(np.arange(n), t).reshape(n, t)
    np.add.at(hist, (rows[has_prev], iv[has_prev]), 1.0)
    tot = hist.sum(1, keepdims=True)
    p = np.divide(hist, tot, out=np.zeros_like(hist), where=tot > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(1)
    return _out(h, single)


_FUNCS = {
    "note_density": note_density,
    "rhythmic_complexity": rhythmic_complexity,
    "pitch_range": pitch_range,
    "contour": contour,
    "mean_pitch": mean_pitch,
    "syncopation": syncopation,
    "in_key_ratio": in_key_ratio,
    "interval_entropy": interval_entropy,
    "rest_ratio": rest_ratio,
}


def compute(tokens, names=ATTRIBUTES) -> dict[str, np.ndarray]:
    """All (or the named) attributes of tokens (N, T): ``{name: (N,) float}``."""
    unknown = [n for n in names if n not in _FUNCS]
    if unknown:
        raise KeyError(f"unknown attribute(s) {unknown}; known: {list(_FUNCS)}")
    tok, single = _as_batch(tokens)
    arg = tok[0] if single else tok
    return {n: _FUNCS[n](arg) for n in names}
