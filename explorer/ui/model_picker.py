"""The sidebar's model picker: shipped checkpoints, or the user's own file."""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from explorer.limits import LimitError
from explorer.models.card import missed_targets
from explorer.models.card_names import WEAK_SHORTFALL, full_name, short_names, standing
from explorer.models.checkpoint import CheckpointError, available_checkpoints, read_metadata
from explorer.ui.resources import save_checkpoint_upload
from explorer.ui.sidebar import kept_upload

UPLOAD = "(upload my own checkpoint)"
HELP = ("Models by family and the music they learned from; the line below names the loaded one in full. "
        "⚠: misses a target of its card, on its own test split or on music it never saw. "
        f"⚠ weak: a figure of its own test split {WEAK_SHORTFALL:.0%} or more below its target. "
        "The Model report lists every figure against its target.")


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def load_model(path: str, mtime: float):
    from explorer.models.trained import TrainedModel

    return TrainedModel.load(path)


@st.cache_data(show_spinner=False, max_entries=64)
def card_of(path: str, mtime: float) -> dict:
    """A checkpoint's card, read from its metadata (no weights loaded); {} when unreadable."""
    try:
        return read_metadata(path).get("card", {})
    except CheckpointError:
        return {}


@st.cache_data(show_spinner=False, max_entries=64)
def missed_targets_of(path: str, mtime: float) -> list[str]:
    """The targets a checkpoint's card misses (``card.missed_targets`` lines)."""
    return missed_targets(card_of(path, mtime))


def _labels(ckpts: dict) -> dict[str, str]:
    """checkpoint name → what the picker shows: a short name from the card that fits the sidebar
    (the full one is in the caption below it) and the card's badge (⚠ weak / ⚠); the file's
    name for a checkpoint without a readable card."""
    cards = {n: card_of(str(p), p.stat().st_mtime) for n, p in ckpts.items()}
    short = short_names({n: c for n, c in cards.items() if c.get("model")})
    return {n: " ".join(filter(None, (short[n], standing(cards[n]).badge))) if n in short else n for n in ckpts}


def _describe(sb, name: str, card: dict):
    """The loaded model's full name and standing under the picker, in words that wrap."""
    if not card.get("model"):
        return
    s = standing(card)
    sb.caption(f"**{full_name(card)}** ({name}): {s.sentence()}."
               + (" The Model report has every figure." if s.badge else ""))


def _load(path: Path):
    return load_model(str(path), path.stat().st_mtime)


def model_picker_ui(sb=None):
    """(TrainedModel or None, label, error message or None, hint or None). The
    choice is kept in session state and in the URL (``model=<name>``)."""
    sb = sb or st.sidebar
    ckpts = available_checkpoints()
    names = list(ckpts) + [UPLOAD]
    if "model_name" not in st.session_state:
        wanted = st.query_params.get("model")
        st.session_state.model_name = wanted if wanted in ckpts else (names[0] if ckpts else UPLOAD)
    elif st.session_state.model_name not in names:
        st.session_state.model_name = names[0]
    st.session_state.model_name = st.session_state.model_name  # keep across pages
    labels = _labels(ckpts)
    name = sb.selectbox("Model", names, key="model_name", format_func=lambda n: labels.get(n, n), help=HELP)
    if name != UPLOAD:
        st.query_params["model"] = name
        try:
            tm = _load(ckpts[name])
        except CheckpointError as exc:
            return None, name, str(exc), None
        _describe(sb, name, tm.card)
        return tm, name, None, None
    up = sb.file_uploader("Checkpoint (.safetensors from `explorer train`)", type=["safetensors"], key="model_upload")
    kept = kept_upload(up, "model_upload", sb)  # kept across pages
    if kept is None:
        return None, UPLOAD, None, "Upload a checkpoint file (.safetensors) written by `explorer train` or `explorer ship`."
    name, data = kept
    digest = hashlib.sha256(data).hexdigest()
    saved = st.session_state.get("model_upload_saved")
    if saved is not None and saved[0] == digest and Path(saved[1]).exists():
        path = Path(saved[1])  # the same upload on a rerun: written and checked once
    else:
        try:
            path = save_checkpoint_upload(data, name)  # this session's own folder, never through a link
        except LimitError as exc:
            return None, name, str(exc), None
        st.session_state.model_upload_saved = (digest, str(path))
        st.session_state.model_upload_family = _not_a_melody_model(path)
    other = st.session_state.get("model_upload_family")
    if other:
        return None, name, f"{name} is a {other}", None
    try:
        tm = _load(path)
    except CheckpointError as exc:
        return None, name, f"{exc}. Accepted: a .safetensors checkpoint written by `explorer train`/`explorer ship`.", None
    _describe(sb, name, tm.card)
    return tm, name, None, None


def _not_a_melody_model(path) -> str | None:
    """Why the checkpoint at ``path`` cannot drive the melody pages (a family that eats other
    data, such as MIDI-VAE's multi-track bars: it has a page of its own), else None."""
    from explorer.models.checkpoint import checkpoint_model
    from explorer.models.registry import SPECS
    from explorer.ui.page_table import PAGES

    model = checkpoint_model(path)
    spec = next((s for s in SPECS.values() if s.model.name == model), None)
    if spec is None or spec.data in ("2-bar melody", "16-bar melody"):
        return None
    titles = [p.title for p in PAGES if p.url in spec.pages]
    return (f"{spec.name} checkpoint ({spec.data} data), not a melody model: open it on the "
            f"{' / '.join(titles) or 'its own'} page.")
