"""Page: one melody through two models at once — the sidebar's model and a second one chosen
here — with each model's reconstruction, the same A → B interpolation, the same attribute-vector
shift (audio, piano rolls and measured figures) and the headline figures of both cards.

State: the second model, the steps, the interpolation, the attribute and its amount live in
session state (kept across pages) and in the URL (``model2``, ``steps``, ``interp``, ``attr``,
``amount``; the melodies as the segment rows ``cmp_a`` and ``cmp_b``). Each model's work on a
pair of melodies is cached by the model's fingerprint and the melodies.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from explorer.latent.attribute_vectors import MIN_SEGMENTS, attribute_vectors, training_rows
from explorer.latent.compare import (ModelRun, length_mismatch, reconstruct_and_interpolate, shared_corpus_rows,
                                     shift_of)
from explorer.models.card import comparison_rows
from explorer.models.card_names import full_name
from explorer.models.checkpoint import CheckpointError, available_checkpoints, read_metadata
from explorer.models.registry import spec_of
from explorer.models.trained import INTERPOLATIONS
from explorer.music.attributes import ATTRIBUTES, LABELS
from explorer.music.melody import STEPS_PER_BAR, Melody, MelodyError
from explorer.ui.keys import data_key, model_key
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.model_picker import card_of, load_model
from explorer.ui.player import play_sequence_ui, play_ui
from explorer.ui.segment_picker import start_picker_at
from explorer.ui.sidebar import keep_across_pages, sidebar_ui
from explorer.viz.pianoroll import pianoroll_figure

VECTOR_LIMIT = 4000  # train segments encoded for a model whose checkpoint stores no attribute vectors
AMOUNT_RANGE = (-2.0, 2.0)
DEFAULTS = {"cmp_steps": 5, "cmp_method": "slerp", "cmp_attr": "note_density", "cmp_amount": 1.0}
# URL parameter → (widget key, what it accepts, how it is read)
URL_PARAMS = {"steps": ("cmp_steps", range(2, 10), int), "interp": ("cmp_method", INTERPOLATIONS, str),
              "attr": ("cmp_attr", ATTRIBUTES, str), "amount": ("cmp_amount", np.arange(-8, 9) / 4, float)}


# ---- cached work ----------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def _bars_of(path: str, mtime: float) -> int | None:
    """The bars of the melodies a checkpoint's model reads (from its header; no weights loaded)."""
    try:
        return spec_of(read_metadata(path)["model"]).bars
    except (CheckpointError, KeyError):
        return None


@st.cache_resource(show_spinner="Attribute vectors: encoding the data's train segments (once per model and data)…",
                   max_entries=8)
def _data_vectors(model: str, data: str, _tm, _ds) -> dict:
    return attribute_vectors(_tm, _ds, limit=VECTOR_LIMIT)


@st.cache_data(show_spinner=False, max_entries=32)
def _base(model: str, a: tuple, b: tuple, steps: int, method: str, _tm) -> ModelRun:
    return reconstruct_and_interpolate(_tm, Melody(*a), Melody(*b), steps=steps, method=method)


@st.cache_data(show_spinner=False, max_entries=64)
def _shift(model: str, a: tuple, attr: str, amount: float, vector, _tm, _recon) -> dict:
    """The shift fields of a ModelRun; keyed without ``_recon``, which the model and A determine."""
    return shift_of(_tm, Melody(*a), _recon, attribute=attr, amount=amount, vector=vector)


def _arrays(m: Melody) -> tuple:
    return m.tokens, m.chroma, float(m.qpm)


# ---- state ------------------------------------------------------------------------------
def init_state():
    """The controls from the URL on the first visit (bad values named), else their last values."""
    ss = st.session_state
    if "cmp_url_read" not in ss:
        ss.cmp_url_read = True
        problems = []
        for param, (key, accepted, cast) in URL_PARAMS.items():
            raw = st.query_params.get(param)
            if raw is None:
                continue
            try:
                value = cast(raw)
            except ValueError:
                value = None
            if value is not None and value in accepted:
                ss[key] = value
            else:
                shown = f"{accepted[0]:g} to {accepted[-1]:g} in steps of 0.25" if param == "amount" else \
                    ", ".join(map(str, accepted))
                problems.append(f"{param}={raw!r} (accepted: {shown})")
        if problems:
            st.warning("Ignored in the URL: " + "; ".join(problems) + ".")
    for k, v in DEFAULTS.items():
        ss.setdefault(k, v)
    keep_across_pages(*DEFAULTS, "cmp_model2")


def save_state():
    for param, (key, _, _) in URL_PARAMS.items():
        v = st.session_state[key]
        st.query_params[param] = f"{v:g}" if isinstance(v, float) else str(v)


# ---- the second model -------------------------------------------------------------------
def _default_second(names: list, bars: dict, first: str, first_bars: int) -> str:
    """The URL's ``model2`` if it is a checkpoint, else another model of the first one's length."""
    wanted = st.query_params.get("model2")
    if wanted in names:
        return wanted
    same = [n for n in names if n != first and bars[n] == first_bars]
    return (same or [n for n in names if n != first] or names)[0]


def _display_name(name: str, card: dict) -> str:
    """The model's name from its card (family · corpora, as the sidebar's caption), else the file's."""
    return full_name(card) if card.get("model") else name


def second_model_ui(tm, first: str, label: str):
    """Choose the second model (any shipped melody model) beside ``tm`` (checkpoint ``first``,
    called ``label``); (TrainedModel, its label) or None after saying why there is none (no
    checkpoint, another melody length, a broken file)."""
    ckpts = available_checkpoints()
    bars = {n: _bars_of(str(p), p.stat().st_mtime) for n, p in ckpts.items()}
    names = [n for n in ckpts if bars[n] is not None]
    if not names:
        st.error("There is no shipped melody model to compare with (no checkpoint in the models folder).")
        return None
    shown = {n: _display_name(n, card_of(str(ckpts[n]), ckpts[n].stat().st_mtime)) for n in names}
    first_bars = tm.n_steps // STEPS_PER_BAR
    ss = st.session_state
    if ss.get("cmp_model2") not in names:
        ss.cmp_model2 = _default_second(names, bars, first, first_bars)
    name = st.selectbox("Second model", names, key="cmp_model2", format_func=lambda n: f"{shown[n]} · {bars[n]} bars",
                        help="Any shipped melody model; it must read melodies as long as the sidebar's model.")
    st.query_params["model2"] = name
    problem = length_mismatch(label, tm.n_steps, shown[name], bars[name] * STEPS_PER_BAR)
    if problem:
        fits = [shown[n] for n in names if bars[n] == first_bars and n != first]
        st.error(problem + (f" Models of {first_bars} bars: {', '.join(fits)}." if fits else
                            f" No other shipped model reads {first_bars}-bar melodies; choose another model "
                            "in the sidebar."))
        return None
    try:
        return load_model(str(ckpts[name]), ckpts[name].stat().st_mtime), shown[name]
    except CheckpointError as exc:
        st.error(f"{shown[name]} cannot be loaded: {exc}")
        return None


def vector_of(tm, ds, attr: str):
    """(the attribute vector of ``attr`` for ``tm``, where it comes from), or (None, why not):
    the checkpoint's stored vector, else one computed on the sidebar's data."""
    if attr in tm.attribute_vectors:
        return tm.attribute_vectors[attr], "stored with the checkpoint"
    if ds is None or ds.n_steps != tm.n_steps or len(training_rows(ds, VECTOR_LIMIT)) < MIN_SEGMENTS:
        return None, (f"the checkpoint stores no attribute vectors, and computing one needs at least {MIN_SEGMENTS} "
                      f"data segments of {tm.n_steps} steps: choose data in the sidebar (the embedded default works)")
    try:
        vecs = _data_vectors(model_key(tm), data_key(ds), tm, ds)
    except (ValueError, MelodyError) as exc:
        return None, f"attribute vectors cannot be computed on this data: {exc}"
    return vecs[attr], f"computed on {len(training_rows(ds, VECTOR_LIMIT))} train segments of this data"


# ---- drawing ----------------------------------------------------------------------------
def _pct(v) -> str:
    return "—" if v is None else f"{v:.0%}"


def _glance_ui(labels, runs, attr: str, amount: float):
    name = LABELS[attr].split(" (")[0]
    st.dataframe(pd.DataFrame([{
        "model": label,
        "reconstruction: steps kept": _pct(r.recon_agreement["tokens"]),
        "onsets kept": _pct(r.recon_agreement["onset_pitch"]),
        "A → B: distinct melodies": f"{r.path_changes['distinct']} of {len(r.path)}",
        "change per step": _pct(r.path_changes["mean_change"]),
        f"{amount:+g} × {name}: change": None if r.shift_change is None else round(r.shift_change, 3),
        "shifted: steps kept": _pct(r.shift_kept["tokens"]) if r.shift_kept else "—",
    } for label, r in zip(labels, runs)]), hide_index=True, width="stretch", key="cmp_glance")
    st.caption("Measured on the melodies below: the share of A's 16th steps (and of its note onsets) each model's "
               "reconstruction keeps; how many different melodies its A → B path passes and the share of steps "
               "that change between neighbours; the vector's effect on the attribute (shifted minus reconstruction) "
               "and the share of A's steps the shifted melody keeps.")


def _reconstruction_ui(a: Melody, labels, runs, settings):
    st.header("Reconstruction")
    with st.container(key="cmp_input"):
        play_ui(a, settings, key="cmp_in", name="input", title="Input melody A")
    for i, (col, label, r) in enumerate(zip(st.columns(2), labels, runs)):
        with col, st.container(key=f"cmp_recon_{i}"):
            play_ui(r.recon, settings, key=f"cmp_rec{i}", name=f"{label}_reconstruction", title=label)
            ag = r.recon_agreement
            st.caption(f"{ag['tokens']:.0%} of the {a.n_steps} steps as in the input"
                       + (f"; {ag['onset_pitch']:.0%} of its {ag['onsets']} note onsets on the same pitch."
                          if ag["onsets"] else "."))


def _interpolation_ui(labels, runs, settings, steps: int, method: str):
    st.header("Interpolation A → B")
    st.caption(f"The same two melodies, {steps} steps ({method} of each model's posterior means), "
               "decoded greedily under chords blended from A's to B's.")
    names = [str(k + 1) for k in range(steps)]
    names[0], names[-1] = "1 · A", f"{steps} · B"
    for i, (col, label, r) in enumerate(zip(st.columns(2), labels, runs)):
        with col, st.container(key=f"cmp_path_{i}"):
            st.markdown(f"**{label}**")
            st.plotly_chart(pianoroll_figure(r.path, labels=names, height=260), key=f"cmp_path_roll{i}",
                            width="stretch")
            play_sequence_ui(r.path, settings, key=f"cmp_path{i}", name=f"{label}_interpolation_{steps}")
            ch = r.path_changes
            st.caption(f"{ch['distinct']} different melodies in {steps} steps; between neighbours {ch['mean_change']:.0%} "
                       f"of the steps change on average, {ch['largest_change']:.0%} at most.")


def _vector_ui(labels, runs, settings, sources, attr: str, amount: float):
    st.header("Attribute vector")
    st.caption(f"z = A's posterior mean {amount:+g} × the {LABELS[attr]} vector of each model (the mean code of the "
               "top quartile of training segments minus that of the bottom quartile), decoded greedily.")
    for i, (col, label, r, source) in enumerate(zip(st.columns(2), labels, runs, sources)):
        with col, st.container(key=f"cmp_shift_{i}"):
            st.markdown(f"**{label}**")
            if r.shifted is None:
                st.info(f"No {LABELS[attr]} vector for {label}: {source}.")
                continue
            play_ui(r.shifted, settings, key=f"cmp_shift{i}", name=f"{label}_{attr}_{amount:+g}",
                    title=f"{amount:+g} × {LABELS[attr].split(' (')[0]}")
            v = r.shift_values
            st.dataframe(pd.DataFrame({"melody": ["input", "reconstruction", "shifted"],
                                       LABELS[attr]: [round(v[k], 3) for k in ("input", "reconstruction", "shifted")]}),
                         hide_index=True, key=f"cmp_shift_table{i}")
            st.caption(f"Vector {source}. {LABELS[attr]} changed by {r.shift_change:+.3f} from the reconstruction; "
                       f"the shifted melody keeps {r.shift_kept['tokens']:.0%} of the input's steps.")


def _cards_ui(labels, models):
    st.header("The models' cards")
    rows = [comparison_rows(tm.card) if tm.card else [] for tm in models]
    for i, (col, label, tm, r) in enumerate(zip(st.columns(2), labels, models, rows)):
        with col:
            st.markdown(f"**{label}** — {tm.name}, {tm.layout.dims}-dim latent")
            if r:
                st.dataframe(pd.DataFrame(r), hide_index=True, width="stretch", key=f"cmp_card{i}")
            else:
                st.caption("This checkpoint carries no evaluation in its card (see the Model report page).")
    shared = shared_corpus_rows(*rows, *labels) if all(rows) else []
    if shared:
        st.markdown("**Music neither model saw in training** — each card's figures on the same corpus")
        st.dataframe(pd.DataFrame(shared), hide_index=True, width="stretch", key="cmp_shared")
    st.caption("Each card's own test split is of the data that model was trained on, so those rows compare "
               "different music; rows on a corpus neither model saw compare like with like.")


def _controls_ui() -> tuple:
    c1, c2, c3, c4 = st.columns([2, 1, 2, 2])
    steps = c1.slider("Interpolation steps", 2, 9, key="cmp_steps")
    method = c2.radio("Interpolation", INTERPOLATIONS, key="cmp_method", horizontal=True)
    attr = c3.selectbox("Attribute vector", list(ATTRIBUTES), format_func=LABELS.get, key="cmp_attr")
    amount = c4.slider("Amount of the vector", *AMOUNT_RANGE, step=0.25, key="cmp_amount")
    return int(steps), method, attr, float(amount)


def _melodies_ui(settings, n_steps: int) -> tuple | None:
    cols = st.columns(2)
    mels = []
    for col, key, label in zip(cols, ("cmp_a", "cmp_b"), ("Melody A (reconstructed and shifted)", "Melody B")):
        with col:
            mels.append(melody_source_ui(settings, key, label))
    if any(m is None for m in mels):
        return None
    bad = [f"{name} has {m.n_steps} steps" for name, m in zip("AB", mels) if m.n_steps != n_steps]
    if bad:
        st.error(f"{' and '.join(bad)}; both models read melodies of {n_steps} steps "
                 f"({n_steps // STEPS_PER_BAR} 4/4 bars). Choose other melodies.")
        return None
    return tuple(mels)


def compare_page():
    st.title("Compare models")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None:
        st.info("Choose a model in the sidebar (**Model**); this page runs a melody through it and a second model.")
        return
    init_state()
    label1 = _display_name(settings.model_label or tm.name, tm.card)
    second = second_model_ui(tm, settings.model_label, label1)
    if second is None:
        return
    tm2, label2 = second
    labels = [label1, label2 if label2 != label1 else f"{label2} (again)"]
    ds = settings.dataset
    start_picker_at(ds, "cmp_b", 1 / 3)
    pair = _melodies_ui(settings, tm.n_steps)
    if pair is None:
        return
    a, b = pair
    steps, method, attr, amount = _controls_ui()
    save_state()
    models = [tm, tm2]
    vecs = [vector_of(m, ds, attr) for m in models]
    runs = []
    bar = st.progress(0.0)
    try:
        for i, (m, label, (vec, _)) in enumerate(zip(models, labels, vecs)):
            bar.progress(i / 2, text=f"{label}: reconstruction, {steps}-step interpolation and the vector shift…")
            run = _base(model_key(m), _arrays(a), _arrays(b), steps, method, m)
            if vec is not None:
                run = replace(run, **_shift(model_key(m), _arrays(a), attr, amount, vec, m, run.recon))
            runs.append(run)
    except (MelodyError, ValueError) as exc:
        bar.empty()
        st.error(f"These melodies cannot go through both models: {exc}.")
        return
    bar.empty()
    st.header("At a glance")
    _glance_ui(labels, runs, attr, amount)
    _reconstruction_ui(a, labels, runs, settings)
    _interpolation_ui(labels, runs, settings, steps, method)
    _vector_ui(labels, runs, settings, [why for _, why in vecs], attr, amount)
    _cards_ui(labels, models)
