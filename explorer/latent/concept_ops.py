"""Latent operations of an ExtRes model (:mod:`explorer.models.extres`) on its two codes: the
concept's z_e and the residual's z_r.

- :func:`concept_path`: from melody A to melody B moving **z_e only** (the concept changes, A's
  residual stays) or **z_r only** (the residual changes, A's concept stays);
- :func:`decode_drawn`: a concept y written by hand, decoded with a residual (a melody's or a
  prior sample's); :func:`concept_problems` says first why a y cannot be a melody's concept;
- :func:`parse_concept` / :func:`concept_text`: y as one symbol per position and back.

Pure functions of a loaded model (:class:`explorer.models.trained.TrainedModel`) and numpy
arrays; no audio, no Streamlit. Shapes: tokens (N, T); concepts y (N, L); z_e (N, Ze); z_r (N, Zr).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.models.extres import concept_tensor
from explorer.models.trained import INTERPOLATIONS, slerp
from explorer.music.concepts import FRAG_FIRST, NO_ONSET, ConceptError, get_concept
from explorer.music.melody import clean_tokens

#: What a concept path moves: the concept's code or the residual's.
PARTS = ("concept", "residual")
#: One character per class of the built-in concepts, and what may be typed for each.
SYMBOLS = {"rhythm": "●–·", "contour": "=↑↓·"}
ALIASES = {"rhythm": {"o": 0, "x": 0, "0": 0, "-": 1, "_": 1, "1": 1, ".": 2, "2": 2},
           "contour": {"s": 0, "0": 0, "^": 1, "u": 1, "/": 1, "1": 1, "v": 2, "d": 2, "\\": 2, "2": 2,
                       ".": 3, "-": 3, "3": 3}}
_ONSET, _HOLD, _REST = 0, 1, 2  # rhythm classes
_DIGITS = "0123456789abcdef"  # a user concept has at most 16 classes


# ---------------------------------------------------------------------------------- y as text
def concept_text(name: str, y, *, group: int = 0) -> str:
    """y (L,) as one character per position (built-in concepts with symbols) or its numbers;
    ``group`` > 0 puts a space after every ``group`` symbols (a beat of 16ths: 4)."""
    chars = SYMBOLS.get(name)
    if not chars:
        return " ".join(str(int(v)) for v in y)
    text = "".join(chars[int(v)] for v in y)
    return " ".join(text[i:i + group] for i in range(0, len(text), group)) if group > 0 else text


def parse_concept(name: str, text: str, length: int, n_classes: int) -> np.ndarray:
    """The concept y (length,) written as ``text``: the symbols of :data:`SYMBOLS` (or their ASCII
    :data:`ALIASES`), spaces ignored; a user concept as numbers separated by spaces. ConceptError
    naming the first bad symbol and what is accepted, or the wrong length."""
    if name in SYMBOLS:
        table = {c: k for k, c in enumerate(SYMBOLS[name])} | ALIASES.get(name, {})
        chars = [c for c in text.lower() if not c.isspace()]
        bad = [(i, c) for i, c in enumerate(chars) if c not in table]
        if bad:
            i, c = bad[0]
            accepted = ", ".join(f"{s} {lab}" for s, lab in zip(SYMBOLS[name], get_concept(name).labels))
            raise ConceptError(f"{c!r} (position {i + 1}) is not a {name} symbol; accepted: {accepted}")
        y = [table[c] for c in chars]
    else:
        try:
            y = [int(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise ConceptError(f"a {name!r} concept is written as numbers 0..{n_classes - 1} separated by spaces, "
                               f"got {text!r}") from None
    if len(y) != length:
        raise ConceptError(f"the {name} concept has {length} positions; {len(y)} were given")
    return np.asarray(y, np.int64)


def concept_code(y) -> str:
    """y (L,) as one hexadecimal digit per position (a short form for a URL)."""
    return "".join(_DIGITS[int(v)] for v in y)


def concept_from_code(code: str, length: int, n_classes: int) -> np.ndarray:
    """The y (length,) of :func:`concept_code`; ConceptError when ``code`` is not one of them."""
    values = [_DIGITS.find(c) for c in code.lower()]
    if len(values) != length or any(v < 0 or v >= n_classes for v in values):
        raise ConceptError(f"{code!r} is not a concept of {length} digits 0..{_DIGITS[n_classes - 1]}")
    return np.asarray(values, np.int64)


# ---------------------------------------------------------------------------------- checking y
def concept_problems(name: str, y, length: int, n_classes: int) -> list[tuple[int, str]]:
    """Why ``y`` (L,) cannot be the concept of any melody: (position 0-based, reason) pairs, [] when
    it can. Every concept: L positions, classes 0..K-1. Rhythm: a hold needs a sounding note before
    it (not at the first step, not after a rest). Contour: the first beat has no earlier note to
    compare with, so it is "·". Fragmentation: the first beat is "first beat" and only it, and the
    changes must fit 0..4 onsets per beat."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != length:
        return [(-1, f"{length} positions are needed, got shape {y.shape}")]
    out = [(i, f"class {int(v)} is not one of 0..{n_classes - 1}") for i, v in enumerate(y) if not 0 <= v < n_classes]
    if out:
        return out
    if name == "rhythm":
        return [(i, "a hold needs a note before it, " + ("and this is the first step" if i == 0 else "not a rest"))
                for i, v in enumerate(y) if v == _HOLD and (i == 0 or y[i - 1] == _REST)]
    if name == "contour" and y[0] != NO_ONSET:
        return [(0, "the first beat has no earlier note to go up, down or stay from; it is ·")]
    if name == "fragmentation":
        return _fragmentation_problems(y)
    return []


def _fragmentation_problems(y: np.ndarray) -> list[tuple[int, str]]:
    out = [(i, "only the first beat is 'first beat'") for i, v in enumerate(y) if v == FRAG_FIRST and i > 0]
    if y[0] != FRAG_FIRST:
        out.insert(0, (0, "the first beat has no beat before it; it is 'first beat'"))
    if out:
        return out
    counts = set(range(5))  # the onset counts (0..4) the beats so far can end on
    for i, v in enumerate(y[1:], 1):
        change = int(v) - 2
        counts = {n for n in range(5) for m in counts
                  if (n - m == change if -2 < change < 2 else (n - m <= -2 if change < 0 else n - m >= 2))}
        if not counts:
            return [(i, "no onset counts of 0..4 per beat make these changes")]
    return []


def check_concept(name: str, y, length: int, n_classes: int) -> np.ndarray:
    """``y`` as int64 when it can be a concept, else ConceptError listing the problems (1-based)."""
    problems = concept_problems(name, y, length, n_classes)
    if problems:
        raise ConceptError("; ".join(f"position {i + 1}: {why}" if i >= 0 else why for i, why in problems))
    return np.asarray(y, np.int64)


# ---------------------------------------------------------------------------------- the codes
def _config(tm):
    if getattr(tm, "name", None) != "extres":
        raise ValueError(f"concept operations need an ExtRes model, got {getattr(tm, 'name', type(tm).__name__)!r}")
    return tm.model.config


@torch.no_grad()
def concept_codes(tm, tokens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y = f(x) (N, L), z_e (N, Ze), z_r (N, Zr)) of melodies ``tokens`` (N, T): the posterior means
    of q(z_e | y) and q(z_r | x, y). ConceptError when the model's concept is not loaded."""
    _config(tm)
    tok = torch.as_tensor(np.asarray(tokens, np.int64), device=tm.device)
    y = tm.model.concept_of(tok)
    z_e, z_r = tm.model.split(tm.model.encode(tok, concept=y).mean)
    return y.cpu().numpy(), z_e.cpu().numpy(), z_r.cpu().numpy()


@torch.no_grad()
def decode_with(tm, y, z_r) -> np.ndarray:
    """Greedy melodies (N, T) (cleaned as the app plays them) of concepts y (N, L) and residuals z_r (N, Zr)."""
    z = torch.as_tensor(np.asarray(z_r, np.float32), device=tm.device)
    return clean_tokens(tm.model.decode_melody(z, concept_tensor(y, tm.device)).tokens.cpu().numpy())


def prior_residuals(tm, n: int, seed: int) -> np.ndarray:
    """``n`` residual codes z_r (n, Zr) from the prior N(0, I), drawn with ``seed``."""
    return np.random.default_rng(seed).standard_normal((n, _config(tm).zr_dims)).astype(np.float32)


def decode_drawn(tm, y, z_r) -> np.ndarray:
    """The melody (T,) of a concept ``y`` (L,) written by hand and one residual ``z_r`` (Zr,);
    ConceptError (:func:`check_concept`) when y cannot be a melody's concept."""
    c = _config(tm)
    y = check_concept(c.concept, y, c.concept_len, c.concept_classes)
    return decode_with(tm, y[None], np.asarray(z_r, np.float32)[None])[0]


@dataclass(frozen=True)
class ConceptPath:
    """A path from A to B: ``moving`` ("concept" or "residual"); ``concepts`` (S, L) the y each
    step was decoded from; ``tokens`` (S, T) the melodies; ``measured`` (S, L) f of each melody."""

    moving: str
    concepts: np.ndarray
    tokens: np.ndarray
    measured: np.ndarray

    def kept(self) -> np.ndarray:
        """Per step, the share of positions where the melody's concept is the one asked for (S,)."""
        return (self.concepts == self.measured).mean(1)


def _blend(a: np.ndarray, b: np.ndarray, steps: int, method: str) -> np.ndarray:
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {INTERPOLATIONS}, got {method!r}")
    if not 2 <= steps <= 64:
        raise ValueError(f"steps must lie in 2..64, got {steps}")
    ts = np.linspace(0, 1, steps)
    return np.stack([slerp(a, b, t) if method == "slerp" else (1 - t) * a + t * b for t in ts]).astype(np.float32)


@torch.no_grad()
def concept_path(tm, a_tokens, b_tokens, *, steps: int = 8, moving: str = "concept",
                 method: str = "slerp") -> ConceptPath:
    """``steps`` melodies from A to B (tokens (T,) each) moving one code.

    ``moving="concept"``: z_e goes from A's to B's and each step's y is decoded from it (greedy),
    the ends being A's and B's own concepts; every step keeps A's z_r — the last step is the
    concept transfer. ``moving="residual"``: z_r goes from A's to B's, every step keeps A's y."""
    if moving not in PARTS:
        raise ValueError(f"moving must be one of {PARTS}, got {moving!r}")
    y, z_e, z_r = concept_codes(tm, np.stack([np.asarray(a_tokens), np.asarray(b_tokens)]))
    if moving == "concept":
        ze = torch.as_tensor(_blend(z_e[0], z_e[1], steps, method), device=tm.device)
        ys = tm.model.decode_concept(ze)[1].cpu().numpy()
        ys[0], ys[-1] = y[0], y[1]
        zr = np.repeat(z_r[:1], steps, 0)
    else:
        ys = np.repeat(y[:1], steps, 0)
        zr = _blend(z_r[0], z_r[1], steps, method)
    tokens = decode_with(tm, ys, zr)
    return ConceptPath(moving, ys, tokens, get_concept(tm.model.config.concept)(tokens))


__all__ = ["PARTS", "SYMBOLS", "ConceptPath", "check_concept", "concept_code", "concept_codes", "concept_from_code",
           "concept_path", "concept_problems", "concept_text", "decode_drawn", "decode_with", "parse_concept",
           "prior_residuals"]
