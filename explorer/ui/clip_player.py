"""A player whose audio travels inside the element: nothing it plays or offers for download
depends on Streamlit's ``/media`` URLs.

Why: Streamlit's media file manager forgets a file once a script run ends without drawing it
again (``remove_orphaned_files``), and a run interrupted by the next widget move draws nothing
after the point it stopped, so an ``st.audio`` or ``st.download_button`` still on screen answers
404. Here the clips come as lossless FLAC in the element's data (an ``st.components.v2`` component,
no iframe); the browser plays them from blob URLs, and builds the WAV download from the decoded
samples (the same samples as the WAV the server rendered) and the MIDI download from its bytes.

Two modes: :func:`clip_player` (one clip: an ``<audio>`` element and downloads) and
:func:`live_player` (the clips of one control's positions: moving its range switches sound in
the browser; releasing it reports the position back, once).
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


def clip_player(flac: bytes | None, midi: bytes | None, *, key: str, name: str, sample_rate: int,
                autoplay: bool = False, loop: bool = False, note: str = ""):
    """Draw one clip (``flac``, or None: only ``note`` and the MIDI download) with MIDI and WAV
    downloads named ``name.mid`` / ``name.wav``. ``autoplay`` plays a clip that replaces another
    (not the first one a visit shows); ``loop`` repeats it."""
    blobs = _Blobs()
    clips = [] if flac is None else [{"audio": blobs.add(flac)}]
    head = {"mode": "player", "clips": clips, "midi": blobs.add(midi), "name": name, "note": note,
            "mime": MIME, "sample_rate": int(sample_rate), "autoplay": bool(autoplay), "loop": bool(loop)}
    head["sig"] = _sig(flac, midi, **{k: v for k, v in head.items() if k not in ("clips", "midi")})
    _component()(data=pack(head, blobs.parts), key=key, height="content")


def live_player(flacs: list[bytes], values: list[float], index: int, *, key: str, label: str,
                autoplay: bool = False, on_change=None, args: tuple = ()):
    """Draw a range over ``values`` whose position ``k`` plays ``flacs[k]`` (looped), switched in
    the browser. Space plays/stops, the arrow keys step. Returns the position the user released
    the range at in this run (an index into ``values``), or None; ``on_change`` runs before the
    script with ``args`` (read the position there with :func:`released_index`)."""
    if len(flacs) != len(values) or not flacs:
        raise ValueError(f"live_player needs one clip per value, got {len(flacs)} clips and {len(values)} values")
    if not 0 <= index < len(values):
        raise ValueError(f"index must lie in 0..{len(values) - 1}, got {index}")
    blobs = _Blobs()
    shas = [hashlib.sha1(f).hexdigest()[:16] for f in flacs]
    clips = []
    first = {}
    for sha, f in zip(shas, flacs):  # a sound repeated along the control travels once
        if sha not in first:
            first[sha] = blobs.add(f)
        clips.append({"audio": first[sha], "sha": sha})
    head = {"mode": "live", "clips": clips, "values": [round(float(v), 4) for v in values], "index": int(index),
            "label": label, "mime": MIME, "autoplay": bool(autoplay)}
    # the position is left out: the range moves in the browser, and its release reruns the page
    head["sig"] = _sig(None, shas=shas, values=head["values"], label=label, autoplay=bool(autoplay))
    result = _component()(data=pack(head, blobs.parts), key=key, height="content",
                          on_index_change=functools.partial(on_change, *args) if on_change else (lambda: None))
    return result.index


def released_index(key: str) -> int | None:
    """In ``live_player``'s ``on_change`` callback: the position the user released the range at."""
    value = (st.session_state.get(key) or {}).get("index")
    return None if value is None else int(value)
