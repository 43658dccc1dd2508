"""Page: the latent map. The data's latent means in 2-D (PCA, t-SNE, UMAP), coloured
by an attribute, a collection or the split; click a point to hear it, its
reconstruction and its nearest neighbours; place your own MIDI on the map.

The numbers come from :mod:`explorer.latent.projection` (cached on disk); this
module keeps them in memory per process and draws them with :mod:`explorer.viz.latent_map`.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from explorer.data.tune import SkipTune
from explorer.latent import projection as P
from explorer.latent import shipped as S
from explorer.latent.map_search import MAX_PLAYED, playing_order, search_mask
from explorer.music.attributes import ATTRIBUTES, LABELS
from explorer.music.melody import MelodyError
from explorer.ui.melody_source import MAP_SELECTION_KEY
from explorer.music.convert import melodies_to_midi, midi_to_bytes
from explorer.ui.player import play_midi_ui, play_ui
from explorer.ui.plot_events import clicked_rows
from explorer.ui.resources import computed, page_memory
from explorer.ui.sidebar import keep_across_pages, sidebar_ui
from explorer.viz.latent_map import (CATEGORIES, RINGS, map_figure, mark_points, mark_trace, short_name,
                                     small_map_figure)
from explorer.viz.map_axes import robust_axes

NO_FILTER = "(no filter)"
K_NEIGHBOURS = 5
PICK_KEY = "map_pick"
CHART_KEY = "map_chart"
NN_AUDIO_KEY = "map_nn_audio"  # the neighbours' players are drawn only when asked for
SELECTION_PART = "map_selection_part"  # fragment keys: a click reruns only the part it changes,
LASSO_PART = "map_lasso_part"  # never the map (10k points, sent once per full run)
MAP_SENT_KEY = "map_sent_at"  # perf_counter() of the last map sent
LASSO_KEY = "map_lasso"


def _latents(tm, ds, rows, key):
    """The means (M, D) of ``ds[rows]`` (latent key ``key``); encoding shows a progress bar, a memory hit nothing."""
    def compute(progress):
        encoded = []  # stays empty on a disk hit: nothing was encoded

        def tick(done, total):
            encoded.append(done)
            progress(done, total, "segments")

        mu = P.dataset_latents(tm, ds, rows, progress=tick)
        return mu, (f"Encoded {len(rows)} segments" if encoded else
                    f"Read the latents of {len(rows)} segments from the disk cache")

    return computed(key, f"Encoding {len(rows)} segments…", compute)


def _projection(X, method, params, key):
    """The Projection of the points X (M, d)."""
    def compute(progress):
        proj = P.project(X, method, params, key=key, progress=lambda d, n: progress(d, n, f"{method} iterations"))
        return proj, "Read the map from the disk cache" if proj.from_disk else f"Computed the {method} map"

    pkey = P.projection_key(method, P.method_params(method, params), key)
    return computed(pkey, f"Computing the {method} map of {len(X)} points…", compute)


def _shipped(tm, ds, rows, lkey, group, method, params):
    """The shipped map (assets/projections) when model, data, rows, latent and settings match it, else None;
    the lookup (hashing the model file) is remembered in memory per latent key ``lkey``."""
    key = ("shipped", P.projection_key(method, P.method_params(method, params), (lkey, group)))
    hit = page_memory().get(key)
    if hit is None:
        hit = page_memory().put(key, [S.load_shipped(tm, ds, rows, group, method, params)])
    return hit[0]


@st.cache_data(show_spinner=False, max_entries=16)
def _upload_segments(data: bytes, name: str, bars: int):
    from explorer.data.upload import dataset_from_midi_bytes

    return dataset_from_midi_bytes(data, name, bars=bars)[0]


# ---- state ----------------------------------------------------------------------------
def _init_state(ds, tm):
    """Seed the map's choices from the URL once, and keep them across page switches."""
    q = st.query_params
    if "map_method" not in st.session_state:
        st.session_state.map_method = q.get("method") if q.get("method") in P.METHODS else "PCA"
        pts = str(q.get("points", ""))
        st.session_state.map_points = int(pts) if pts.isdigit() and 20 <= int(pts) <= 200_000 else P.DEFAULT_MAX_POINTS
        st.session_state.map_color = q.get("color") if q.get("color") in (*ATTRIBUTES, *CATEGORIES) else "note_density"
        st.session_state.map_perplexity = 30
        st.session_state.map_filter = NO_FILTER
    keep_across_pages("map_method", "map_points", "map_color", "map_perplexity", "map_filter", "map_group",
                      "map_ar_attr")
    if MAP_SELECTION_KEY not in st.session_state:
        p = str(q.get("point", ""))
        if p.isdigit() and int(p) < len(ds):
            st.session_state[MAP_SELECTION_KEY] = int(p)
    groups = [P.WHOLE_Z, *tm.layout.groups]
    if st.session_state.get("map_group") not in groups:
        st.session_state.map_group = q.get("latent") if q.get("latent") in groups else P.WHOLE_Z
    sel = st.session_state.get(MAP_SELECTION_KEY)
    # the data may have changed under a stored selection
    st.session_state[PICK_KEY] = sel if sel is not None and int(sel) < len(ds) else None


def _select(row: int):
    st.session_state[MAP_SELECTION_KEY] = int(row)


def _take_chart_click():
    """on_select of the map: a box or lasso keeps its points' dataset rows (customdata[0]) as
    the selection to play; a click selects the clicked point. The star and ring markers carry
    no customdata, so clicking them selects nothing. Either reruns only the part of the page it
    changes (the selection or the lasso's player), not the map."""
    event = st.session_state.get(CHART_KEY) or {}
    rows = clicked_rows(event)
    selection = event.get("selection") or {}
    if selection.get("box") or selection.get("lasso"):
        st.session_state[LASSO_KEY] = rows
        st.rerun(LASSO_PART)
    if rows:
        _select(int(rows[-1]))
    st.rerun(SELECTION_PART)


def _take_pick():
    if st.session_state.get(PICK_KEY) is not None:
        _select(int(st.session_state[PICK_KEY]))
    st.rerun(SELECTION_PART)


# ---- sections --------------------------------------------------------------------------
def _controls(tm, n_rows):
    c1, c2, c3, c4 = st.columns([2, 2, 3, 2])
    method = c1.radio("Projection", list(P.METHODS), key="map_method", horizontal=True)
    group = c2.selectbox("Latent", [P.WHOLE_Z, *tm.layout.groups], key="map_group",
                         format_func=lambda g: g if g == P.WHOLE_Z else f"{g} part of z",
                         disabled=not tm.layout.groups)
    colour = c3.selectbox("Colour by", [*ATTRIBUTES, *CATEGORIES], key="map_color",
                          format_func=lambda a: CATEGORIES.get(a) or LABELS[a])
    max_points = c4.number_input("Points (at most)", min_value=20, max_value=200_000, step=500, key="map_points")
    params = {}
    if method == "t-SNE":
        params = {"perplexity": float(st.slider("t-SNE perplexity", 5, 100, key="map_perplexity")),
                  "n_jobs": P.tsne_threads(min(n_rows, max_points))}
    return method, group, colour, int(max_points), params


def _search_ui(ds, attrs, rows):
    """The mask (M,) of points kept by the search: title, source and an attribute's range."""
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    title = c1.text_input("Title contains", key="map_title", placeholder="e.g. reel")
    sources = sorted(set(ds.tune_source.tolist()))
    chosen = c2.multiselect("Sources", sources, key="map_sources", placeholder="all sources")
    attr = c3.selectbox("Attribute range", [NO_FILTER, *ATTRIBUTES], key="map_filter",
                        format_func=lambda a: a if a == NO_FILTER else short_name(a))
    ranges = {}
    if attr != NO_FILTER:
        v = attrs[attr][rows]
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        if not hi > lo:
            c4.caption(f"Every point has {short_name(attr)} = {lo:g}.")
        else:
            key = f"map_range_{attr}"
            old = st.session_state.get(key)
            st.session_state[key] = (max(lo, min(old[0], hi)), min(hi, max(old[1], lo))) if old else (lo, hi)
            ranges[attr] = c4.slider(LABELS[attr], lo, hi, key=key, step=(hi - lo) / 100)
    return search_mask(ds, rows, title=title, sources=chosen or None, ranges=ranges, attrs=attrs)


def _upload_ui(tm, proj, latents, pkey, cols):
    """(coords (U, 2), bar labels, file name) of an uploaded MIDI placed on the map, or None."""
    from explorer.data.upload import ACCEPTED

    with st.expander("Place your own MIDI on the map", expanded=False):
        up = st.file_uploader("MIDI file", type=["mid", "midi"], key="map_upload")
        if up is None:
            st.caption(f"Its segments are encoded and drawn as ★ on the map. Accepted: {ACCEPTED}.")
            return None
        try:
            up_ds = _upload_segments(up.getvalue(), up.name, tm.n_steps // 16)
        except SkipTune as exc:
            st.error(f"{up.name} cannot be used: {exc.reason}" + (f" ({exc.detail})" if exc.detail else "")
                     + f". Accepted: {ACCEPTED}.")
            return None
        except (MelodyError, ValueError) as exc:
            st.error(f"{up.name} cannot be used: {exc}. Accepted: {ACCEPTED}.")
            return None
        key = (pkey, P.dataset_fingerprint(up_ds))
        placed = page_memory().get(key)
        if placed is None:
            needs_restore = proj.mapper is None
            with st.spinner(f"Placing {len(up_ds)} segments of {up.name}…"):
                mu = P.encode_means(tm, up_ds.tokens, up_ds.chroma)[:, cols]
                placed = page_memory().put(key, proj.transform(mu, latents()[:, cols]))
            if needs_restore and P.METHODS[proj.method].restore_note:
                st.caption(f"The {proj.method} map came from the disk cache: {P.METHODS[proj.method].restore_note}.")
        labels = [f"{up.name}, bars {b + 1}–{b + up_ds.bars}" for b in up_ds.bar]
        st.caption(f"{len(up_ds)} segment{'' if len(up_ds) == 1 else 's'} of {up.name} placed (★).")
        return placed, labels, up.name


def _selected() -> int | None:
    sel = st.session_state.get(MAP_SELECTION_KEY)
    return None if sel is None else int(sel)


def _neighbours(tm, ds, rows, X, cols, i: int):
    """(map positions (K,), distances (K,), whether #i is on the map) of the K_NEIGHBOURS
    nearest points of the map to segment ``i`` in the latents ``X`` (M, d)."""
    pos = int(np.searchsorted(rows, i))
    on_map = pos < len(rows) and rows[pos] == i
    query = X[pos] if on_map else P.encode_means(tm, ds.tokens[i:i + 1], ds.chroma[i:i + 1])[0, cols]
    idx, dist = P.nearest_neighbours(X, query, K_NEIGHBOURS, exclude=pos if on_map else None)
    return idx, dist, on_map


def _marks(rows, coords, i: int | None, neighbours) -> dict:
    """The ring traces of the map: the selected segment ``i`` (if on the map) and its
    ``neighbours`` (map positions), as points (K, 2)."""
    pos = int(np.searchsorted(rows, i)) if i is not None else len(rows)
    on_map = pos < len(rows) and rows[pos] == i
    return {"neighbours": coords[np.asarray(neighbours, int)].reshape(-1, 2),
            "selected": coords[pos:pos + 1] if on_map else np.zeros((0, 2))}


def _selection_ui(settings, tm, rows, X, cols):
    """The selected segment, its reconstruction and its nearest neighbours; returns the
    neighbours' map positions (to ring them on the map)."""
    ds = settings.dataset
    i = _selected()
    st.query_params["point"] = str(i)
    mel = ds.melody(i)
    name = f"{mel.meta['tune_id']}_bar{mel.meta['bar'] + 1}"
    st.subheader(f"#{i}: {ds.describe(i)}")
    st.markdown("**Original**")
    play_ui(mel, settings, key="map_orig", name=name, roll="svg")  # a click redraws both rolls
    st.markdown("**Reconstruction** (posterior mean, greedy decoding)")
    play_ui(tm.reconstruct([mel])[0], settings, key="map_recon", name=f"{name}_recon", roll="svg")
    idx, dist, on_map = _neighbours(tm, ds, rows, X, cols, i)
    space = "whole latent" if cols == slice(0, tm.layout.dims) else f"{st.session_state.map_group} latent"
    st.markdown(f"**{len(idx)} nearest neighbours** (ringed on the map) in the {space} (Euclidean distance between "
                f"posterior means, among the {len(rows)} points of the map)"
                + ("" if on_map else f"; #{i} itself is not on the map"))
    hear = st.toggle("Hear the neighbours", key=NN_AUDIO_KEY, help="Draw a player for each neighbour (each click "
                     "then renders five more clips).")
    for j, (p, d) in enumerate(zip(idx, dist)):
        r = int(rows[p])
        with st.expander(f"#{r}: {ds.describe(r)} · distance {d:.3f}"):
            if hear:
                nm = ds.melody(r)
                play_ui(nm, settings, key=f"map_nn{j}", roll=False,
                        name=f"{nm.meta['tune_id']}_bar{nm.meta['bar'] + 1}")
            st.button("Select this one", key=f"map_nn{j}_go", on_click=_select, args=(r,))
    return idx


@st.fragment(key=SELECTION_PART)
def _selection_part(settings, tm, rows, coords, latents, cols):
    """Beside the map: the selection (or how to make one), and the rings on the map moved to it.
    A click on the map reruns only this."""
    from explorer.ui.map_marks import chart_marks

    i, neighbours = _selected(), []
    if i is None or i >= len(settings.dataset):
        st.info("Click a point on the map (or type a segment number below it) to hear it, its reconstruction "
                "and its nearest neighbours. Drag a box or lasso (tools above the map) to play a selection.")
        i = None
    else:  # the latents are in memory by now (a click came after the map), or this is a shared link
        with st.spinner(f"Playing #{i}…"):
            neighbours = _selection_ui(settings, tm, rows, latents()[:, cols], cols)
    rings = {name: mark_trace(xy, name=name, **RINGS[name]).to_plotly_json()
             for name, xy in _marks(rows, coords, i, neighbours).items()}
    chart_marks(key="map_marks", chart=CHART_KEY, traces=rings,
                watch=(CHART_KEY, PICK_KEY), label="Working…")


def _clear_lasso():
    st.session_state[LASSO_KEY] = []


@st.fragment(key=LASSO_PART)
def _lasso_ui(settings, rows, coords):
    """The segments taken by a box or lasso on the map, played one after another left to right."""
    ds = settings.dataset
    order = playing_order(st.session_state.get(LASSO_KEY) or [], rows, coords)
    if not order:
        return
    played = order[:MAX_PLAYED]
    st.subheader(f"Selection: {len(order)} segment{'s' if len(order) != 1 else ''}")
    st.caption(f"Played left to right across the map{f', the first {MAX_PLAYED}' if len(order) > MAX_PLAYED else ''}"
               f" (one bar of rest between segments): " + ", ".join(f"#{r}" for r in played))
    mels = [ds.melody(r) for r in played]
    midi = midi_to_bytes(melodies_to_midi(mels, gap_steps=16, program=settings.program))
    play_midi_ui(midi, settings, key="map_lasso_play", name=f"map_selection_{len(played)}_segments")
    st.button("Clear the selection", key="map_lasso_clear", on_click=_clear_lasso)


def _regularised_ui(tm, mu, coords, attrs, rows, keep, method):
    reg = tm.layout.regularized
    st.subheader("Regularised dimensions")
    st.caption(f"The same {method} map twice: left coloured by the value of a regularised latent dimension, "
               "right by the attribute it is trained to follow. Similar pictures mean the dimension captures "
               "the attribute.")
    if st.session_state.get("map_ar_attr") not in reg:
        st.session_state.map_ar_attr = next(iter(reg))
    attr = st.selectbox("Attribute", list(reg), key="map_ar_attr", format_func=lambda a: LABELS.get(a, a))
    dim = reg[attr]
    z, a = mu[keep, dim], attrs[attr][rows][keep]
    c1, c2 = st.columns(2)
    c1.plotly_chart(small_map_figure(coords[keep], z, f"z[{dim}]", f"z[{dim}]"), key="map_ar_dim", width="stretch")
    c2.plotly_chart(small_map_figure(coords[keep], a, LABELS.get(attr, attr), short_name(attr)), key="map_ar_true",
                    width="stretch")
    st.caption(f"Pearson correlation of z[{dim}] and {short_name(attr)} over these {int(keep.sum())} points: "
               f"{P.correlation(z, a):.2f}")


def map_page():
    st.title("Latent map")
    settings = sidebar_ui()
    if settings.store is not None:  # a store: its map may hold a million points
        from explorer.ui.bigmap_view import bigmap_view

        return bigmap_view(settings)
    if settings.dataset is None:
        (st.error if settings.error and not settings.error.startswith(("Type", "Upload")) else st.info)(
            settings.error or "Choose data in the sidebar.")
        return
    if settings.model is None:
        st.info("Choose a model in the sidebar (Model) to see the latent map of the data.")
        return
    ds, tm = settings.dataset, settings.model
    if ds.n_steps != tm.n_steps:
        st.error(f"{settings.model_label} reads {tm.n_steps // 16}-bar segments; the data has {ds.bars}-bar segments.")
        return
    _init_state(ds, tm)
    method, group, colour, max_points, params = _controls(tm, len(ds))
    st.query_params.update(method=method, points=str(max_points), color=colour, latent=group)  # a view can be shared
    rows = P.subset_rows(len(ds), max_points)
    if len(rows) < 5:
        st.info(f"The data has {len(rows)} segments; a map needs at least 5.")
        return
    st.caption(f"{settings.model_label} on {settings.data_label}: {len(rows)} of {len(ds)} segments"
               + (" (a fixed random subset)" if len(rows) < len(ds) else "")
               + ("" if P.umap_available() else ". UMAP: not installed (`pip install umap-learn` adds it)"))
    cols = P.group_columns(tm.layout, group)
    lkey = P.latent_key(tm, ds, rows)

    def latents():
        return _latents(tm, ds, rows, lkey)

    proj = _shipped(tm, ds, rows, lkey, group, method, params)
    if proj is None:
        proj = _projection(latents()[:, cols], method, params, (lkey, group))
    else:
        st.caption(f"The {method} map shipped with the app for this model and data (`explorer project` makes it).")
    pkey = P.projection_key(method, proj.params, (lkey, group))
    attrs = ds.attributes()
    keep = _search_ui(ds, attrs, rows)
    placed = _upload_ui(tm, proj, latents, pkey, cols)
    left, right = st.columns([3, 2])
    with right:
        _selection_part(settings, tm, rows, proj.coords, latents, cols)
    with left:
        draw_map(proj.coords, ds, rows, attrs, colour, keep, placed, revision=f"{method}/{group}/{len(rows)}")
        st.number_input("…or pick a segment # (row of the data, as on the Segment player)", min_value=0,
                        max_value=len(ds) - 1, value=None, step=1, key=PICK_KEY, on_change=_take_pick)
        _lasso_ui(settings, rows, proj.coords)
    # a shipped map is drawn before the latents are encoded; the figures below need them
    mu = latents()
    if tm.layout.regularized:
        _regularised_ui(tm, mu, proj.coords, attrs, rows, keep, method)


def draw_map(coords, ds, rows, attrs, colour, keep, placed, *, revision):
    """The map of ``coords`` (M, 2) with the uploaded points ``placed`` (or None), its axes fitted to
    the bulk of the points. The rings of the selected point and its neighbours are drawn over it in
    the browser (:func:`_selection_part`), so a click sends and redraws no part of the map."""
    fig = map_figure(coords, ds, rows, attrs, colour, keep, revision=revision)
    if placed is not None:
        mark_points(fig, placed[0], name=placed[2], symbol="star", colour="#ff3b30", size=16, text=placed[1])
    clipped = robust_axes(fig, coords[keep])
    st.caption(f"{int(keep.sum())} of {len(rows)} points shown"
               + (f" ({clipped} far-out point{'s' if clipped != 1 else ''} outside the axes: zoom out to see "
                  f"{'them' if clipped != 1 else 'it'})" if clipped else "")
               + ". Hover for title, bar and attributes; click one to hear it.")
    st.plotly_chart(fig, key=CHART_KEY, on_select=_take_chart_click, selection_mode=("points", "box", "lasso"),
                    width="stretch")
    st.session_state[MAP_SENT_KEY] = time.perf_counter()  # when the map went out (read by `explorer bench map-open`)
