"""What the app tests share: paths, a tiny melody as MIDI bytes, a corrupt MIDI, tiny
untrained models and their checkpoints, and an AppTest run of a page."""
from __future__ import annotations

import io
from pathlib import Path

import pretty_midi
import torch
from streamlit.testing.v1 import AppTest

from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.checkpoint import save_checkpoint
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.ui.model_picker import UPLOAD

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
SEGMENT_PAGE = "pages/segment_player.py"

#: Starts like a MIDI header, then nothing a MIDI reader can parse.
BROKEN_MIDI = b"MThd garbage not a midi"

# (pitch, start, end) in 16ths: two 4/4 bars of C major, eighths and quarters on the 16th grid.
TWO_BARS = [(60, 0, 2), (62, 2, 4), (64, 4, 8), (65, 8, 10), (67, 10, 12), (69, 12, 16),
            (67, 16, 20), (64, 20, 22), (62, 22, 24), (60, 24, 32)]


def melody_midi_bytes(notes=TWO_BARS, *, qpm: float = 120.0, name: str = "melody") -> bytes:
    """A one-track 4/4 MIDI file of ``notes`` ``(pitch, start, end)`` in 16ths at ``qpm``."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=0, name=name)
    sixteenth = 60.0 / qpm / 4
    inst.notes.extend(pretty_midi.Note(90, p, s * sixteenth, e * sixteenth) for p, s, e in notes)
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def tiny_arvae() -> ARVAE:
    """An untrained AR-VAE small enough to run many times per test on a busy CPU."""
    return ARVAE(ARVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8))


def tiny_ec2vae() -> EC2VAE:
    """An untrained EC²-VAE small enough to run many times per test on a busy CPU."""
    return EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=8, z2_dims=8))


def tiny_models() -> dict:
    """``{"arvae-tiny": ..., "ec2vae-tiny": ...}``, the same weights on every call (seed 0)."""
    torch.manual_seed(0)
    return {"arvae-tiny": tiny_arvae(), "ec2vae-tiny": tiny_ec2vae()}


def save_tiny_models(folder: Path) -> Path:
    """Save :func:`tiny_models` as ``<name>.safetensors`` in ``folder``; return ``folder``."""
    for name, model in tiny_models().items():
        save_checkpoint(folder / f"{name}.safetensors", model)
    return folder


def run_app(page, *, timeout: float = 60, session_state: dict | None = None, **query) -> AppTest:
    """Run the script ``page`` once with ``query`` as URL parameters; fail on any exception."""
    at = AppTest.from_file(str(page), default_timeout=timeout)
    for k, v in (session_state or {}).items():
        at.session_state[k] = v
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_model_page(page, model: str | None) -> AppTest:
    """Run ``page`` with the checkpoint ``model`` chosen in the URL, or, for None, the
    model picker on "upload" with nothing uploaded yet."""
    if model is None:
        return run_app(page, session_state={"model_name": UPLOAD})
    return run_app(page, model=model)


def chart_keys(at) -> list[str]:
    """The widget keys of the plotly charts on the page, in order."""
    return [el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")]


def svg_rolls(at) -> dict[str, str]:
    """The piano rolls drawn as SVG (``play_ui(..., roll="svg")``: an ``<img>`` with the SVG in a data URI), by
    their key, as the SVG text."""
    import base64
    import re

    out = {}
    for el in at.get("html"):
        m = re.search(r'class="explorer-roll-img" data-key="([^"]*)".*src="data:image/svg\+xml;base64,([^"]*)"',
                      el.proto.body)
        if m:
            out[m.group(1)] = base64.b64decode(m.group(2)).decode()
    return out


def markdown_tables(at) -> dict[str, dict[str, list[str]]]:
    """The Markdown tables of the page (``explorer.ui.tables.markdown_table``) by the bold title in
    front of each: title → column → cells (text, "–" for a missing value)."""
    out = {}
    for el in at.markdown:
        text = el.value
        if "\n|" not in text:
            continue
        title = text.split("**")[1] if text.startswith("**") else ""
        lines = [ln for ln in text.splitlines() if ln.startswith("|")]
        cells = [[c.strip().replace("\\|", "|") for c in ln.strip("|").split(" | ")] for ln in lines]
        names, body = cells[0], cells[2:]
        out[title] = {n: [row[i] for row in body] for i, n in enumerate(names)}
    return out
