"""Page: Concept (ExtRes). Melody A, then one of three views:

- **Variations & transfer**: A's concept y = f(x) decoded with N residuals z_r from the prior (N
  melodies that share the concept), and the concept of melody B with A's residual;
- **Interpolation A → B**: move z_e only (the concept changes, A's residual stays) or z_r only (the
  residual changes, A's concept stays), a timeline of N steps with the concept of each;
- **Draw the concept**: edit y by clicking its grid (or typing it) and decode it with A's residual
  or a prior sample.

Every piano roll has the concept of its melody drawn above it. State: the choices in session state
and the URL (``view``, ``n``, ``seed``, ``isteps``, ``move``, ``interp``, ``residual``, ``rseed``,
``y`` the drawn concept); the melodies by the shared melody choosers. Decodes are cached per model,
melodies and choices. The latent operations are :mod:`explorer.latent.concept_ops`, the figures
:mod:`explorer.viz.concept`.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from explorer.latent.concept_ops import (PARTS, ConceptPath, concept_code, concept_codes, concept_from_code,
                                         concept_path, concept_problems, concept_text, decode_drawn, decode_with,
                                         parse_concept, prior_residuals)
from explorer.models.trained import INTERPOLATIONS
from explorer.music.concepts import ConceptError, get_concept
from explorer.music.melody import Melody
from explorer.ui.keys import model_key
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.player import play_sequence_ui, play_ui
from explorer.ui.segment_picker import start_picker_at
from explorer.ui.sidebar import keep_across_pages, sidebar_ui
from explorer.viz.concept import concept_grid_figure, concept_labels, concept_roll_figure

__all__ = ["concept_page", "concept_text"]

VIEWS = {"variations": "Variations & transfer", "interpolation": "Interpolation A → B", "draw": "Draw the concept"}
RESIDUALS = {"A": "A's residual", "prior": "a prior sample"}
MOVES = {"concept": "the concept (z_e): A's residual stays", "residual": "the residual (z_r): A's concept stays"}
DEFAULTS = {"cp_view": "variations", "cp_n": 4, "cp_seed": 0, "cp_isteps": 6, "cp_move": "concept",
            "cp_interp": "slerp", "cp_res": "A", "cp_rseed": 0}
URL_PARAMS = {"view": ("cp_view", tuple(VIEWS)), "n": ("cp_n", range(1, 9)), "seed": ("cp_seed", range(0, 10_001)),
              "isteps": ("cp_isteps", range(2, 17)), "move": ("cp_move", PARTS),
              "interp": ("cp_interp", INTERPOLATIONS),
              "residual": ("cp_res", tuple(RESIDUALS)), "rseed": ("cp_rseed", range(0, 10_001))}
GRID_KEY = "cp_grid"


def _tokens(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).astype(np.int64)


@st.cache_data(show_spinner="Decoding variations…", max_entries=32)
def _variations(model: str, tokens: bytes, n: int, seed: int, _tm) -> tuple:
    """(y (L,), n melodies (n, T)) for the melody ``tokens`` and n prior residuals drawn with ``seed``."""
    y = get_concept(_tm.model.config.concept)(_tokens(tokens)[None])
    return y[0], decode_with(_tm, np.repeat(y, n, 0), prior_residuals(_tm, n, seed))


@st.cache_data(show_spinner="Decoding the transfer…", max_entries=32)
def _transfer(model: str, a: bytes, b: bytes, _tm) -> tuple:
    """(y of B, the melody from B's concept and A's residual (T,))."""
    y, _, z_r = concept_codes(_tm, np.stack([_tokens(a), _tokens(b)]))
    return y[1], decode_with(_tm, y[1:], z_r[:1])[0]


@st.cache_data(show_spinner="Decoding the interpolation…", max_entries=32)
def _path(model: str, a: bytes, b: bytes, steps: int, moving: str, method: str, _tm) -> ConceptPath:
    return concept_path(_tm, _tokens(a), _tokens(b), steps=steps, moving=moving, method=method)


@st.cache_data(show_spinner="Decoding the drawn concept…", max_entries=32)
def _drawn(model: str, code: str, a: bytes, residual: str, seed: int, _tm) -> np.ndarray:
    c = _tm.model.config
    z_r = concept_codes(_tm, _tokens(a)[None])[2] if residual == "A" else prior_residuals(_tm, 1, seed)
    return decode_drawn(_tm, concept_from_code(code, c.concept_len, c.concept_classes), z_r[0])


# ---- state ---------------------------------------------------------------------------------
def init_state(ds):
    """The choices from the URL on the first visit; melody B starts a third into the data, apart from A."""
    start_picker_at(ds, "cp_b", 1 / 3)
    ss = st.session_state
    if "cp_url_read" not in ss:
        ss.cp_url_read = True
        ss.cp_url_y = st.query_params.get("y", "")
        for param, (key, accepted) in URL_PARAMS.items():
            raw = st.query_params.get(param, "")
            value = int(raw) if isinstance(accepted, range) and raw.isdigit() else raw
            if value in accepted:
                ss[key] = value
            elif raw:
                shown = (f"{accepted.start}…{accepted.stop - 1}" if isinstance(accepted, range)
                         else ", ".join(accepted))
                st.warning(f"Ignored in the URL: {param}={raw!r} (accepted: {shown}).")
    keep_across_pages(*DEFAULTS, "cp_draw")
    for k, v in DEFAULTS.items():
        ss.setdefault(k, v)


def save_url():
    for param, (key, _) in URL_PARAMS.items():
        st.query_params[param] = str(st.session_state[key])


def _melody(tok, a: Melody) -> Melody:
    return Melody(tok, a.chroma, a.qpm)


def _roll_ui(mels, name: str, *, key: str, wanted=None, labels=None, title=None, height: int = 260):
    """A piano roll with the concept of each melody (f of its notes) above it."""
    got = get_concept(name)(np.stack([m.tokens for m in mels]))
    st.plotly_chart(concept_roll_figure(mels, name, got, wanted=wanted, labels=labels, title=title, height=height),
                    key=key, width="stretch")
    return got


# ---- (a) and (b) ---------------------------------------------------------------------------
def _variations_ui(tm, settings, a: Melody):
    st.header("Variations: the same concept, other residuals")
    c1, c2 = st.columns(2)
    n = c1.slider("Variations", 1, 8, key="cp_n")
    seed = c2.number_input("Seed", 0, 10_000, key="cp_seed")
    name = tm.model.config.concept
    y, mels = _variations(model_key(tm), a.tokens.tobytes(), int(n), int(seed), tm)
    st.markdown(f"Concept **{name}** of the melody: `{concept_text(name, y)}`")
    for k, tok in enumerate(mels):
        m = _melody(tok, a)
        got = _roll_ui([m], name, key=f"cp_var{k}_roll", wanted=y[None])[0]
        kept = float((got == y).mean())
        st.caption(f"variation {k + 1} · {name} `{concept_text(name, got)}` · kept at {kept:.0%} of positions")
        play_ui(m, settings, key=f"cp_var{k}", name=f"{name}_variation_{k + 1}", roll=False)


def _melody_b_ui(settings, tm, label: str) -> Melody | None:
    b = melody_source_ui(settings, "cp_b", label)
    if b is not None and b.n_steps != tm.n_steps:
        st.error(f"Melody B has {b.n_steps} steps; this model reads {tm.n_steps}.")
        return None
    return b


def _transfer_ui(tm, settings, a: Melody):
    st.header("Concept transfer: B's concept, A's residual")
    b = _melody_b_ui(settings, tm, "Melody B (gives the concept)")
    if b is None:
        return
    name = tm.model.config.concept
    yb, tok = _transfer(model_key(tm), a.tokens.tobytes(), b.tokens.tobytes(), tm)
    st.markdown(f"B's **{name}**: `{concept_text(name, yb)}`")
    m = _melody(tok, a)
    _roll_ui([m], name, key="cp_transfer_roll", wanted=yb[None], title="B's concept with A's residual")
    play_ui(m, settings, key="cp_transfer", name=f"{name}_of_B_residual_of_A", roll=False)


# ---- (c) -----------------------------------------------------------------------------------
def _interpolation_ui(tm, settings, a: Melody):
    st.header("Concept-aware interpolation A → B")
    b = _melody_b_ui(settings, tm, "Melody B (the other end)")
    if b is None:
        return
    c1, c2, c3 = st.columns([2, 3, 1])
    steps = c1.slider("Steps", 2, 16, key="cp_isteps")
    moving = c2.radio("What moves", PARTS, format_func=MOVES.get, key="cp_move")
    method = c3.radio("Interpolation", INTERPOLATIONS, key="cp_interp")
    name = tm.model.config.concept
    path = _path(model_key(tm), a.tokens.tobytes(), b.tokens.tobytes(), int(steps), moving, method, tm)
    mels = [_melody(t, a) for t in path.tokens]
    labels = [str(k + 1) for k in range(steps)]
    labels[0], labels[-1] = "1 · A", f"{steps} · B"
    _roll_ui(mels, name, key="cp_path_roll", wanted=path.concepts, labels=labels, height=320)
    st.caption(f"{steps} steps ({method} of the posterior means): " + (
        "z_e moves from A's to B's, each step's concept decoded from it (the ends are A's and B's own "
        "concepts); every step keeps A's residual, so the last is the concept transfer." if moving == "concept" else
        "z_r moves from A's to B's; every step keeps A's concept.") + " A red × above the roll: the melody's concept "
        "differs there from the one it was decoded from.")
    play_sequence_ui(mels, settings, key="cp_path_play", name=f"concept_path_{moving}_{steps}_steps")
    rows = [f"| {labels[k]} | `{concept_text(name, path.concepts[k])}` | `{concept_text(name, path.measured[k])}` | "
            f"{kept:.0%} |" for k, kept in enumerate(path.kept())]
    st.markdown("| step | concept asked | concept of the melody | kept |\n|---|---|---|---|\n" + "\n".join(rows))


# ---- (d) -----------------------------------------------------------------------------------
def _clicked_cells(event) -> list[tuple[int, int]]:
    """(position, class) of the grid points in a chart's selection state (customdata [position, class],
    delivered as a list or as a dict keyed "0", "1")."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out = []
    for p in points:
        cd = p.get("customdata") if isinstance(p, dict) else None
        cd = [cd.get("0", cd.get(0)), cd.get("1", cd.get(1))] if isinstance(cd, dict) else cd
        if isinstance(cd, (list, tuple)) and len(cd) == 2 and all(isinstance(v, (int, float)) for v in cd):
            out.append((int(cd[0]), int(cd[1])))
    return out


def _take_grid_click(name: str, length: int, n_classes: int, start_code: str):
    """on_select of the grid: the clicked cell sets its position's class in the text box."""
    cells = [(i, k) for i, k in _clicked_cells(st.session_state.get(GRID_KEY))
             if 0 <= i < length and 0 <= k < n_classes]
    if not cells:
        return
    try:
        y = parse_concept(name, st.session_state.get("cp_draw", ""), length, n_classes)
    except ConceptError:  # the box holds text that is no concept: click on A's
        y = concept_from_code(start_code, length, n_classes)
    i, k = cells[-1]
    y[i] = k
    st.session_state.cp_draw = concept_text(name, y, group=4)


def _set_draw(text: str):
    st.session_state.cp_draw = text


def _start_text(name: str, c) -> str | None:
    """The drawn concept on first sight: the URL's ``y`` when it fits this model, else A's concept."""
    code, st.session_state.cp_url_y = st.session_state.get("cp_url_y", ""), ""
    try:
        return concept_text(name, concept_from_code(code, c.concept_len, c.concept_classes), group=4) if code else None
    except ConceptError as exc:
        st.warning(f"Ignored in the URL: y={code!r} ({exc}).")
    return None


def _draw_ui(tm, settings, a: Melody):
    st.header("Draw the concept")
    c, name = tm.model.config, tm.model.config.concept
    ya = get_concept(name)(a.tokens[None])[0]
    ss = st.session_state
    if ss.get("cp_draw_for") != name or "cp_draw" not in ss:
        ss.cp_draw = _start_text(name, c) or concept_text(name, ya, group=4)
        ss.cp_draw_for = name
    st.caption("Click a cell of the grid to set that position's class, or type the concept in the box "
               f"({', '.join(concept_labels(name, c.concept_classes))}; spaces are ignored). It is decoded with "
               "the residual you choose; the roll shows the melody with its own concept above it.")
    try:
        y = parse_concept(name, ss.cp_draw, c.concept_len, c.concept_classes)
        problems = concept_problems(name, y, c.concept_len, c.concept_classes)
    except ConceptError as exc:
        y, problems, parse_error = ya, [], str(exc)
    else:
        parse_error = ""
    st.plotly_chart(concept_grid_figure(name, y, c.concept_classes, bad=[i for i, _ in problems]), key=GRID_KEY,
                    width="stretch", selection_mode="points",  # plotly_chart's on_select takes no args
                    on_select=partial(_take_grid_click, name, c.concept_len, c.concept_classes, concept_code(ya)))
    t1, t2 = st.columns([4, 1])
    t1.text_input(f"{name.capitalize()}, one symbol per position", key="cp_draw")
    t2.button("Start from A's concept", on_click=_set_draw, args=(concept_text(name, ya, group=4),),
              key="cp_draw_reset")
    if parse_error or problems:
        st.error(parse_error or "This concept cannot be a melody's: " + "; ".join(
            f"position {i + 1}: {why}" for i, why in problems) + ". The positions are red in the grid.")
        return
    r1, r2 = st.columns([3, 1])
    residual = r1.radio("Residual", tuple(RESIDUALS), format_func=RESIDUALS.get, key="cp_res", horizontal=True)
    seed = r2.number_input("Prior seed", 0, 10_000, key="cp_rseed", disabled=residual == "A")
    code = concept_code(y)
    st.query_params["y"] = code
    m = _melody(_drawn(model_key(tm), code, a.tokens.tobytes(), residual, int(seed), tm), a)
    got = _roll_ui([m], name, key="cp_draw_roll", wanted=y[None], title=f"drawn {name} with {RESIDUALS[residual]}")[0]
    st.caption(f"The melody's {name}: `{concept_text(name, got)}` · the drawn concept kept at "
               f"{float((got == y).mean()):.0%} of positions.")
    play_ui(m, settings, key="cp_drawn", name=f"drawn_{name}_{residual}", roll=False)


def concept_page():
    st.title("Concept")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None or tm.name != "extres":
        st.info("Choose an ExtRes model in the sidebar (**Model**, an `extres-…` checkpoint): this page keeps a "
                "melody's concept (its rhythm, its contour, …) and varies everything else.")
        return
    init_state(settings.dataset)
    a = melody_source_ui(settings, "cp_a", "Melody A (its concept is kept)", allow_prior=False)
    if a is None:
        return
    if a.n_steps != tm.n_steps:
        st.error(f"This melody has {a.n_steps} steps; this model reads {tm.n_steps}. Choose another melody.")
        return
    view = st.radio("View", tuple(VIEWS), format_func=VIEWS.get, key="cp_view", horizontal=True)
    try:
        if view == "variations":
            _variations_ui(tm, settings, a)
            _transfer_ui(tm, settings, a)
        else:
            (_interpolation_ui if view == "interpolation" else _draw_ui)(tm, settings, a)
    except ConceptError as exc:
        st.error(str(exc))
    save_url()
