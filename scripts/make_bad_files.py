"""Write the bad-input suite's files into a folder (never into the repository): broken, odd,
huge and hostile MIDI files, MusicXML/MXL scores, checkpoints and training states.

    python scripts/make_bad_files.py /tmp/bad-files      # writes the files and manifest.json

Each file's manifest entry says its ``kind`` (midi | score | checkpoint | state) and whether a
melody dataset can come out of it (``usable``: at least one 2-bar segment; else the melody
surfaces answer with a message). tests/test_bad_input.py runs each through every CLI command and uploader.
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pretty_midi

MANIFEST = "manifest.json"


# ------------------------------------------------------------------------------- MIDI in code
def _pm(notes, *, qpm=120.0, metre=(4, 4), drums=False, name="melody") -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI of (pitch, start_q, end_q) in quarters."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(metre[0], metre[1], 0.0))
    spq = 60.0 / qpm
    inst = pretty_midi.Instrument(program=0, is_drum=drums, name=name)
    inst.notes.extend(pretty_midi.Note(90, p, s * spq, e * spq) for p, s, e in notes)
    pm.instruments.append(inst)
    return pm


def _bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def _scale(n_quarters: int, step: float = 0.5):
    return [(60 + (i % 12), i * step, i * step + step) for i in range(int(n_quarters / step))]


def _smf(tracks: list[bytes], *, fmt: int = 1, division: int = 480) -> bytes:
    """A Standard MIDI File from raw track bodies (events without the end-of-track)."""
    out = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division)
    for body in tracks:
        body += b"\x00\xff\x2f\x00"
        out += b"MTrk" + struct.pack(">I", len(body)) + body
    return out


def _notes_track(n: int, pitch_cycle: int = 24) -> bytes:
    """``n`` 32nd notes at 480 PPQ (8 bytes each, so a track of any size is made at once)."""
    one = [b"\x00\x90" + bytes([60 + k % pitch_cycle, 80]) + b"\x3c\x80" + bytes([60 + k % pitch_cycle, 0])
           for k in range(pitch_cycle)]
    reps, rest = divmod(n, pitch_cycle)
    return b"".join(one) * reps + b"".join(one[:rest])


def _vlq(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def _tempo(qpm: float) -> bytes:
    return b"\xff\x51\x03" + int(60e6 / qpm).to_bytes(3, "big")


def midi_files() -> dict[str, tuple[bytes, bool]]:
    """name → (bytes, usable as a melody)."""
    good = _bytes(_pm(_scale(8)))
    chords = [(p, q, q + 1) for q in range(16) for p in (60, 64, 67, 72)]
    offgrid = [(60 + i % 7, i * 0.37, i * 0.37 + 0.3) for i in range(40)]
    triplets = [(62 + i % 5, i / 3, (i + 1) / 3) for i in range(48)]
    # a tempo change on every beat (a text event moves time on by a beat between them)
    tempo_track = b"".join(b"\x00" + _tempo(60 + 7 * (k % 20)) + (b"\x83\x60\xff\x01\x00" if k < 63 else b"")
                           for k in range(64))
    forty = pretty_midi.PrettyMIDI()
    for t in range(40):
        inst = pretty_midi.Instrument(program=t % 128, name=f"track {t}")
        inst.notes.extend(pretty_midi.Note(70, 40 + t, q * 0.5, q * 0.5 + 0.4) for q in range(16))
        forty.instruments.append(inst)
    type2 = _smf([_notes_track(16), _notes_track(16)], fmt=2)
    far = _smf([b"\x00\x90\x3c\x50" + _vlq(9_000_000) + b"\x80\x3c\x00"], division=24)  # one note, 94k bars long
    return {
        "empty.mid": (b"", False),
        "random.mid": (np.random.default_rng(0).bytes(4096), False),
        "truncated.mid": (good[: len(good) // 2], False),
        "wrong_magic.mid": (b"RIFF" + good[4:], False),
        "zero_ppq.mid": (_smf([_notes_track(16)], division=0), False),
        "header_only.mid": (b"MThd" + struct.pack(">IHHH", 6, 1, 0, 480), False),
        "header_claims_tracks.mid": (b"MThd" + struct.pack(">IHHH", 6, 1, 3, 480), False),
        "no_notes.mid": (_smf([b"\x00" + _tempo(120)]), False),
        "drums_only.mid": (_bytes(_pm(_scale(8), drums=True)), False),
        "one_note.mid": (_bytes(_pm([(60, 0, 1)])), False),
        "block_chords.mid": (_bytes(_pm(chords)), True),
        "metre_7_8.mid": (_bytes(_pm(_scale(14), metre=(7, 8))), False),
        "metre_5_4.mid": (_bytes(_pm(_scale(20), metre=(5, 4))), False),
        "metre_3_4.mid": (_bytes(_pm(_scale(12), metre=(3, 4))), False),
        "bpm_4.mid": (_bytes(_pm(_scale(8), qpm=4)), True),
        "bpm_1000.mid": (_bytes(_pm(_scale(64), qpm=1000)), True),
        "thousands_of_bars.mid": (_bytes(_pm(_scale(16_000))), True),  # 4,000 bars of 4/4
        "thousand_simultaneous.mid": (_bytes(_pm([(20 + k % 88, 0, 4) for k in range(1000)])), False),
        "zero_length_notes.mid": (_bytes(_pm([(60 + i % 12, i, i) for i in range(16)])), True),
        "off_grid.mid": (_bytes(_pm(offgrid)), True),
        "triplets_only.mid": (_bytes(_pm(triplets)), True),
        "tempo_every_beat.mid": (_smf([tempo_track, _notes_track(128)]), True),
        "type2.mid": (type2, False),
        "forty_tracks.mid": (_bytes(forty), True),
        "far_note_end.mid": (far, True),
        "many_notes_110k.mid": (_smf([_notes_track(110_000)]), False),  # 0.9 MB, over the note limit
        "eight_mb.mid": (_smf([_notes_track(1_000_000)]), False),
        "huge_24mb.mid": (_smf([_notes_track(3_000_000)]), False),
        "png_named.mid": (b"\x89PNG\r\n\x1a\n" + np.random.default_rng(1).bytes(2000), False),
        "text_named.mid": (b"These are not the notes you are looking for.\n" * 20, False),
        "valid_control.mid": (good, True),
    }


# ------------------------------------------------------------------------------------ scores
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_PARTWISE = ('<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>x</part-name></score-part>'
             '</part-list><part id="P1"><measure number="1"><attributes><divisions>1</divisions></attributes>'
             '{notes}</measure></part></score-partwise>')
_NOTE = '<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>'


def score_files() -> dict[str, tuple[bytes, bool]]:
    """name → (bytes, usable as a score)."""
    good = (_XML_HEAD + _PARTWISE.format(notes=_NOTE * 4)).encode()
    xxe = (_XML_HEAD + '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
           _PARTWISE.format(notes=_NOTE).replace("<part-name>x", "<part-name>&x;")).encode()
    laughs = (_XML_HEAD + '<!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">' +
              "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)) + "]>" +
              _PARTWISE.format(notes=_NOTE).replace("<part-name>x", "<part-name>&i;")).encode()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="s.xml"/></rootfiles>'
                                              '</container>')
        zf.writestr("s.xml", b"<" + b" " * (100 * 2**20) + b"/>")
    return {
        "empty.musicxml": (b"", False),
        "broken.musicxml": (good[: len(good) // 2], False),
        "not_xml.musicxml": (b"just some text, no markup\n" * 10, False),
        "no_notes.musicxml": ((_XML_HEAD + _PARTWISE.format(notes="")).encode(), False),
        "entity_file.musicxml": (xxe, False),
        "billion_laughs.musicxml": (laughs, False),
        "random.mxl": (np.random.default_rng(2).bytes(4096), False),
        "zip_bomb.mxl": (bomb.getvalue(), False),
        "png_named.xml": (b"\x89PNG\r\n\x1a\n" + np.random.default_rng(3).bytes(2000), False),
        "valid_control.musicxml": (good, True),
    }


# ----------------------------------------------------------------------- checkpoints, states
class _Payload:
    """Unpickling this would create ``marker``: a file that runs code when it is loaded unsafely."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


def checkpoint_files(marker: str) -> dict[str, tuple[bytes, bool]]:
    from safetensors.numpy import save

    foreign = save({"encoder.weight": np.zeros((3, 3), np.float32)}, metadata={"format": "pt"})
    return {
        "empty.safetensors": (b"", False),
        "random.safetensors": (np.random.default_rng(4).bytes(4096), False),
        "foreign.safetensors": (foreign, False),
        "pickled.safetensors": (pickle.dumps({"model": _Payload(marker)}), False),
        "header_claims_exabytes.safetensors": (struct.pack("<Q", 2**60) + b"{}", False),
    }


def state_files(marker: str) -> dict[str, tuple[bytes, bool]]:
    import torch

    def saved(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    whole = saved({"model_name": "arvae", "model": {}, "optim": {}, "step": 1})
    return {
        "state_empty.pt": (b"", False),
        "state_random.pt": (np.random.default_rng(5).bytes(4096), False),
        "state_truncated.pt": (whole[: len(whole) // 2], False),
        "state_pickle_payload.pt": (saved({"model": _Payload(marker)}), False),
        "state_plain_pickle.pt": (pickle.dumps({"model_name": "arvae"}), False),
        "state_list.pt": (saved([1, 2, 3]), False),
        "state_no_model.pt": (saved({"model_name": "arvae", "step": 3}), False),
        "state_wrong_types.pt": (saved({"model_name": "arvae", "model": "weights", "optim": 3, "step": "x",
                                        "epoch": None, "best": [], "bad_epochs": 0, "history": "{", "seconds": 0,
                                        "gen": 5}), False),
        "state_other_model.pt": (saved({"model_name": "musicvae", "model": {}}), False),
    }


def write_bad_files(folder) -> dict:
    """Write every file into ``folder`` and return (and write) the manifest: name → {kind, usable}.

    The pickled payloads would create ``folder/PWNED`` if anything unpickled them unsafely."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = str(folder / "PWNED")
    manifest = {}
    for kind, files in (("midi", midi_files()), ("score", score_files()), ("checkpoint", checkpoint_files(marker)),
                        ("state", state_files(marker))):
        for name, (data, usable) in files.items():
            (folder / name).write_bytes(data)
            manifest[name] = {"kind": kind, "usable": usable, "bytes": len(data)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/make_bad_files.py OUT_FOLDER (outside the repository)")
    m = write_bad_files(sys.argv[1])
    print(f"wrote {len(m)} files to {sys.argv[1]}")
