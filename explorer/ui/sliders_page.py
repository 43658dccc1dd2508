"""Page: steer a seed melody with the model's regularised dimensions and with
attribute vectors, hear every move, and see how well each control controls.

State: the slider values live in session state (with a plain copy, because a
widget's value is dropped while another page is shown) and in the URL
(``d0=1.25``, ``vec=note_density,contour``, ``v_note_density=0.5``,
``sweep=d0``), so a view can be shared and reloaded. A slider move decodes
one melody and renders it; the seed's code, the attribute vectors and the
controllability curve are cached.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.latent.attribute_vectors import MIN_SEGMENTS, attribute_vectors, training_rows
from explorer.latent.control import AMOUNT_RANGE, DIM_RANGE, decode_one, standardise, steer, sweep_attributes
from explorer.music.attributes import ATTRIBUTES, LABELS, compute
from explorer.lru import LRU
from explorer.music.melody import STEPS_PER_BAR, MelodyError
from explorer.paths import content_key
from explorer.ui.keys import data_key, model_key
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.player import play_ui
from explorer.ui.tables import markdown_table
from explorer.ui.url import write_query
from explorer.ui.sidebar import sidebar_ui
from explorer.viz.control import POSITION, controllability_figure, position_trace

VECTOR_LIMIT = 4000  # train segments encoded for the attribute vectors
SWEEP_POINTS = 13
LIVE_POINTS = 21  # positions of the live range: a step of 0.3 over DIM_RANGE
STEP = 0.05  # the sliders' step
DEFAULT_VECTORS = ["note_density"]
_SAVED = "sl_saved"  # plain copy of this page's widget values


# ---- cached work ---------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def seed_mean(model: str, tokens: np.ndarray, chroma: np.ndarray, _tm) -> np.ndarray:
    """Posterior mean (D,) of one melody: tokens (T,), chroma (T, 12)."""
    _, mu, _ = _tm.encode(tokens[None].astype(np.int64), chroma[None].astype(np.float32))
    return mu[0]


@st.cache_resource(show_spinner=False)
def _vector_store() -> LRU:
    """(model key, data key, limit) → attribute vectors, shared by all sessions."""
    return LRU(8)


def vectors_ui(tm, ds) -> dict | None:
    """The attribute vectors stored with ``tm``'s checkpoint; for a checkpoint without them, those of
    ``tm`` on ``ds`` (computed once, with a progress bar), or None after an error."""
    if tm.attribute_vectors:
        return tm.attribute_vectors
    key = (model_key(tm), data_key(ds), VECTOR_LIMIT)
    vecs = _vector_store().get(key)
    if vecs is None:
        n = len(training_rows(ds, VECTOR_LIMIT))
        bar = st.progress(0.0, text=f"Attribute vectors: encoding {n} train segments (once per model and data)…")
        try:
            vecs = attribute_vectors(tm, ds, limit=VECTOR_LIMIT,
                                     progress=lambda f: bar.progress(f, text=f"Attribute vectors: {f:.0%} of {n}"))
        except (ValueError, MelodyError) as exc:
            bar.empty()
            st.error(f"Attribute vectors cannot be computed on this data: {exc}")
            return None
        bar.empty()
        _vector_store().put(key, vecs)
    return vecs


@st.cache_data(show_spinner="Decoding the sweep…", max_entries=64)
def _sweep(model: str, tokens: np.ndarray, chroma: np.ndarray, control: str, values: tuple,
           vector: np.ndarray | None, _tm, _mu):
    dim = int(control[1:]) if control.startswith("d") else None
    return sweep_attributes(_tm, _mu, chroma, values, dim=dim, vector=vector)


@st.cache_data(show_spinner=False, max_entries=64)
def _attributes_of(tokens: bytes) -> dict[str, float]:
    """Every attribute of one melody's tokens (T,) given as bytes (the seed's, the same each move)."""
    return {k: float(v) for k, v in compute(np.frombuffer(tokens, np.uint8)).items()}


def live_clips(tm, mu, chroma, qpm: float, dim: int, others: dict, vecs, amounts: dict, program: int,
               tempo: float | None) -> tuple[list[bytes], list[float], list]:
    """(FLAC clips, values, notes): the seed's code ``mu`` (D,) decoded at LIVE_POINTS values of z[dim]
    in one batch, the other dims (``others``) and vector amounts as they are, each rendered (the
    renders are cached by content, so repeated melodies cost once); ``notes`` per clip, for the
    player's piano roll."""
    from explorer.ui.player import melody_clips

    values = np.linspace(*DIM_RANGE, LIVE_POINTS)
    zs = np.stack([steer(mu, others | {dim: v}, vecs, amounts) for v in values])  # (K, D)
    flacs, notes = melody_clips(tm.decode(zs, chroma, qpm=qpm), program, tempo)
    return flacs, values.tolist(), notes


@st.cache_data(show_spinner=False, max_entries=16)
def _live_clips(model: str, tokens: np.ndarray, chroma: np.ndarray, qpm: float, dim: int, others: tuple,
                amounts: tuple, program: int, tempo: float | None, _tm, _mu, _vecs) -> tuple[list, list, list]:
    """:func:`live_clips`, cached by the seed and the controls (``others``, ``amounts``: pairs)."""
    return live_clips(_tm, _mu, chroma, qpm, dim, dict(others), _vecs, dict(amounts), program, tempo)


def _take_live(key: str, dim: int, values: list):
    """The live range was released: the dim's slider takes its position (before the page runs)."""
    from explorer.ui.clip_player import released_index

    k = released_index(key)
    if k is not None and 0 <= k < len(values):
        st.session_state[f"sl_d{dim}"] = _clip(values[k])


def _live_ui(tm, seed, mu, reg: dict, dims: dict, vecs, amounts: dict, settings):
    """The live range of one regularised dim: its LIVE_POINTS positions decoded and rendered at
    once, then switched in the browser (no rerun while dragging)."""
    from explorer.ui.clip_player import live_player

    by_dim = {d: a for a, d in reg.items()}
    d = st.selectbox("Live dimension", list(by_dim), key="sl_live_dim",
                     format_func=lambda d: f"z[{d}] · {LABELS[by_dim[d]]}")
    with st.spinner(f"Rendering {LIVE_POINTS} positions of z[{d}]…"):
        flacs, values, notes = _live_clips(model_key(tm), seed.tokens, seed.chroma, float(seed.qpm), d,
                                           tuple(sorted((k, v) for k, v in dims.items() if k != d)),
                                           tuple(sorted((n, a) for n, a in amounts.items() if a)),
                                           settings.program, settings.qpm, tm, mu, vecs)
    index = int(np.argmin(np.abs(np.asarray(values) - dims[d])))
    live_player(flacs, values, index, key="sl_live_player", label=f"z[{d}]", autoplay=st.session_state.sl_autoplay,
                on_change=_take_live, args=("sl_live_player", d, values), notes=notes)
    st.caption(f"Drag (or focus and use ←/→; space plays and stops): {LIVE_POINTS} positions of z[{d}] from "
               f"{DIM_RANGE[0]:g} to {DIM_RANGE[1]:g}, the other controls as they are, switched in your browser. "
               "Letting go sets the slider.")


# ---- state ------------------------------------------------------------------------
def _url_float(name: str, lo: float, hi: float, problems: list) -> float | None:
    raw = st.query_params.get(name)
    if raw is None:
        return None
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not lo <= v <= hi:
        problems.append(f"{name}={raw!r} (accepted: a number from {lo:g} to {hi:g})")
        return None
    return round(v, 2)


def _url_state(dims: list[int]) -> tuple[dict, list[str]]:
    """Widget values the URL asks for, and what in it could not be used."""
    out, problems = {}, []
    for d in dims:
        v = _url_float(f"d{d}", *DIM_RANGE, problems)
        if v is not None:
            out[f"sl_d{d}"] = v
    if "vec" in st.query_params:
        names = [n for n in st.query_params["vec"].split(",") if n]
        bad = [n for n in names if n not in ATTRIBUTES]
        if bad:
            problems.append(f"vec={','.join(bad)} (accepted: {', '.join(ATTRIBUTES)})")
        out["sl_vectors"] = [n for n in names if n in ATTRIBUTES]
    for n in ATTRIBUTES:
        v = _url_float(f"v_{n}", *AMOUNT_RANGE, problems)
        if v is not None:
            out[f"sl_v_{n}"] = v
    if "sweep" in st.query_params:
        sweep = st.query_params["sweep"]
        if sweep in [f"d{d}" for d in dims] + [f"v_{n}" for n in ATTRIBUTES]:
            out["sl_sweep"] = sweep
        else:
            problems.append(f"sweep={sweep!r} (accepted: {', '.join(f'd{d}' for d in dims)}"
                            f"{', ' if dims else ''}v_<attribute>)")
    return out, problems


def _clip(v: float, rng=DIM_RANGE) -> float:
    return round(float(np.clip(v, *rng)), 2)


def init_state(dims: list[int], mu: np.ndarray, sig: str):
    """Seed the widgets: from the URL on the first visit, from the seed's code when
    the seed (or model) changes, else from the last values (kept across pages)."""
    ss = st.session_state
    saved = ss.setdefault(_SAVED, {})
    if "sl_sig" not in ss:
        url, problems = _url_state(dims)
        saved.update(url)
        if problems:
            st.warning("Ignored in the URL: " + "; ".join(problems) + ".")
    elif ss.sl_sig != sig:
        for k in [k for k in saved if k.startswith("sl_d")]:
            del saved[k]
        for d in dims:
            ss[f"sl_d{d}"] = _clip(mu[d])
    ss.sl_sig = sig
    for d in dims:
        k = f"sl_d{d}"
        if k not in ss:
            ss[k] = saved.get(k, _clip(mu[d]))
    for k in ("sl_vectors", "sl_sweep"):
        if k not in ss and k in saved:
            ss[k] = saved[k]
    for n in ATTRIBUTES:
        if f"sl_v_{n}" not in ss:
            ss[f"sl_v_{n}"] = saved.get(f"sl_v_{n}", 0.0)
    if "sl_vectors" not in ss:
        ss.sl_vectors = list(DEFAULT_VECTORS)
    for k, default in (("sl_autoplay", True), ("sl_live", False)):
        if k not in ss:
            ss[k] = saved.get(k, default)


def _back_to_seed(dims: list[int], mu: np.ndarray):
    for d in dims:
        st.session_state[f"sl_d{d}"] = _clip(mu[d])
    for n in ATTRIBUTES:
        if f"sl_v_{n}" in st.session_state:
            st.session_state[f"sl_v_{n}"] = 0.0


def save_state(dims: list[int], names: list[str]):
    """Copy the widget values into session state and the URL (one message, when it changed)."""
    ss = st.session_state
    keys = [f"sl_d{d}" for d in dims] + ["sl_vectors", "sl_sweep", "sl_autoplay", "sl_live"] + [f"sl_v_{n}" for n in names]
    ss[_SAVED].update({k: ss[k] for k in keys if k in ss})
    values = {f"d{d}": f"{ss[f'sl_d{d}']:g}" for d in dims} | {"vec": ",".join(names)}
    values |= {f"v_{n}": f"{ss[f'sl_v_{n}']:g}" for n in names if ss.get(f"sl_v_{n}")}
    if ss.get("sl_sweep"):
        values["sweep"] = ss.sl_sweep
    write_query(values, drop=lambda k: (k[:1] == "d" and k[1:].isdigit()) or k.startswith("v_"))


# ---- tables -----------------------------------------------------------------------------
def _rho(values, measured) -> float | None:
    """Spearman ρ of the sweep; None when the attribute does not change."""
    from explorer.eval.metrics import spearman

    measured = np.asarray(measured, float)
    finite = measured[np.isfinite(measured)]
    if len(finite) < 2 or finite.min() == finite.max():
        return None
    return spearman(np.asarray(values, float)[:, None], {"a": measured}, {"a": 0})["a"]


def _fmt(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 3) + 0.0  # + 0.0: no "-0.0"


# ---- the page -------------------------------------------------------------------------
def _control_values(tm, reg: dict, data_ok: bool):
    """What :func:`_controls_ui` will return, read from the session before the controls are drawn:
    (dims {d: z}, names, amounts)."""
    ss = st.session_state
    dims = {d: ss[f"sl_d{d}"] for d in reg.values()}
    names = list(ss.get("sl_vectors", [])) if data_ok or tm.attribute_vectors else []
    return dims, names, {n: ss.get(f"sl_v_{n}", 0.0) for n in names}


def _controls_ui(tm, reg: dict, mu, data_ok: bool, n_rows: int):
    """Sliders of the regularised dims and of the attribute vectors: (dims {d: z}, names, amounts)."""
    dims = {}
    if reg:
        st.subheader("Regularised dimensions")
        st.caption("The value of each dimension of the latent code; each starts at the seed's posterior mean.")
        for a, d in reg.items():
            dims[d] = st.slider(f"{LABELS[a]} · z[{d}]", *DIM_RANGE, step=STEP, key=f"sl_d{d}")
        st.button("Back to the seed", on_click=_back_to_seed, args=(list(reg.values()), mu), key="sl_reset")
    st.subheader("Attribute vectors")
    stored = tm.attribute_vectors
    if not data_ok and not stored:
        st.info(f"Attribute vectors need at least {MIN_SEGMENTS} data segments of {tm.n_steps} steps: "
                "choose data in the sidebar (the embedded default works).")
        return dims, [], {}
    names = st.multiselect("Attributes", list(ATTRIBUTES), format_func=LABELS.get, key="sl_vectors")
    amounts = {n: st.slider(f"amount of {LABELS[n]}", *AMOUNT_RANGE, step=STEP, key=f"sl_v_{n}") for n in names}
    origin = (f"{tm.card.get('attribute_vectors_from', {}).get('segments', 'its')} training segments of the model "
              "(stored with the checkpoint)") if stored else f"{n_rows} train segments of this data (computed when first used)"
    st.caption(f"z = seed + Σ amount · vector; a vector is the mean code of the top quartile of {origin} "
               "minus that of the bottom quartile.")
    return dims, names, amounts


def _readout_ui(reg: dict, dims: dict, mu, z, seed_attrs: dict, out_attrs: dict):
    # Markdown tables, not st.dataframe: a slider move redraws both, and a data grid costs the
    # server an Arrow table and the browser a canvas grid each time (docs/benchmarks.md).
    if reg:
        table = {
            "attribute": [LABELS[a] for a in reg],
            "slider z": [round(dims[d], 2) for d in reg.values()],
            "z with vectors": [round(float(z[d]), 2) for d in reg.values()],
            "seed z": [round(float(mu[d]), 2) for d in reg.values()],
            "seed": [_fmt(seed_attrs[a]) for a in reg],
            "output": [_fmt(out_attrs[a]) for a in reg],
        }
        if np.allclose([z[d] for d in reg.values()], [dims[d] for d in reg.values()]):
            del table["z with vectors"]  # no vector moved these dims
        st.markdown("**Target and measured** (a higher z should give a higher value)\n\n" + markdown_table(table))
    st.markdown("**All attributes, seed → output**\n\n" + markdown_table({
        "attribute": [LABELS[n] for n in ATTRIBUTES],
        "seed": [_fmt(seed_attrs[n]) for n in ATTRIBUTES],
        "output": [_fmt(out_attrs[n]) for n in ATTRIBUTES],
        "change": [_fmt(out_attrs[n] - seed_attrs[n]) for n in ATTRIBUTES],
    }))


def _sweep_options(reg: dict, data_ok: bool) -> list[str]:
    """The sweeps on offer ("d<dim>", "v_<attribute>"); the chosen one is kept valid in session state."""
    options = [f"d{d}" for d in reg.values()] + ([f"v_{n}" for n in ATTRIBUTES] if data_ok else [])
    if st.session_state.get("sl_sweep") not in options:
        st.session_state.sl_sweep = options[0]
    return options


def _sweep_plan(tm, ds, reg: dict, control: str, dims: dict, amounts: dict):
    """(values, vector, main attribute, where the control stands or None, x label) of the sweep
    ``control``, or None when its attribute vectors cannot be had."""
    if control.startswith("d"):
        d = int(control[1:])
        by_dim = {dd: a for a, dd in reg.items()}
        return np.linspace(*DIM_RANGE, SWEEP_POINTS), None, by_dim[d], dims.get(d), f"z[{d}]"
    vecs = vectors_ui(tm, ds)
    if vecs is None:
        return None
    main = control[2:]
    return (np.linspace(*AMOUNT_RANGE, SWEEP_POINTS), vecs[main], main, amounts.get(main),
            f"amount of the {LABELS[main].split(' (')[0]} vector")


def _sweep_position(tm, ds, seed, mu, reg: dict, dims: dict, amounts: dict):
    """The position line of the chosen sweep at the controls' values (a plotly trace), or None."""
    control = st.session_state.sl_sweep
    plan = _sweep_plan(tm, ds, reg, control, dims, amounts)
    if plan is None or plan[3] is None:
        return None
    values, vector, _, current, _ = plan
    lo, hi = _curve_span(model_key(tm), seed.tokens, seed.chroma, control, tuple(values.tolist()), vector,
                         data_key(ds) if ds is not None else None, tm, mu, ds)
    return position_trace(current, {"span": np.array([lo, hi])})


@st.cache_data(show_spinner=False, max_entries=64)
def _curve_span(model: str, tokens: np.ndarray, chroma: np.ndarray, control: str, values: tuple,
                vector: np.ndarray | None, data: str | None, _tm, _mu, _ds) -> tuple[float, float]:
    """The lowest and highest standardised value of a sweep's curves (where its position line
    runs), cached: a slider move needs only these two numbers of the curve."""
    _, attrs = _sweep(model, tokens, chroma, control, values, vector, _tm, _mu)
    std = position_trace(0.0, standardise(attrs, _ds.attributes() if _ds is not None else None))["y"]
    return float(std[0]), float(std[1])


@st.fragment(key="sl_curve_part")
def _curve_part(tm, ds, seed, mu, reg: dict, data_ok: bool):
    """The controllability curve: its own fragment, so a slider move (which leaves the curve as it
    is) does not send it again; a move draws only the position line over it (``_steer_part``)."""
    from explorer.ui.map_marks import chart_marks

    st.subheader("Controllability curve")
    by_dim = {d: a for a, d in reg.items()}
    control = st.selectbox("Sweep", _sweep_options(reg, data_ok), key="sl_sweep", format_func=lambda o: (
        f"z[{o[1:]}] · {LABELS[by_dim[int(o[1:])]]}" if o.startswith("d") else f"vector · {LABELS[o[2:]]}"))
    ss = st.session_state
    # (a vector sweep is offered only with data, _sweep_options: it never reads an amount the output does not)
    dims, _, amounts = _control_values(tm, reg, data_ok)
    plan = _sweep_plan(tm, ds, reg, control, dims, amounts)
    if plan is None:
        return
    values, vector, main, current, xlabel = plan
    _, attrs = _sweep(model_key(tm), seed.tokens, seed.chroma, control, tuple(values.tolist()), vector, tm, mu)
    ref = ds.attributes() if ds is not None else None
    st.plotly_chart(controllability_figure(values, attrs, main, reference=ref, xlabel=xlabel),
                    key="sl_curve", width="stretch")
    rho = _rho(values, attrs[main])
    st.caption(f"The seed decoded at {SWEEP_POINTS} values of {xlabel} (the other controls at the seed), "
               f"each output measured. {LABELS[main]}: " +
               ("does not change over the sweep." if rho is None else
                f"Spearman ρ = {rho:+.2f} (+1: rises at every step)."))
    position = None if current is None else position_trace(current, standardise(attrs, ref))
    chart_marks(key="sl_curve_marks", chart="sl_curve", traces={POSITION: position} if position else None)
    if ss.get("sl_sweep_saved") != control:  # a new sweep: into the URL (a slider move writes the rest)
        ss.sl_sweep_saved = control
        save_state(list(reg.values()), list(ss.get("sl_vectors", [])))


def sliders_page():
    st.title("Attribute sliders")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None:
        st.info("Choose a model in the sidebar (**Model**) to steer a melody through its latent space.")
        return
    ds = settings.dataset if settings.dataset is not None and settings.dataset.n_steps == tm.n_steps else None
    reg = dict(sorted(((a, int(d)) for a, d in tm.layout.regularized.items()
                       if a in LABELS and 0 <= int(d) < tm.layout.dims), key=lambda ad: ad[1]))
    n_rows = len(training_rows(ds, VECTOR_LIMIT)) if ds is not None else 0
    data_ok = n_rows >= MIN_SEGMENTS
    if not reg and not data_ok:
        if settings.dataset is None:
            why = settings.error or "there is no data"
        elif settings.dataset.n_steps != tm.n_steps:
            why = f"the data has {settings.dataset.n_steps}-step segments"
        else:
            why = f"the data has only {n_rows} segments"
        st.error(f"{settings.model_label or tm.name} has no regularised dimensions, and attribute vectors need "
                 f"at least {MIN_SEGMENTS} data segments of {tm.n_steps} steps ({why}). Choose data in the "
                 "sidebar (the embedded default works), or an attribute-regularised model (AR-VAE).")
        return
    seed = melody_source_ui(settings, "seed", "Seed melody")
    if seed is None:
        return
    try:
        mu = seed_mean(model_key(tm), seed.tokens, seed.chroma, tm)
    except MelodyError as exc:
        st.error(f"This seed cannot be encoded: {exc}. Accepted: a melody of {tm.n_steps} steps "
                 f"({tm.n_steps // STEPS_PER_BAR} 4/4 bars).")
        return
    sig = content_key(model_key(tm), seed.tokens.tobytes())
    init_state(list(reg.values()), mu, sig)
    _sweep_options(reg, data_ok)
    with st.expander("The seed"):  # outside the part a slider reruns: a move does not send it again
        play_ui(seed, settings, key="sl_seed", name="seed")
    _steer_part(settings, tm, ds, seed, mu, reg, data_ok, n_rows)
    _curve_part(tm, ds, seed, mu, reg, data_ok)


@st.fragment(key="sl_steer_part")
def _steer_part(settings, tm, ds, seed, mu, reg: dict, data_ok: bool, n_rows: int):
    """Everything a slider changes: the controls, the output, its readout and the curve's position
    line. A slider move reruns only this (not the sidebar, the seed's source and the curve)."""
    from explorer.ui.map_marks import chart_marks

    left, right = st.columns([2, 3], gap="large")
    # The output first, from what the controls hold, the controls drawn after it: the new clip of a
    # move then goes out (and is rendered by the browser) ahead of the controls' own redraw.
    dims, names, amounts = _control_values(tm, reg, data_ok)
    with right:
        vecs = vectors_ui(tm, ds) if any(amounts.values()) else None
    if any(amounts.values()) and vecs is None:
        with left:
            _controls_ui(tm, reg, mu, data_ok, n_rows)
        return
    z = steer(mu, dims, vecs, {n: a for n, a in amounts.items() if a})  # (D,)
    out = decode_one(tm, z, seed.chroma, qpm=seed.qpm)
    seed_attrs = _attributes_of(seed.tokens.tobytes())
    out_attrs = {k: float(v) for k, v in compute(out.tokens).items()}
    with right:
        st.subheader("Output")
        a, b = st.columns(2)
        a.toggle("Auto-play changes", key="sl_autoplay", help="Play (looped) each new output as soon as it is ready.")
        if reg and settings.audio:
            b.toggle("Live range", key="sl_live",
                     help=f"Decode and render {LIVE_POINTS} positions of one dimension at once; dragging then "
                          "switches sound in the browser, with no wait for the server.")
        if reg and settings.audio and st.session_state.sl_live:
            _live_ui(tm, seed, mu, reg, dims, vecs, amounts, settings)
        play_ui(out, settings, key="sl_out", name=f"steered_{settings.model_label or tm.name}",
                autoplay=st.session_state.sl_autoplay, roll="svg")
    with left:
        drawn = _controls_ui(tm, reg, mu, data_ok, n_rows)
    # a control drawn for the first time (a vector just chosen) may hold another value than the
    # session had for it: run again with it (once: a second mismatch would be a bug, not a loop)
    if drawn != (dims, names, amounts) and not st.session_state.get("sl_redone"):
        st.session_state.sl_redone = True
        st.rerun()
    st.session_state.sl_redone = False
    with right:
        st.caption(f"Latent code moved ‖z − seed‖ = {float(np.linalg.norm(z - mu)):.2f} from the seed's mean "
                   f"({tm.layout.dims} dims).")
        _readout_ui(reg, dims, mu, z, seed_attrs, out_attrs)
    position = _sweep_position(tm, ds, seed, mu, reg, dims, amounts)
    save_state(list(reg.values()), names)
    chart_marks(key="sl_busy", watch=tuple(f"sl_d{d}" for d in reg.values()) + tuple(f"sl_v_{n}" for n in names),
                label="Decoding…", chart="sl_curve", traces={POSITION: position} if position else None)
