"""What AppTest sees of explorer/ui/clip_player.py's players: each is a ``bidi_component``
element whose bytes hold a header and the embedded clips (FLAC) and MIDI.

For a test that counted ``at.get("audio")`` or the "MIDI"/"WAV" download buttons:
``len(audio_players(at))`` counts players with a clip (audio on), ``len(players(at))`` players
with a MIDI download, ``player_keys(at)`` their keys; any block (``at.main``, a column) works."""
from __future__ import annotations

from explorer.ui.clip_player import unpack


def _elements(block):
    """The clip players among ``block``'s ``st.components.v2`` elements (the map's marks are one too)."""
    return [e for e in block.get("bidi_component") if "clip_player" in e.proto.component_name]


def players(block, mode: str = "player") -> list[tuple[dict, bytes]]:
    """(header, blob area) of each clip player in ``block`` in ``mode`` ("player" or "live")."""
    out = [unpack(e.proto.bytes) for e in _elements(block)]
    return [(h, b) for h, b in out if h.get("mode") == mode]


def audio_players(block) -> list[tuple[dict, bytes]]:
    """The players that play a clip (all of them when audio is on)."""
    return [(h, b) for h, b in players(block) if h["clips"]]


def blob(blobs: bytes, where) -> bytes:
    """One embedded file: ``where`` is the header's ``[offset, size]``."""
    return blobs[where[0]:where[0] + where[1]]


def clip(block, k: int = 0) -> bytes:
    """The FLAC the ``k``-th player plays."""
    head, blobs = audio_players(block)[k]
    return blob(blobs, head["clips"][0]["audio"])


def player_keys(block) -> list[str]:
    """The ``key`` each player was drawn with (the end of its element id)."""
    return [e.proto.id.rsplit("-", 1)[-1] for e in _elements(block)]
