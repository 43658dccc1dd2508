"""The piano roll of :func:`explorer.viz.pianoroll.pianoroll_figure` as one inline SVG string.

Why a second form: on a page that redraws a roll on every slider move or map click, a plotly
chart costs the browser ≈ 150–200 ms (plotly's own code, then layout and paint of its SVG), most
of what the user waits for (docs/benchmarks.md). The same picture as a static SVG (notes as
rects, chord bands and names, bar lines, octave ticks) is drawn by the browser in a few
milliseconds. Each note carries a ``<title>`` (its pitch and length: a tooltip where the SVG is inline) and
``data-pitch`` / ``data-on`` / ``data-off`` (steps), so a test or a script can read the roll back. The app
shows it as an ``<img>`` (``explorer.ui.player.svg_image``): ``st.html``'s sanitiser drops inline SVG.
"""
from __future__ import annotations

from html import escape

import numpy as np

from explorer.music.melody import STEPS_PER_BAR, STEPS_PER_QUARTER, Melody, tokens_to_notes
from explorer.viz.pianoroll import chord_name, chord_spans, label_gap, pitch_name

NOTE_COLOUR, BAR_COLOUR, JOIN_COLOUR, CHORD_COLOUR = "#1f77b4", "#bbb", "#444", "#ff7f0e"
WIDTH = 720  # the viewBox width; the SVG scales to its column's width


def pianoroll_svg(melodies, *, labels=None, height: int = 300, show_chords: bool = True, title: str | None = None,
                  key: str = "") -> str:
    """``melodies`` (a Melody or a list, laid end to end) as an SVG element: x in bars, y in MIDI
    pitch (3 semitones of room above and below), chords as pale bands named where there is room
    (:func:`~explorer.viz.pianoroll.label_gap`), a thicker line where one melody ends and the next
    begins, ``labels`` above each melody and ``title`` above all. ``key`` goes to ``data-key``."""
    if isinstance(melodies, Melody):
        melodies = [melodies]
    labels = list(labels or [None] * len(melodies))
    total = max(sum(m.n_steps for m in melodies), 1)
    pitches = [n.pitch for m in melodies for n in tokens_to_notes(m.tokens)]
    lo, hi = (min(pitches) - 3, max(pitches) + 3) if pitches else (55, 80)
    top = 10 + 24 * bool(title) + 20 * any(labels)
    left, right, bottom = 44, 10, 34
    w, h = WIDTH - left - right, height - top - bottom

    def x(step: float) -> float:
        return round(left + w * step / total, 2)

    def y(pitch: float) -> float:
        return round(top + h * (hi - pitch) / (hi - lo), 2)

    row = h / (hi - lo)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="explorer-roll" data-key="{escape(key)}" '
           f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" font-family="sans-serif" font-size="11" '
           f'fill="#444"><rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fff"/>']
    if title:
        out.append(f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>')
    for p in range(12 * (lo // 12), hi + 1, 12):  # octave ticks, as the plotly roll's
        if lo <= p <= hi:
            out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(p)}" y2="{y(p)}" stroke="#eee"/>'
                       f'<text x="{left - 4}" y="{y(p) + 4}" text-anchor="end">{pitch_name(p)}</text>')
    offset, gap, named = 0, label_gap(total), -label_gap(total)
    for k, (m, lab) in enumerate(zip(melodies, labels)):
        chroma = None if m.chroma is None else np.asarray(m.chroma)
        if show_chords and chroma is not None and chroma.any():
            for a, b, c in chord_spans(chroma):
                out.append(f'<rect x="{x(offset + a)}" y="{top}" width="{round(x(offset + b) - x(offset + a), 2)}" '
                           f'height="{h}" fill="{CHORD_COLOUR}" fill-opacity="0.1"/>')
                if offset + a - named >= gap:  # names with room between them, as the plotly roll's
                    out.append(f'<text x="{x(offset + a) + 2}" y="{top + h - 3}" font-size="9">'
                               f'{escape(chord_name(c))}</text>')
                    named = offset + a
        for n in tokens_to_notes(m.tokens):
            beats = (n.end - n.start) / STEPS_PER_QUARTER
            out.append(f'<rect x="{x(offset + n.start)}" y="{round(y(n.pitch) - max(row * 0.4, 1.5), 2)}" '
                       f'width="{round(max(x(offset + n.end) - x(offset + n.start) - 1, 1), 2)}" '
                       f'height="{round(max(row * 0.8, 3), 2)}" fill="{NOTE_COLOUR}" data-pitch="{n.pitch}" '
                       f'data-on="{offset + n.start}" data-off="{offset + n.end}">'
                       f'<title>{pitch_name(n.pitch)} · {beats:g} beats</title></rect>')
        if k > 0:
            out.append(f'<line x1="{x(offset)}" x2="{x(offset)}" y1="{top}" y2="{top + h}" stroke="{JOIN_COLOUR}" '
                       f'stroke-width="2"/>')
        if lab:
            out.append(f'<text x="{x(offset + m.n_steps / 2)}" y="{top - 8}" text-anchor="middle">{escape(lab)}</text>')
        offset += m.n_steps
    bars = range(0, total + 1, STEPS_PER_BAR)
    every = max(1, len(bars) // 16)  # at most ~16 bar numbers
    for i, s in enumerate(bars):
        out.append(f'<line x1="{x(s)}" x2="{x(s)}" y1="{top}" y2="{top + h}" stroke="{BAR_COLOUR}" stroke-width="0.5"/>')
        if i % every == 0:
            out.append(f'<text x="{x(s)}" y="{top + h + 14}" text-anchor="middle">{s // STEPS_PER_BAR}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle">bar</text>'
               f'<text transform="translate(12 {top + h / 2}) rotate(-90)" text-anchor="middle">pitch</text></svg>')
    return "".join(out)


def roll_notes(svg: str) -> list[tuple[int, int, int]]:
    """(pitch, onset step, offset step) of every note of a :func:`pianoroll_svg` roll, in order."""
    import re

    return [(int(p), int(a), int(b)) for p, a, b in
            re.findall(r'data-pitch="(\d+)" data-on="(\d+)" data-off="(\d+)"', svg)]
