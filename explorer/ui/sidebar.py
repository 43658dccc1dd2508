"""The sidebar every page shares: data, instrument, tempo, audio status.

The main choices live in ``st.session_state`` (they survive page switches)
and in the URL (``st.query_params``) so a view can be shared and reloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pretty_midi
import streamlit as st

from explorer.audio import audio_status
from explorer.data.dataset import SegmentDataset
from explorer.data.tune import SkipTune

DATA_CHOICES = {"default": "Embedded default (music21 corpus)", "folder": "A folder of MIDI files",
                "upload": "Upload a MIDI file", "store": "A store (folder from `explorer data build --out STORE`)"}
#: Segments of a store the pages other than the Latent map get (a fixed random sample).
STORE_SAMPLE = 10_000
INSTRUMENTS = {p: pretty_midi.program_to_instrument_name(p) for p in (0, 4, 11, 24, 40, 56, 65, 71, 73, 80)}


@dataclass
class Settings:
    """What the sidebar chose: a dataset (or None with ``error``), audio settings."""

    dataset: SegmentDataset | None
    data_label: str
    program: int
    qpm: float | None
    audio: bool
    error: str | None = None
    info: dict | None = None
    model: object | None = None  # a TrainedModel
    model_label: str = ""
    model_error: str | None = None
    store: object | None = None  # an explorer.data.store.Store when the data is a store


def _param(name, default, cast=str):
    try:
        return cast(st.query_params.get(name, default))
    except (TypeError, ValueError):
        return default


def keep_across_pages(*keys: str):
    """Carry the values of the widgets with these keys over to the page being drawn.

    A widget's id includes its page, so on a page switch Streamlit drops the old
    page's widget values and the same widget on the new page starts at its
    default; writing a value back as plain session state keeps it.
    """
    for k in keys:
        if k in st.session_state:
            st.session_state[k] = st.session_state[k]


def _page_id() -> str:
    """The page being run (its script hash; "" outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return getattr(ctx, "page_script_hash", "") or ""


def kept_upload(up, key: str, where=None) -> tuple[str, bytes] | None:
    """(name, bytes) of the file in uploader ``key``, kept for the session.

    A page change drops the uploader's file (a widget's id holds its page), so the last upload
    is used again on every page — with a line saying so and a button to forget it — until the
    user removes it from the uploader that shows it, or uploads another."""
    ss = st.session_state
    page = _page_id()
    if up is not None:
        data = up.getvalue()
        ss[f"{key}_kept"] = (up.name, data, page, True)
        return up.name, data
    if f"{key}_kept" not in ss:
        return None
    name, data, shown_on, shown = ss[f"{key}_kept"]
    if shown and shown_on == page:  # the user removed it from the uploader that showed it
        del ss[f"{key}_kept"]
        return None
    ss[f"{key}_kept"] = (name, data, page, False)
    where = where or st
    where.caption(f"Using **{name}**, uploaded earlier in this session; upload another file to replace it.")
    where.button(f"Forget {name}", key=f"{key}_forget", on_click=ss.pop, args=(f"{key}_kept", None))
    return name, data


def init_state():
    """Seed session state from the URL once per session."""
    if "data_kind" not in st.session_state:
        kind = _param("data", "default")
        st.session_state.data_kind = kind if kind in DATA_CHOICES and kind != "upload" else "default"
        st.session_state.folder = _param("folder", "")
        st.session_state.store_path = _param("store", "")
        st.session_state.program = _param("program", 0, int) if _param("program", 0, int) in INSTRUMENTS else 0
        st.session_state.qpm = min(max(_param("qpm", 0.0, float), 0.0), 240.0)
    keep_across_pages("data_kind", "folder", "store_path", "program", "qpm", "upload_track")


def _no_segment_message(folder: str, info: dict, bars: int = 2) -> str:
    """Why a folder gave no segment, in words (not a dict repr)."""
    if not info.get("items"):
        return f"No MIDI files (.mid, .midi) in {folder}."
    why = ", ".join(f"{n} × {reason}" for reason, n in (info.get("skipped") or {}).items())
    return f"No usable {bars}-bar segment in {folder}" + (f" (skipped: {why})." if why else ".")


def sidebar_ui(with_model: bool = True) -> Settings:
    init_state()
    sb = st.sidebar
    model = label = model_error = None
    if with_model:
        from explorer.device import describe_device
        from explorer.ui.model_picker import model_picker_ui

        sb.header("Model")
        model, label, model_error, hint = model_picker_ui(sb)
        if model_error:
            sb.error(model_error)
        elif hint:
            sb.info(hint)
        sb.caption(f"Inference on {describe_device()}")
    sb.header("Data")
    kind = sb.radio("Melodies from", list(DATA_CHOICES), format_func=DATA_CHOICES.get, key="data_kind")
    program = sb.selectbox("Instrument", list(INSTRUMENTS), format_func=lambda p: f"{p}: {INSTRUMENTS[p]}",
                           key="program")
    qpm = sb.number_input("Tempo (quarter notes per minute, 0 = the melody's own)", min_value=0.0, max_value=240.0,
                          step=5.0, format="%.0f", key="qpm")
    ok, msg = audio_status()
    if not ok:
        sb.warning(f"Audio is off: {msg}")
    settings = Settings(None, DATA_CHOICES[kind], int(program), float(qpm) or None, ok, model=model,
                        model_label=label or "", model_error=model_error)
    bars = model.n_steps // 16 if model is not None else 2  # segments as long as the model reads
    kept = None
    try:
        if kind == "default":
            from explorer.ui.resources import default_dataset

            settings.dataset = default_dataset(bars)
            settings.data_label = settings.dataset.meta.get("name", DATA_CHOICES[kind])
        elif kind == "folder":
            from explorer.data.midi_files import folder_roots

            roots = folder_roots()
            folder = sb.text_input("Folder with .mid files", key="folder",
                                   help="A folder inside one of the folders this app may read: "
                                        + (", ".join(str(r) for r in roots) or "none (the folder source is off)")
                                        + "; a relative path is read inside them.")
            if folder.strip():
                from explorer.ui.resources import folder_dataset

                settings.dataset, settings.info = folder_dataset(folder.strip(), bars=bars)
                settings.data_label = f"folder {folder.strip()}"
                if len(settings.dataset) == 0:
                    settings.error = _no_segment_message(folder.strip(), settings.info, bars)
                    settings.dataset = None
            else:
                settings.error = "Type the path of a folder that holds MIDI files."
        elif kind == "store":
            _store_ui(sb, settings)
        else:
            from explorer.limits import limit

            up = sb.file_uploader("MIDI file", type=["mid", "midi"], key="upload",
                                  help=f"At most {limit('midi_mb'):g} MB and {limit('notes'):,.0f} notes; of a longer "
                                       f"file the first {limit('bars'):,.0f} bars are read.")
            track = sb.text_input("Melody track (index or name; empty = automatic)", key="upload_track")
            kept = kept_upload(up, "upload", sb)
            if kept is not None:
                from explorer.ui.resources import upload_dataset, upload_note

                name, data = kept
                settings.dataset, settings.info = upload_dataset(data, name, track.strip() or None, bars)
                settings.data_label = f"upload {name}"
                if upload_note(settings.info):
                    sb.info(upload_note(settings.info))
            else:
                settings.error = "Upload a MIDI file (.mid) in the sidebar."
    except SkipTune as exc:
        from explorer.data.upload import accepted

        name = kept[0] if kept is not None else "This file"
        settings.error = f"{name} cannot be used: {exc.reason}" + (f" ({exc.detail})" if exc.detail else "") + \
            f". Accepted: {accepted()}."
        settings.dataset = None
    except (OSError, ValueError) as exc:  # FileNotFoundError, FolderNotAllowed (a PermissionError), …
        settings.error = str(exc) if not isinstance(exc, OSError) or exc.filename is None else \
            f"{Path(exc.filename).name}: {exc.strerror}"
        settings.dataset = None
    st.query_params["data"] = kind
    st.query_params["program"] = str(int(program))
    if qpm:
        st.query_params["qpm"] = f"{qpm:g}"
    elif "qpm" in st.query_params:
        del st.query_params["qpm"]
    if kind == "folder" and st.session_state.get("folder"):
        st.query_params["folder"] = st.session_state.folder
    if kind == "store" and st.session_state.get("store_path"):
        st.query_params["store"] = st.session_state.store_path
    return settings


def _store_ui(sb, settings: Settings):
    """Open the store the user names (inside the folders the app may read): ``settings.store`` is it, and
    ``settings.dataset`` a fixed random sample of at most :data:`STORE_SAMPLE` of its segments (the pages
    other than the Latent map hold a dataset in memory). Raises StoreError (a ValueError) for a folder
    that is not a readable store, FolderNotAllowed / FileNotFoundError for a path outside or missing."""
    from explorer.data.midi_files import folder_roots

    roots = folder_roots()
    path = sb.text_input("Store folder", key="store_path",
                         help="A folder written by `explorer data build … --out STORE` inside one of the folders "
                              "this app may read: " + (", ".join(str(r) for r in roots) or "none")
                              + "; a relative path is read inside them.")
    if not path.strip():
        settings.error = "Type the path of a store folder (written by `explorer data build … --out STORE`)."
        return
    from explorer.ui.resources import store_resource, store_sample

    store = store_resource(path.strip())
    if len(store) == 0:
        settings.error = f"The store {store.path.name} holds no segments."
        return
    settings.store = store
    settings.dataset = store_sample(store, STORE_SAMPLE)
    settings.data_label = f"store {store.path.name}"
    if len(store) > len(settings.dataset):
        sb.caption(f"{len(store):,} segments. The Latent map shows them all; the other pages use a fixed random "
                   f"sample of {len(settings.dataset):,}.")
    else:
        sb.caption(f"{len(store):,} segments.")

