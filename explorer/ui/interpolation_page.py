"""Page: an interpolation timeline from melody A to melody B, and a 4-corner
palette (A, B, C, D) to pick cells and paths from.

State: the choices live in session state, with a plain copy because a
widget's value is dropped while another page is shown, and the main ones in
the URL (``steps``, ``interp``, ``group``, ``grid``; the melodies as ``a``,
``b``, ``c``, ``d`` segment rows). Decodes are cached per model and melodies.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.latent.palette import GRID_SIZES, cell_labels, palette
from explorer.music.attributes import ATTRIBUTES, LABELS, compute
from explorer.models.trained import INTERPOLATIONS
from explorer.music.melody import STEPS_PER_BAR, Melody
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.keys import model_key
from explorer.ui.player import melody_clips, play_sequence_ui, play_ui
from explorer.ui.segment_picker import start_picker_at
from explorer.ui.sidebar import sidebar_ui
from explorer.viz.interpolation import attribute_path_figure, palette_figure
from explorer.viz.pianoroll import pianoroll_figure

ALL_GROUPS = "all"
_SAVED = "ip_saved"
DEFAULTS = {"ip_steps": 8, "ip_method": "slerp", "ip_group": ALL_GROUPS, "ip_gap": False,
            "ip_attrs": ["note_density", "pitch_range", "mean_pitch"], "ip_grid": 4, "ip_colour": "note_density",
            "ip_live": False}
# URL parameter → (widget key, accepted values)
URL_PARAMS = {"steps": ("ip_steps", range(2, 17)), "interp": ("ip_method", INTERPOLATIONS),
              "group": ("ip_group", None), "grid": ("ip_grid", GRID_SIZES)}
# where B, C and D start in the data (fractions of its rows), so the four corners differ
DEFAULT_ROWS = {"b": 1 / 3, "c": 1 / 2, "d": 2 / 3}


# ---- cached work ----------------------------------------------------------------------
def _arrays(m: Melody) -> tuple:
    return m.tokens, m.chroma, float(m.qpm)


@st.cache_data(show_spinner="Decoding the interpolation…", max_entries=32)
def _interpolate(model: str, a: tuple, b: tuple, steps: int, method: str, group: str, _tm) -> list:
    groups = None if group == ALL_GROUPS else group
    return _tm.interpolate(Melody(*a), Melody(*b), steps=steps, method=method, groups=groups)


@st.cache_data(show_spinner="Decoding the palette…", max_entries=16)
def _palette(model: str, corners: tuple, n: int, _tm) -> list:
    return palette(_tm, [Melody(*c) for c in corners], n)


@st.cache_data(show_spinner=False, max_entries=8)
def _palette_clips(model: str, corners: tuple, n: int, program: int, qpm: float | None, _cells) -> tuple:
    """(FLAC clips, notes) of the palette's cells, cached by what decoded them."""
    return melody_clips(_cells, program, qpm)


# ---- state ----------------------------------------------------------------------------
def init_state(groups: list[str], ds):
    """Widgets from the URL on the first visit, else their last values; B, C and D
    start on other segments of the data than A."""
    ss = st.session_state
    saved = ss.setdefault(_SAVED, {})
    if "ip_url_read" not in ss:
        ss.ip_url_read = True
        problems = []
        for param, (key, accepted) in URL_PARAMS.items():
            raw = st.query_params.get(param)
            if raw is None:
                continue
            accepted = groups if accepted is None else accepted
            value = int(raw) if raw.isdigit() and key in ("ip_steps", "ip_grid") else raw
            if value in accepted:
                saved[key] = value
            else:
                problems.append(f"{param}={raw!r} (accepted: {', '.join(map(str, accepted))})")
        if problems:
            st.warning("Ignored in the URL: " + "; ".join(problems) + ".")
    for k, v in DEFAULTS.items():
        if k not in ss:
            ss[k] = saved.get(k, v)
    if "ip_cell" not in ss and "ip_cell" in saved:
        ss.ip_cell = saved["ip_cell"]
    if ss.ip_group not in groups:
        ss.ip_group = ALL_GROUPS
    for key, frac in DEFAULT_ROWS.items():
        start_picker_at(ds, key, frac)


def save_state(keys):
    ss = st.session_state
    ss[_SAVED].update({k: ss[k] for k in keys if k in ss})
    for param, (key, _) in URL_PARAMS.items():
        if key in ss:
            st.query_params[param] = str(ss[key])


# ---- audio -------------------------------------------------------------------------------
# ---- the page ------------------------------------------------------------------------------
def melody_pair_ui(settings, tm, labels: dict) -> tuple | None:
    """Two melody choosers side by side (``labels``: key → label); the two melodies,
    or None after saying why (nothing chosen yet, or not the model's length)."""
    cols = st.columns(2)
    mels = {}
    for col, (key, label) in zip(cols, labels.items()):
        with col:
            mels[label] = melody_source_ui(settings, key, label)
    if any(m is None for m in mels.values()):
        return None
    bad = [f"{label} has {m.n_steps}" for label, m in mels.items() if m.n_steps != tm.n_steps]
    if bad:
        st.error(f"{' and '.join(bad)} steps; this model reads melodies of {tm.n_steps} steps "
                 f"({tm.n_steps // STEPS_PER_BAR} 4/4 bars). Choose other melodies or another model.")
        return None
    return tuple(mels.values())


def _timeline_ui(tm, settings, a: Melody, b: Melody, groups: list[str]):
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    steps = c1.slider("Steps", 2, 16, key="ip_steps")
    method = c2.radio("Interpolation", INTERPOLATIONS, key="ip_method", horizontal=True)
    group = c3.radio("Latent group that moves", groups, key="ip_group", horizontal=True) if len(groups) > 1 \
        else ALL_GROUPS
    gap = c4.toggle("A bar of rest between steps", key="ip_gap")
    path = _interpolate(model_key(tm), _arrays(a), _arrays(b), int(steps), method, group, tm)
    labels = [str(k + 1) for k in range(steps)]
    labels[0], labels[-1] = "1 · A", f"{steps} · B"
    st.plotly_chart(pianoroll_figure(path, labels=labels, height=320), key="ip_roll", width="stretch")
    st.caption(f"{steps} steps from the reconstruction of A to that of B ({method} of the posterior means"
               + ("" if group == ALL_GROUPS else f"; only the {group} dims move, the rest stay A's") + ").")
    play_sequence_ui(path, settings, key="ip_timeline", name=f"interpolation_{steps}_steps_{method}",
                     gap_steps=STEPS_PER_BAR if gap else 0, main=True)
    names = st.multiselect("Attributes along the path", list(ATTRIBUTES), format_func=LABELS.get, key="ip_attrs")
    if names:
        attrs = compute(np.stack([m.tokens for m in path]), tuple(names))
        ends = {n: (float(compute(a.tokens, (n,))[n]), float(compute(b.tokens, (n,))[n])) for n in names}
        st.plotly_chart(attribute_path_figure(attrs, names, ends), key="ip_attr_fig", width="stretch")
        st.caption("Lines: the decoded steps. Open circles: the input melodies A and B.")
    with st.expander("Each step alone"):
        for k, m in enumerate(path):
            st.markdown(f"**Step {labels[k]}**")
            play_ui(m, settings, key=f"ip_step{k}", name=f"step_{k + 1}_of_{steps}", roll=False)


def _pick_from_figure(event, labels):
    """A click on a palette cell selects it (once per click, so the box can change it afterwards)."""
    points = (event or {}).get("selection", {}).get("points", [])
    picked = tuple(p.get("customdata") for p in points if p.get("customdata") in labels)
    if picked and picked != st.session_state.get("ip_fig_seen"):
        st.session_state.ip_cell = picked[-1]
    st.session_state.ip_fig_seen = picked


def _take_cell(key: str, labels: list):
    """The live palette was released on a cell: the cell selector takes it (before the page runs)."""
    from explorer.ui.clip_player import released_index

    k = released_index(key)
    if k is not None and 0 <= k < len(labels):
        st.session_state.ip_cell = labels[k]


def _live_palette_ui(tm, settings, corners: tuple, cells: list, labels: list, values, colour_label: str):
    """The palette's cells rendered at once and played in the browser (no rerun while the pointer moves)."""
    from explorer.ui.clip_player import palette_player

    n = int(round(len(cells) ** 0.5))
    with st.spinner(f"Rendering the {len(cells)} cells…"):
        flacs, notes = _palette_clips(model_key(tm), corners, n, settings.program, settings.qpm, cells)
    values = np.asarray(values, float)
    span = float(values.max() - values.min())
    shade = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    palette_player(flacs, notes, labels, n, labels.index(st.session_state.ip_cell), key="ip_live_palette",
                   shade=shade, on_change=_take_cell, args=("ip_live_palette", labels))
    st.caption(f"Press a cell (or ▶ Play), then move over the grid: each cell plays as the pointer reaches it, in "
               f"your browser. Letting go (or Enter) selects the cell; ←/→/↑/↓ move, space plays and stops. "
               f"Darker cells: more {colour_label.lower()} ({values.min():.2f} to {values.max():.2f}).")


def _palette_ui(tm, settings, a: Melody, b: Melody):
    st.header("4-corner palette")
    st.caption("Four corners — A top left, B top right, C bottom left, D bottom right — and the melodies "
               "in between, decoded from the bilinear blend of the corners' posterior means.")
    pair = melody_pair_ui(settings, tm, {"c": "Corner C (bottom left)", "d": "Corner D (bottom right)"})
    if pair is None:
        return
    c, d = pair
    g1, g2, g3 = st.columns([2, 2, 1])
    n = g1.select_slider("Grid size (cells a side)", GRID_SIZES, key="ip_grid")
    colour = g2.selectbox("Colour cells by", list(ATTRIBUTES), format_func=LABELS.get, key="ip_colour")
    live = g3.toggle("Live palette", key="ip_live", disabled=not settings.audio,
                     help="Render every cell and play them in your browser: the pointer over a cell plays it, "
                          "with no round trip to the server." + ("" if settings.audio else " Needs audio."))
    corners = tuple(_arrays(m) for m in (a, b, c, d))
    cells = _palette(model_key(tm), corners, int(n), tm)
    labels = cell_labels(n)
    if st.session_state.get("ip_cell") not in labels:
        st.session_state.ip_cell = labels[n + 1]  # a cell inside the grid
    values = compute(np.stack([m.tokens for m in cells]), (colour,))[colour]
    if live and settings.audio:
        _live_palette_ui(tm, settings, corners, cells, labels, values, LABELS[colour].split(" (")[0])
    else:
        event = st.plotly_chart(palette_figure(cells, n, labels, values, LABELS[colour].split(" (")[0]),
                                key="ip_palette_fig", width="content", on_select="rerun", selection_mode="points")
        _pick_from_figure(event, labels)
    left, right = st.columns(2)
    with left:
        cell = st.selectbox("Cell (or click one)", labels, key="ip_cell")
        k = labels.index(cell)
        play_ui(cells[k], settings, key="ip_cell_play", name=f"palette_{n}x{n}_{cell.replace('·', '-')}",
                title=f"cell {cell}")
    with right:
        diagonal = [labels[i * n + i] for i in range(n)]
        if "ip_path" not in st.session_state or any(p not in labels for p in st.session_state.ip_path):
            st.session_state.ip_path = st.session_state[_SAVED].get(f"ip_path{n}", diagonal)
        chosen = st.multiselect("Path of cells, in order", labels, key="ip_path")
        st.session_state[_SAVED][f"ip_path{n}"] = list(chosen)
        if chosen:
            mels = [cells[labels.index(p)] for p in chosen]
            st.plotly_chart(pianoroll_figure(mels, labels=list(chosen), height=260), key="ip_path_roll",
                            width="stretch")
            play_sequence_ui(mels, settings, key="ip_path_play", name=f"palette_path_{len(chosen)}_cells")
        else:
            st.info("Pick cells to hear them in sequence.")


def interpolation_page():
    st.title("Interpolation")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None:
        st.info("Choose a model in the sidebar (**Model**) to interpolate between melodies.")
        return
    groups = [ALL_GROUPS, *tm.layout.groups]
    init_state(groups, settings.dataset)
    pair = melody_pair_ui(settings, tm, {"a": "Melody A", "b": "Melody B"})
    if pair is None:
        return
    a, b = pair
    st.header("Timeline A → B")
    _timeline_ui(tm, settings, a, b, groups)
    _palette_ui(tm, settings, a, b)
    save_state([*DEFAULTS, "ip_cell"])
