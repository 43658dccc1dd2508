"""A player whose audio travels inside the element: nothing it plays or offers for download
depends on Streamlit's ``/media`` URLs.

Why: Streamlit's media file manager forgets a file once a script run ends without drawing it
again (``remove_orphaned_files``), and a run interrupted by the next widget move draws nothing
after the point it stopped, so an ``st.audio`` or ``st.download_button`` still on screen answers
404. Here the clips come as lossless FLAC in the element's data (an ``st.components.v2`` component,
no iframe); the browser plays them from blob URLs, and builds the WAV download from the decoded
samples (the same samples as the WAV the server rendered) and the MIDI download from its bytes.

Three modes: :func:`clip_player` (one clip: an ``<audio>`` element and downloads),
:func:`live_player` (the clips of one control's positions: moving its range switches sound in
the browser; releasing it reports the position back, once) and :func:`palette_player` (the
clips of an n×n grid: the pointer over a cell plays it, a release selects it, once). Given the
clips' notes, each draws a small piano roll with a playhead that follows the sound. Space plays
or stops the page's main player (the one last played, else one drawn with ``main=True``, else
the first) unless the focus is in a field, a button or a slider.
"""
from __future__ import annotations

import functools
import hashlib
import json
import struct
from pathlib import Path

import streamlit as st

_COMPONENTS = Path(__file__).parent / "components"
MIME = "audio/flac"


@functools.cache
def _component():
    """Registered on first use (not at import)."""
    return st.components.v2.component(
        "explorer_clip_player",
        js=(_COMPONENTS / "clip_player.js").read_text(encoding="utf-8"),
        css=(_COMPONENTS / "clip_player.css").read_text(encoding="utf-8"),
        isolate_styles=False,  # in the page's DOM, so `document.querySelector("audio")` finds it
    )


def pack(head: dict, blobs: list[bytes]) -> bytes:
    """``[u32 little-endian header length][header JSON][blobs]``; ``head["blobs"]`` is not
    needed: every ``[offset, size]`` in ``head`` points into the concatenated ``blobs``."""
    raw = json.dumps(head, separators=(",", ":")).encode()
    return struct.pack("<I", len(raw)) + raw + b"".join(blobs)


def unpack(data: bytes) -> tuple[dict, bytes]:
    """The header and the blob area of :func:`pack`'s output."""
    (n,) = struct.unpack_from("<I", data)
    return json.loads(data[4:4 + n]), data[4 + n:]


class _Blobs:
    """Blobs laid end to end; :meth:`add` returns a blob's ``[offset, size]``."""

    def __init__(self):
        self.parts, self.size = [], 0

    def add(self, blob: bytes | None):
        if blob is None:
            return None
        where = [self.size, len(blob)]
        self.parts.append(blob)
        self.size += len(blob)
        return where


def _sig(*blobs: bytes | None, **fields) -> str:
    h = hashlib.sha1(json.dumps(fields, sort_keys=True).encode())
    for b in blobs:
        h.update(b"-" if b is None else hashlib.sha1(b).digest())
    return h.hexdigest()


Notes = list  # [[pitch, start s, end s], ...]: a clip's notes, drawn as its piano roll


def clip_player(flac: bytes | None, midi: bytes | None, *, key: str, name: str, sample_rate: int,
                autoplay: bool = False, loop: bool = False, note: str = "", notes: Notes | None = None,
                main: bool = False):
    """Draw one clip (``flac``, or None: only ``note`` and the MIDI download) with MIDI and WAV
    downloads named ``name.mid`` / ``name.wav``. ``autoplay`` plays a clip that replaces another
    (not the first one a visit shows); ``loop`` repeats it; ``notes`` (the MIDI's, in seconds)
    draw a piano roll with a playhead over the clip; ``main`` makes it the player space starts."""
    blobs = _Blobs()
    clips = [] if flac is None else [{"audio": blobs.add(flac)}]
    head = {"mode": "player", "clips": clips, "midi": blobs.add(midi), "name": name, "note": note,
            "mime": MIME, "sample_rate": int(sample_rate), "autoplay": bool(autoplay), "loop": bool(loop),
            "main": bool(main)}
    head["sig"] = _sig(flac, midi, **{k: v for k, v in head.items() if k not in ("clips", "midi")})
    head["notes"] = notes  # the MIDI's, so the signature has them already
    _component()(data=pack(head, blobs.parts), key=key, height="content")


def _switched(mode: str, flacs: list[bytes], index: int, fields: dict, *, key: str, on_change, args: tuple):
    """Draw clips the browser switches between (``mode`` "live" or "palette"), the sound at
    ``index`` first; returns the position released in this run, or None."""
    if not 0 <= index < len(flacs):
        raise ValueError(f"index must lie in 0..{len(flacs) - 1}, got {index}")
    blobs = _Blobs()
    shas = [hashlib.sha1(f).hexdigest()[:16] for f in flacs]
    first = {}
    for sha, f in zip(shas, flacs):  # a sound repeated along the control travels once
        if sha not in first:
            first[sha] = blobs.add(f)
    head = {"mode": mode, "clips": [{"audio": first[sha], "sha": sha} for sha in shas], "index": int(index),
            "mime": MIME, **fields}
    # the position is left out: it moves in the browser, and its release reruns the page; the
    # notes are the clips'
    head["sig"] = _sig(None, shas=shas, **{k: v for k, v in fields.items() if k != "notes"})
    result = _component()(data=pack(head, blobs.parts), key=key, height="content",
                          on_index_change=functools.partial(on_change, *args) if on_change else (lambda: None))
    return result.index


def live_player(flacs: list[bytes], values: list[float], index: int, *, key: str, label: str,
                autoplay: bool = False, on_change=None, args: tuple = (), notes: list[Notes] | None = None):
    """Draw a range over ``values`` whose position ``k`` plays ``flacs[k]`` (looped), switched in
    the browser. Space plays/stops, the arrow keys step. Returns the position the user released
    the range at in this run (an index into ``values``), or None; ``on_change`` runs before the
    script with ``args`` (read the position there with :func:`released_index`). ``notes`` (one
    list per clip) draw the playing clip's piano roll; without them the playhead runs alone."""
    if len(flacs) != len(values) or not flacs:
        raise ValueError(f"live_player needs one clip per value, got {len(flacs)} clips and {len(values)} values")
    fields = {"values": [round(float(v), 4) for v in values], "label": label, "autoplay": bool(autoplay),
              "notes": notes}
    return _switched("live", flacs, index, fields, key=key, on_change=on_change, args=args)


def palette_player(flacs: list[bytes], notes: list[Notes], labels: list[str], n: int, index: int, *, key: str,
                   shade=None, on_change=None, args: tuple = ()):
    """Draw an n×n grid (row by row; ``labels``, ``notes`` and ``flacs`` one per cell), each
    cell its piano roll, tinted by ``shade`` (one value in [0, 1] per cell). The pointer over a
    cell plays it (after a press or ▶ Play), the arrow keys move across the grid, space
    plays/stops; a release (or Enter) selects the cell: returned in that run (an index into
    ``labels``), else None; ``on_change`` as in :func:`live_player`. ``index``: the selected cell."""
    if not len(flacs) == len(notes) == len(labels) == n * n:
        raise ValueError(f"a {n}×{n} palette needs {n * n} clips, notes and labels, "
                         f"got {len(flacs)}, {len(notes)} and {len(labels)}")
    fields = {"n": int(n), "labels": list(labels), "notes": notes,
              "shade": None if shade is None else [round(float(v), 3) for v in shade]}
    return _switched("palette", flacs, index, fields, key=key, on_change=on_change, args=args)


def released_index(key: str) -> int | None:
    """In ``live_player``'s or ``palette_player``'s ``on_change`` callback: the position the
    user released at."""
    value = (st.session_state.get(key) or {}).get("index")
    return None if value is None else int(value)
