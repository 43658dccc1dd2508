"""Concepts for ExtRes (Akama, ISMIR 2019): a function melody → sequence of small integers.

A concept ``f`` takes melody tokens on the 16th grid (``(N, T)`` or ``(T,)``, values
0..129) and returns classes ``(N, L)`` (``(L,)``), the same length ``L`` for every melody,
with ``T`` a multiple of ``L`` (per step, per beat, per bar …). Three are built in (defined
in ``docs/concepts.md``); a user names their own by module path ``"pkg.mod:func"``, a
function of one melody ``(T,) → (L,)``.

Loading a user concept imports its module, so it is only done when a user names it
(:func:`resolve_concept` with ``allow_import=True``); a checkpoint stores the name as text
and the loader looks it up in :data:`CONCEPTS` and the user concepts already loaded in this
process (:func:`get_concept`), never importing anything. :func:`validate_concept` runs a
concept on real melodies before training and raises :class:`ConceptError` naming it when its
output is unusable.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from explorer.music.melody import N_PITCHES, STEPS_PER_QUARTER, ensure_tokens, tokens_to_rhythm

#: At most this many classes per position for a user concept (a concept is a small label set).
MAX_CLASSES = 16

# contour classes, per beat
SAME, UP, DOWN, NO_ONSET = 0, 1, 2, 3
# fragmentation & consolidation classes, per beat: the change of onset count against the previous beat
FRAG_LABELS = ("≤ −2 (consolidate more)", "−1 (consolidate)", "0 (same)", "+1 (fragment)", "≥ +2 (fragment more)",
               "first beat")
FRAG_FIRST = 5


class ConceptError(ValueError):
    """A concept that cannot be used (unknown, not loaded, or bad output), naming it."""


@dataclass(frozen=True)
class Concept:
    """A named concept: ``fn`` maps tokens (N, T) → classes (N, L) (``batched``) or one melody
    (T,) → (L,); ``n_classes`` classes (None for a user concept until validated on data);
    ``labels`` one name per class; ``per`` what one position is (step, beat, …)."""

    name: str
    fn: Callable
    n_classes: int | None = None
    labels: tuple = ()
    per: str = ""
    batched: bool = False
    builtin: bool = False
    doc: str = field(default="", compare=False)

    def __repr__(self):
        return f"Concept({self.name!r}, classes={self.n_classes}, per={self.per or '?'})"

    def __call__(self, tokens) -> np.ndarray:
        """Classes (N, L) of tokens (N, T) — or (L,) of one melody (T,) — as int64."""
        tok = ensure_tokens(tokens)
        rows = tok[None] if tok.ndim == 1 else tok
        if self.batched:
            out = np.asarray(self.fn(rows))
        else:
            out = [np.asarray(self.fn(r.copy())) for r in rows]
            lengths = {o.shape for o in out}
            if len(lengths) > 1:
                raise ConceptError(f"concept {self.name!r} returned sequences of different shapes {sorted(lengths)}")
            out = np.stack(out) if out else np.zeros((0, 0), np.int64)
        out = _as_int_classes(self.name, out)
        return out[0] if tok.ndim == 1 else out


def _as_int_classes(name: str, out: np.ndarray) -> np.ndarray:
    if out.ndim != 2:
        raise ConceptError(f"concept {name!r} must return one 1-D sequence per melody, got shape {out.shape[1:]}")
    if out.size and not np.issubdtype(out.dtype, np.integer):
        if not np.issubdtype(out.dtype, np.number) or not np.all(np.equal(np.mod(out, 1), 0)):
            raise ConceptError(f"concept {name!r} must return integers, got dtype {out.dtype}")
    return out.astype(np.int64)


# ---------------------------------------------------------------------------------- built in
def rhythm(tokens: np.ndarray) -> np.ndarray:
    """Per step: 0 onset, 1 hold, 2 rest (N, T) — the melody's rhythm."""
    return tokens_to_rhythm(tokens)


def _beats(tokens: np.ndarray) -> np.ndarray:
    t = tokens.shape[-1]
    if t % STEPS_PER_QUARTER:
        raise ConceptError(f"a per-beat concept needs a whole number of {STEPS_PER_QUARTER}-step beats, got {t} steps")
    return tokens.reshape(tokens.shape[0], t // STEPS_PER_QUARTER, STEPS_PER_QUARTER)


def contour(tokens: np.ndarray) -> np.ndarray:
    """Per beat (4 steps): the pitch of the beat's first onset against the pitch of the latest
    onset before it (across rests and earlier beats): 0 same, 1 up, 2 down; 3 when the beat has
    no onset or its first onset is the melody's first note (nothing to compare with). (N, T/4)"""
    tok = np.asarray(tokens, dtype=np.int64)
    n, t = tok.shape
    onset = tok < N_PITCHES
    # index of the latest onset at or before each step (-1: none yet)
    last = np.maximum.accumulate(np.where(onset, np.arange(t)[None, :], -1), axis=1)
    beats = _beats(onset)  # (N, B, 4)
    has = beats.any(-1)
    first = np.arange(beats.shape[1])[None, :] * STEPS_PER_QUARTER + beats.argmax(-1)  # (N, B) first onset step
    rows = np.arange(n)[:, None]
    pitch = tok[rows, first]
    prev_idx = np.where(first > 0, last[rows, np.maximum(first - 1, 0)], -1)
    prev = tok[rows, np.maximum(prev_idx, 0)]
    out = np.where(pitch > prev, UP, np.where(pitch < prev, DOWN, SAME))
    return np.where(has & (prev_idx >= 0), out, NO_ONSET).astype(np.int64)


def onsets_per_beat(tokens: np.ndarray) -> np.ndarray:
    """Onsets in each beat (N, T/4), 0..4."""
    return _beats(np.asarray(tokens) < N_PITCHES).sum(-1)


def fragmentation(tokens: np.ndarray) -> np.ndarray:
    """Per beat: the onset count minus the previous beat's, clipped to −2..+2, as class
    change + 2 (0 ≤ −2 … 2 same … 4 ≥ +2); the first beat, with no previous beat, is class 5.
    More onsets = a note split into shorter ones (fragmentation); fewer = consolidation. (N, T/4)"""
    counts = onsets_per_beat(tokens)
    change = np.clip(np.diff(counts, axis=1), -2, 2) + 2
    return np.concatenate([np.full((counts.shape[0], 1), FRAG_FIRST), change], 1).astype(np.int64)


CONCEPTS: dict[str, Concept] = {c.name: c for c in (
    Concept("rhythm", rhythm, 3, ("onset", "hold", "rest"), "step", True, True,
            "per 16th step: onset, hold or rest"),
    Concept("contour", contour, 4, ("same", "up", "down", "—"), "beat", True, True,
            "per beat: first onset up / down / same against the note before it"),
    Concept("fragmentation", fragmentation, 6, FRAG_LABELS, "beat", True, True,
            "per beat: change of the onset count against the previous beat"),
)}
#: User concepts loaded in this process by name ("pkg.mod:func"), see resolve_concept.
_LOADED: dict[str, Concept] = {}


def is_user_concept(name: str) -> bool:
    """A module path ``pkg.mod:func`` (as opposed to a built-in name)."""
    return ":" in name


def get_concept(name: str) -> Concept:
    """The built-in concept ``name`` or a user concept loaded earlier in this process; never
    imports. ConceptError saying what to do otherwise."""
    if name in CONCEPTS:
        return CONCEPTS[name]
    if name in _LOADED:
        return _LOADED[name]
    if is_user_concept(name):
        raise ConceptError(f"concept {name!r} is user code and is not loaded: a checkpoint runs no code, so name "
                           f"it again (explorer … --concept {name}, or resolve_concept({name!r}, allow_import=True))")
    raise ConceptError(f"unknown concept {name!r}; built in: {sorted(CONCEPTS)}, or a module path 'pkg.mod:func'")


def resolve_concept(name: str, *, allow_import: bool = False) -> Concept:
    """A concept by name: built in, loaded already, or — only with ``allow_import`` (the user
    named it) — imported from ``"pkg.mod:func"`` and remembered under that name. The function
    takes one melody (T,) and returns a sequence (L,). ConceptError naming it when that fails."""
    if name in CONCEPTS or name in _LOADED or not (allow_import and is_user_concept(name)):
        return get_concept(name)
    module, _, func = name.partition(":")
    if not module or not func:
        raise ConceptError(f"a user concept is 'pkg.module:function', got {name!r}")
    try:
        fn = getattr(importlib.import_module(module), func)
    except ImportError as exc:
        raise ConceptError(f"concept {name!r}: cannot import module {module!r} ({exc})") from None
    except AttributeError:
        raise ConceptError(f"concept {name!r}: module {module!r} has no function {func!r}") from None
    except Exception as exc:  # the user's module fails while being imported
        raise ConceptError(f"concept {name!r}: importing {module!r} failed ({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise ConceptError(f"concept {name!r}: {func!r} in {module!r} is not a function")
    concept = Concept(name, fn, None, (), "", False, False, (getattr(fn, "__doc__", "") or "").strip())
    _LOADED[name] = concept
    return concept


def remember(concept: Concept) -> Concept:
    """Keep ``concept`` (with its class count, once validated) under its name in this process."""
    if concept.name in CONCEPTS:
        raise ConceptError(f"{concept.name!r} is a built-in concept")
    _LOADED[concept.name] = concept
    return concept


def validate_concept(concept: Concept, tokens, *, max_classes: int = MAX_CLASSES) -> Concept:
    """Run ``concept`` on melodies ``tokens`` (N, T) and return it with its class count set.

    Raises ConceptError naming the concept when it raises, returns something that is not one
    integer sequence per melody, a length that does not divide T (or differs between melodies),
    negative values, more than ``max_classes`` classes (or more than a built-in declares), or the
    same output for every melody (it would teach nothing)."""
    tok = ensure_tokens(tokens)
    if tok.ndim != 2 or len(tok) == 0:
        raise ConceptError(f"validating concept {concept.name!r} needs melodies (N, T), got shape {tok.shape}")
    try:
        y = concept(tok)
    except ConceptError:
        raise
    except Exception as exc:  # the user's function fails on a melody
        bad = _first_failing_row(concept, tok)
        raise ConceptError(f"concept {concept.name!r} raised {type(exc).__name__} ({exc}) on melody {bad} of "
                           f"{len(tok)}") from None
    n, t = tok.shape
    length = y.shape[1]
    if length == 0 or t % length:
        raise ConceptError(f"concept {concept.name!r} returns sequences of length {length}; the length must divide "
                           f"the {t} steps of a melody (per step {t}, per beat {t // STEPS_PER_QUARTER}, …)")
    if y.min() < 0:
        raise ConceptError(f"concept {concept.name!r} returns negative values ({y.min()}); classes are 0, 1, 2, …")
    k = int(y.max()) + 1
    limit = concept.n_classes if concept.builtin else max_classes
    if k > limit:
        raise ConceptError(f"concept {concept.name!r} returns {k} classes (values up to {k - 1}); at most {limit} "
                           "are allowed")
    if n > 1 and (y == y[:1]).all():
        raise ConceptError(f"concept {concept.name!r} returns the same sequence for all {n} melodies it was tried on: "
                           "a constant concept has nothing to learn")
    if concept.builtin:
        return concept
    return Concept(concept.name, concept.fn, k, tuple(str(i) for i in range(k)), f"1/{length} of the melody",
                   concept.batched, False, concept.doc)


def _first_failing_row(concept: Concept, tok: np.ndarray) -> int:
    for i, row in enumerate(tok):
        try:
            concept(row)
        except Exception:
            return i
    return -1


def concept_steps(y: np.ndarray, n_steps: int) -> np.ndarray:
    """Classes per position (..., L) repeated onto the ``n_steps`` grid (..., n_steps)."""
    y = np.asarray(y)
    return np.repeat(y, n_steps // y.shape[-1], axis=-1)


def consistency(y_wanted: np.ndarray, y_got: np.ndarray) -> float:
    """Share of positions where ``y_got`` equals ``y_wanted`` (both (N, L))."""
    y_wanted, y_got = np.asarray(y_wanted), np.asarray(y_got)
    if y_wanted.shape != y_got.shape:
        raise ValueError(f"concept sequences differ in shape: {y_wanted.shape} vs {y_got.shape}")
    return float((y_wanted == y_got).mean()) if y_wanted.size else 0.0


__all__ = ["CONCEPTS", "Concept", "ConceptError", "contour", "fragmentation", "get_concept", "resolve_concept",
           "rhythm", "validate_concept", "consistency", "concept_steps", "remember"]
