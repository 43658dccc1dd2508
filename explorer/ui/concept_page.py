"""Page: Concept (ExtRes). Variations — keep a melody's concept y = f(x) and decode it with N
residuals z_r from the prior: N melodies that share the concept; transfer — the concept of melody B
with the residual of melody A.

State: ``n`` (variations) and ``seed`` in session state and the URL; the melodies by the shared
melody choosers. Decodes are cached per model, melody, n and seed.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.eval.extres import decode_with_concept, residual_means
from explorer.music.concepts import ConceptError, get_concept
from explorer.music.melody import Melody, clean_tokens
from explorer.ui.keys import model_key
from explorer.ui.melody_source import melody_source_ui
from explorer.ui.player import play_ui
from explorer.ui.segment_picker import start_picker_at
from explorer.ui.sidebar import sidebar_ui

DEFAULTS = {"cp_n": 4, "cp_seed": 0}
URL_PARAMS = {"n": ("cp_n", range(1, 9)), "seed": ("cp_seed", range(0, 10_001))}
SYMBOLS = {"rhythm": "●–·", "contour": "=↑↓·"}  # one character per class


def concept_text(name: str, y: np.ndarray) -> str:
    """y (L,) as one character per position (built-in concepts) or its numbers."""
    chars = SYMBOLS.get(name)
    return "".join(chars[int(v)] for v in y) if chars else " ".join(str(int(v)) for v in y)


@st.cache_data(show_spinner="Decoding variations…", max_entries=32)
def _variations(model: str, tokens: bytes, n: int, seed: int, _tm) -> tuple:
    """(y (L,), n melodies (n, T)) for the melody ``tokens`` and n prior residuals drawn with ``seed``."""
    tok = np.frombuffer(tokens, np.uint8).astype(np.int64)[None]
    y = get_concept(_tm.model.config.concept)(tok)
    z = np.random.default_rng(seed).standard_normal((n, _tm.model.config.zr_dims)).astype(np.float32)
    return y[0], clean_tokens(decode_with_concept(_tm, z, np.repeat(y, n, 0)))


@st.cache_data(show_spinner="Decoding the transfer…", max_entries=32)
def _transfer(model: str, a: bytes, b: bytes, _tm) -> tuple:
    """(y of B, the melody from B's concept and A's residual (T,))."""
    concept = get_concept(_tm.model.config.concept)
    ta, tb = (np.frombuffer(t, np.uint8).astype(np.int64)[None] for t in (a, b))
    yb = concept(tb)
    z_r = residual_means(_tm, ta, concept(ta))
    return yb[0], clean_tokens(decode_with_concept(_tm, z_r, yb))[0]


def init_state(ds):
    """n and seed from the URL on the first visit; melody B starts a third into the data, apart from A."""
    start_picker_at(ds, "cp_b", 1 / 3)
    ss = st.session_state
    if "cp_url_read" not in ss:
        ss.cp_url_read = True
        for param, (key, accepted) in URL_PARAMS.items():
            raw = st.query_params.get(param, "")
            if raw.isdigit() and int(raw) in accepted:
                ss[key] = int(raw)
            elif raw:
                st.warning(f"Ignored in the URL: {param}={raw!r} (accepted: {accepted.start}…{accepted.stop - 1}).")
    for k, v in DEFAULTS.items():
        ss.setdefault(k, v)


def _variations_ui(tm, settings, a: Melody):
    st.header("Variations: the same concept, other residuals")
    c1, c2 = st.columns(2)
    n = c1.slider("Variations", 1, 8, key="cp_n")
    seed = c2.number_input("Seed", 0, 10_000, key="cp_seed")
    name = tm.model.config.concept
    y, mels = _variations(model_key(tm), a.tokens.tobytes(), int(n), int(seed), tm)
    st.markdown(f"Concept **{name}** of the melody: `{concept_text(name, y)}`")
    got = get_concept(name)(mels)
    for k, tok in enumerate(mels):
        kept = float((got[k] == y).mean())
        play_ui(Melody(tok, a.chroma, a.qpm), settings, key=f"cp_var{k}", name=f"{name}_variation_{k + 1}",
                title=f"variation {k + 1} · {name} {concept_text(name, got[k])} · kept at {kept:.0%} of positions")


def _transfer_ui(tm, settings, a: Melody):
    st.header("Concept transfer: B's concept, A's residual")
    b = melody_source_ui(settings, "cp_b", "Melody B (gives the concept)")
    if b is None or b.n_steps != tm.n_steps:
        if b is not None:
            st.error(f"Melody B has {b.n_steps} steps; this model reads {tm.n_steps}.")
        return
    name = tm.model.config.concept
    yb, tok = _transfer(model_key(tm), a.tokens.tobytes(), b.tokens.tobytes(), tm)
    st.markdown(f"B's **{name}**: `{concept_text(name, yb)}`")
    play_ui(Melody(tok, a.chroma, a.qpm), settings, key="cp_transfer", name=f"{name}_of_B_residual_of_A",
            title="B's concept with A's residual")


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
    try:
        _variations_ui(tm, settings, a)
        _transfer_ui(tm, settings, a)
    except ConceptError as exc:
        st.error(str(exc))
    for param, (key, _) in URL_PARAMS.items():
        st.query_params[param] = str(st.session_state[key])
