"""Words in the figures (issue 16): chord names that do not pile up on the piano roll, log-scale
ticks that read as numbers on the Model report."""
from __future__ import annotations

import numpy as np

from explorer.music.chords import progression_to_chroma
from explorer.music.melody import Melody
from explorer.viz.pianoroll import chord_name, pianoroll_figure

REST = 129


def _chord_labels(fig) -> list[tuple[float, str]]:
    return [(a["x"], a["text"]) for a in fig.layout.annotations if a["yref"] == "paper" and a["y"] == 0]


def _melody(chroma) -> Melody:
    tokens = np.full(len(chroma), REST)
    tokens[::4] = 60
    return Melody(tokens, chroma)


def test_a_chord_change_every_16th_is_named_once_a_beat_at_most():
    """C and G alternating every step of two bars: 32 names on top of each other before; now one
    per beat at most (8), each a chord's name."""
    fig = pianoroll_figure(_melody(progression_to_chroma("C G", 32, 1)))
    labels = _chord_labels(fig)
    xs = [x for x, _ in labels]
    assert len(labels) == 8 and min(np.diff(xs)) >= 0.25  # bars: a beat is a quarter of a bar
    assert {t for _, t in labels} == {"C"}  # every beat starts on step 0, 4, …: the C of the alternation
    assert len([s for s in fig.layout.shapes if s["type"] == "rect"]) == 32  # every band still drawn


def test_a_slow_progression_keeps_every_name():
    labels = _chord_labels(pianoroll_figure(_melody(progression_to_chroma("C Am F G7", 32, 8))))
    assert [t for _, t in labels] == ["C", "Am", "F", "D F G B"] and [x for x, _ in labels] == [0, 0.5, 1, 1.5]


def test_a_long_timeline_names_at_most_about_sixteen_chords():
    mels = [_melody(progression_to_chroma("C F", 32, 2)) for _ in range(10)]  # 320 steps, a change every 8th
    xs = [x for x, _ in _chord_labels(pianoroll_figure(mels))]
    assert 10 <= len(xs) <= 17 and min(np.diff(xs)) >= 20 / 16 - 1e-9  # 320 / 16 = 20 steps apart at least


def test_chord_name():
    bbm = np.zeros(12, np.uint8)
    bbm[[10, 1, 5]] = 1
    assert chord_name(bbm) == "Bbm"
    assert chord_name(progression_to_chroma("Cmaj7", 1, 1)[0]) == "C E G B"
