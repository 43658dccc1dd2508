"""Page: one score played in many styles by the performance-style CVAE (VirtuosoNet-like).

A score (the embedded music21 defaults, a score from the data folder, or an upload), a style
(sampled, encoded from a reference, an emotion preset, or between two styles), then the tempo
curve and velocities against deadpan, a piano roll, audio and downloads, and the map of the
known performances' styles (click one to hear it and use its style).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import streamlit as st

from explorer.audio import audio_status
from explorer.data.default import DEFAULT_SCORES, default_score_notes
from explorer.data.performance_features import score_from_upload
from explorer.data.performances import ACCEPTED_SCORES, PerformanceDataError, default_data_root
from explorer.limits import limit, mb
from explorer.models.card_names import full_name
from explorer.models.checkpoint import CheckpointError, available_checkpoints
from explorer.models.performance_style import STYLE_MODES, ScoreTooLong, check_length
from explorer.ui.player import play_midi_ui
from explorer.ui.plot_events import clicked_rows
from explorer.ui.sidebar import keep_across_pages
from explorer.viz.performance import curves_figure, roll_figure, style_map_figure

SCORE_KINDS = {"default": "Embedded default (music21 corpus)", "data": "A score from the data folder",
               "upload": "Upload MusicXML or MIDI"}
LABEL_KEYS = ("pianist", "emotion", "piece", "source")
MAP_KEY = "perf_map"
#: the emotion set's labels (its README: "5 intended emotions (Anger, Enjoy, OR = ordinary, Relax, Sad)") in words
EMOTION_WORDS = {"Enjoy": "joyful", "OR": "ordinary: played as usual, no emotion asked for"}


@st.cache_resource(show_spinner="Loading the performance model…", max_entries=3)
def load_performance_model(path: str, mtime: float):
    from explorer.models.performance_style import PerformanceStyle

    return PerformanceStyle.load(path)


@st.cache_data(show_spinner="Reading the score…", max_entries=16)
def _default_score(name: str):
    return default_score_notes(name)


@st.cache_data(show_spinner="Reading the score…", max_entries=8)
def _uploaded_score(data: bytes, name: str):
    return score_from_upload(data, name)


@st.cache_data(show_spinner=False)
def _data_records(root: str):
    from explorer.data.performances import list_performances

    try:
        return list_performances(root)
    except FileNotFoundError:
        return []


@st.cache_data(show_spinner="Reading the score from the data…", max_entries=8)
def _data_score(root: str, piece: str):
    from explorer.data.performances import piece_score, score_notes

    rec = next(r for r in _data_records(root) if r.piece == piece)
    return score_notes(piece_score(rec))


@st.cache_data(show_spinner="Reading and aligning the performance…", max_entries=8)
def _data_performance_midi(root: str, path_name: str) -> bytes | None:
    """The performance as its alignment holds it (codec round trip), or None when the data lacks it."""
    from explorer.data.performances import decode_targets, load_example, performed_to_midi
    from explorer.music.convert import midi_to_bytes

    rec = next((r for r in _data_records(root) if r.path.name == path_name), None)
    if rec is None:
        return None
    ex = load_example(rec)
    return midi_to_bytes(performed_to_midi(decode_targets(ex.score, ex.targets)))


@st.cache_data(show_spinner="Encoding the reference performance…", max_entries=8)
def _uploaded_style(_ps, model_key: str, score_key: str, _notes, data: bytes, name: str):
    from explorer.data.performances import targets_from_midi

    if len(data) > mb("midi_mb"):
        raise PerformanceDataError(f"{name} is {len(data) / 2**20:.1f} MB; performances are read up to "
                                   f"{limit('midi_mb'):g} MB (LATENT_EXPLORER_MAX_MIDI_MB)")
    with tempfile.TemporaryDirectory(prefix="latent-explorer-perf-") as tmp:
        path = Path(tmp) / (Path(name).name.strip(".") or "performance.mid")
        path.write_bytes(data)
        sub, targets = targets_from_midi(_notes, path)
    return _ps.encode(sub, targets)


@st.cache_data(show_spinner="Rendering the performance…", max_entries=32)
def _render(_ps, model_key: str, score_key: str, _notes, z: tuple):
    r = _ps.render(_notes, np.asarray(z, np.float32))
    return r, _ps.deadpan(_notes, like=r), r.to_midi_bytes()


def _data_root() -> str | None:
    root = default_data_root()
    return str(root) if _data_records(str(root)) else None


# ---- widgets ------------------------------------------------------------------------------
def _model_ui():
    ckpts = available_checkpoints("performance")
    if not ckpts:
        st.error("No performance-style checkpoint: none in assets/performance/ or $LATENT_EXPLORER_PERFORMANCE_MODELS. "
                 "Train one with `explorer train performance --data ../shared/data --out runs/perf`.")
        return None, ""
    name = st.sidebar.selectbox("Performance model", list(ckpts), key="perf_model")
    try:
        ps = load_performance_model(str(ckpts[name]), ckpts[name].stat().st_mtime)
    except CheckpointError as exc:
        st.error(f"This checkpoint cannot be used: {exc}")
        return None, ""
    if ps.card.get("model"):
        st.sidebar.caption(f"**{full_name(ps.card)}** ({name})")
    return ps, name


def _score_ui(root):
    """(ScoreNotes, key, title) of the chosen score, or None after a message."""
    kinds = [k for k in SCORE_KINDS if k != "data" or root]
    kind = st.radio("Score", kinds, format_func=SCORE_KINDS.get, key="perf_score_kind", horizontal=True)
    try:
        if kind == "default":
            name = st.selectbox("Default score", list(DEFAULT_SCORES), key="perf_default")
            notes, key = _default_score(name), f"default:{name}"
        elif kind == "data":
            pieces = sorted({r.piece for r in _data_records(root)})
            name = st.selectbox("Piece", pieces, key="perf_piece")
            notes, key = _data_score(root, name), f"data:{name}"
        else:
            up = st.file_uploader("Score file", type=["musicxml", "xml", "mxl", "mid", "midi"], key="perf_upload",
                                  help=f"MIDI up to {limit('midi_mb'):g} MB, MusicXML up to {limit('score_mb'):g} MB")
            if up is None:
                st.info(f"Upload a score: {ACCEPTED_SCORES}.")
                return None
            data = up.getvalue()
            name, key = up.name, f"upload:{hashlib.sha1(data).hexdigest()[:16]}"
            notes, note = _uploaded_score(data, up.name)
            if note:
                st.info(note)
    except PerformanceDataError as exc:
        st.error(f"This score cannot be used: {exc}")
        return None
    try:
        return check_length(notes), key, name
    except ScoreTooLong as exc:
        st.warning(f"{exc}. Choose how many measures to render:")
        n = st.number_input("Measures", 1, exc.n_measures, exc.fits, key=f"perf_measures_{key}")
        try:
            return check_length(notes.first_measures(int(n))), f"{key}|{int(n)}", f"{name} (measures 1–{int(n)})"
        except ScoreTooLong as again:
            st.error(f"{again}.")
            return None


def _named_styles(ps) -> dict[str, np.ndarray]:
    """Emotion presets, then every known performance, by display name."""
    out = {f"emotion: {k}": v for k, v in ps.emotion_presets().items()}
    out |= {f"performance: {lab['name']}": ps.style_z[i] for i, lab in enumerate(ps.style_labels)}
    return out


def _style_ui(ps, model_key, score):
    """(z, label) of the chosen style, or None after a message."""
    for k, v in {"perf_temp": 1.0, "perf_seed": 0, "perf_a": "sample seed 0", "perf_b": "sample seed 1",
                 "perf_t": 0.5}.items():
        st.session_state.setdefault(k, v)  # seeded once: a widget given a default and a state value warns
    keep_across_pages("perf_mode", "perf_temp", "perf_seed", "perf_emotion", "perf_ref", "perf_ref_src", "perf_a", "perf_b",
                       "perf_t")
    mode = st.radio("Style", list(STYLE_MODES), format_func=STYLE_MODES.get, key="perf_mode", horizontal=True)
    named = _named_styles(ps)
    if mode == "sample":
        c1, c2 = st.columns(2)
        temp = c1.slider("Temperature", 0.0, 2.0, step=0.1, key="perf_temp")
        seed = int(c2.number_input("Seed", 0, 10_000, key="perf_seed"))
        return ps.sample(temp, seed), f"sample seed {seed} T{temp:g}"
    if mode == "emotion":
        presets = ps.emotion_presets()
        if not presets:
            st.error("This checkpoint holds no emotion-labelled styles; pick another style.")
            return None
        emo = st.selectbox("Emotion", list(presets), key="perf_emotion", format_func=_emotion_label)
        st.caption(_emotion_note(ps))
        return presets[emo], f"emotion {emo}"
    if mode == "reference":
        source = st.radio("Reference", ("known", "upload"), key="perf_ref_src", horizontal=True,
                          format_func={"known": "A known performance", "upload": "Upload a performance MIDI"}.get)
        if source == "known":
            choice = st.selectbox("Reference performance", [k for k in named if k.startswith("performance: ")],
                                  key="perf_ref")
            return named[choice], choice.split(": ", 1)[1]
        up = st.file_uploader("Performance MIDI", type=["mid", "midi"], key="perf_ref_upload")
        if up is None:
            st.info("Upload a MIDI performance of the chosen score; its notes are aligned to the score and encoded.")
            return None
        try:
            return _uploaded_style(ps, model_key, score[1], score[0], up.getvalue(), up.name), f"style of {up.name}"
        except PerformanceDataError as exc:
            st.error(f"{exc}.")
            return None
    options = [f"sample seed {s}" for s in range(3)] + list(named)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Style A", options, key="perf_a")
    b = c2.selectbox("Style B", options, key="perf_b")
    t = st.slider("From A to B", 0.0, 1.0, step=0.05, key="perf_t")
    za, zb = (named[x] if x in named else ps.sample(1.0, int(x.rsplit(" ", 1)[1])) for x in (a, b))
    return ps.interpolate(za, zb, t), f"{t:.2f} between {a} and {b}"


def _emotion_label(emotion: str) -> str:
    """``"OR (ordinary: …)"``: the emotion set's label and what the players were asked for."""
    return f"{emotion} ({EMOTION_WORDS[emotion]})" if emotion in EMOTION_WORDS else emotion or "none (not the emotion set)"


def _emotion_note(ps) -> str:
    """What an emotion preset is, in words, from the model's style table."""
    rows = [lab for lab in ps.style_labels if lab.get("emotion")]
    pieces = sorted({lab.get("piece", "") for lab in rows})
    return (f"A preset is the mean style of the {len(rows)} performances in the model's table whose players were "
            f"asked to play with that emotion ({len(pieces)} pieces: {', '.join(pieces)}; each player played their "
            "piece once with each emotion): Anger, Enjoy (joy), Relax, Sad, and OR, their ordinary reading, "
            "the reference the others differ from.")


def _legend_label(lab: dict, key: str) -> str:
    """A style-table label as the map's legend shows it: a pianist id made of a piece and a player
    number (the emotion set names no players, and one player's number on another piece may be
    someone else) becomes one entry for those players; emotions in words."""
    value = str(lab.get(key) or "")
    if key == "pianist" and lab.get("piece") and value.startswith(f"{lab['piece']}:"):
        return f"{lab.get('source') or 'unnamed'} set (players not named)"
    if key == "emotion":
        return _emotion_label(value)
    return value


def _map_view(ps, key: str) -> SimpleNamespace:
    """The style table with legend-ready labels under ``key`` (the rest as stored: hover names, rows)."""
    return SimpleNamespace(style_z=ps.style_z, style_labels=[{**lab, key: _legend_label(lab, key)}
                                                             for lab in ps.style_labels])


def _clicked_row(ps):
    rows = clicked_rows(st.session_state.get(MAP_KEY))
    return rows[-1] if rows and 0 <= rows[-1] < len(ps.style_labels) else None


def _use_style(name: str):
    # a callback: it runs before the widgets of the next run exist, so it may set their values
    st.session_state.perf_mode, st.session_state.perf_ref = "reference", f"performance: {name}"
    st.session_state.perf_ref_src = "known"


def _map_ui(ps, z, root, settings):
    st.subheader("The map of styles")
    if not len(ps.style_labels):
        st.info("This checkpoint holds no style table (ship it with `explorer eval … --ship`).")
        return
    colour = st.radio("Colour by", LABEL_KEYS, key="perf_colour", horizontal=True)
    st.plotly_chart(style_map_figure(_map_view(ps, colour), colour, z), key=MAP_KEY, on_select="rerun",
                    selection_mode="points")
    row = _clicked_row(ps)
    if row is None:
        st.caption("Click a performance to hear it and to use its style.")
        return
    lab = ps.style_labels[row]
    st.markdown(f"**{lab['name']}** ({lab['source']}, {lab['split']} split)")
    st.button("Use this style", key="perf_use", on_click=_use_style, args=(lab["name"],))
    midi = _data_performance_midi(root, lab["path"]) if root else None
    if midi is not None:
        play_midi_ui(midi, settings, key="perf_orig", name=lab["name"])
    else:
        st.caption("This performance is not in the data folder here, so it cannot be played; "
                   "use its style to hear the chosen score played like it.")


def performance_page():
    st.title("Performance style")
    st.caption("A VirtuosoNet-like conditional VAE reads a score and renders an expressive performance; "
               "the style vector z decides how. Trained on Vienna 4x22, Batik plays Mozart and the emotion set.")
    ps, model_key = _model_ui()
    if ps is None:
        return
    settings = SimpleNamespace(audio=audio_status()[0])
    root = _data_root()
    keep_across_pages("perf_score_kind", "perf_default", "perf_piece", "perf_colour")
    score = _score_ui(root)
    if score is None:
        return
    notes, score_key, title = score
    style = _style_ui(ps, model_key, score)
    if style is None:
        return
    z, label = style
    r, dead, midi = _render(ps, model_key, score_key, notes, tuple(float(v) for v in z))
    st.subheader(f"{title} — {label}")
    st.caption(f"{len(notes)} notes, {notes.n_measures} measures, {r.seconds:.1f} s")
    play_midi_ui(midi, settings, key="perf_play", name=f"{title} {label}")
    st.plotly_chart(curves_figure(r, dead), key="perf_curves")
    st.plotly_chart(roll_figure(r.notes), key="perf_roll")
    _map_ui(ps, z, root, settings)
