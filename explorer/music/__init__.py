"""Melody representation, conversions, chords and attributes."""
from explorer.music.melody import (  # noqa: F401
    DEFAULT_BARS,
    HOLD,
    N_RHYTHM,
    N_TOKENS,
    REST,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    Melody,
    MelodyError,
    Note,
    clean_tokens,
    notes_to_tokens,
    tokens_to_notes,
    tokens_to_rhythm,
    transpose_tokens,
)
