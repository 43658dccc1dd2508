"""The Latent map of a store (issue 17): every segment of the store, up to millions, as a density
image aggregated on the server (explorer.viz.bigmap), with the real points drawn once a view holds
few enough of them. Drag a box to zoom into it; click a real point (or the density: the nearest
real point is taken) to hear it, its reconstruction and its nearest neighbours in latent space.

The latents come from the store (``explorer encode CKPT --data STORE`` writes them); the 2-D map
is fitted on a sample and applied to all rows, and cached beside the store
(explorer.latent.bigmap). ``LATENT_EXPLORER_BIGMAP_POINTS`` sets how many points a view may hold
before they are drawn as points (default :data:`explorer.viz.bigmap.POINT_THRESHOLD`).
"""
from __future__ import annotations

import os
import time
from dataclasses import astuple

import numpy as np
import streamlit as st

from explorer.latent import bigmap as B
from explorer.latent import projection as P
from explorer.lru import LRU
from explorer.music.attributes import LABELS
from explorer.ui.resources import computed
from explorer.ui.player import play_ui
from explorer.ui.plot_events import clicked_rows
from explorer.viz import bigmap as V
from explorer.viz.latent_map import RINGS, short_name

THRESHOLD_ENV = "LATENT_EXPLORER_BIGMAP_POINTS"
DENSITY = "(density: points per pixel)"
NO_FILTER = "(no filter)"
K_NEIGHBOURS = 5
CHART_KEY = "big_chart"
VIEW_KEY = "big_view"  # (x0, x1, y0, y1) or None: the whole map
VIEW_OF = "big_view_of"  # what the view belongs to (a new map starts at the whole map)
SELECTED_KEY = "big_selected"
POINTER_KEY = "big_pointer"  # (x, y) of a click on the density: the nearest real point is taken
PICK_KEY = "big_pick"


def point_threshold() -> int:
    """Points a view may hold before they are drawn (and can be clicked): ``LATENT_EXPLORER_BIGMAP_POINTS``."""
    raw = os.environ.get(THRESHOLD_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return V.POINT_THRESHOLD


@st.cache_resource(show_spinner=False)
def _memory() -> LRU:
    return LRU(8)  # a million 64-dim latents are 256 MB


def _ident(store) -> str:
    return f"{store.path}|{len(store)}|{store.shard_names()}"


def _latents(store, key: str) -> np.ndarray:
    def compute(progress):
        mu = store.latents(key)
        progress(1, 1, "latents")
        return mu, f"Read {len(mu):,} latents from the store"

    return computed(("latents", B.latent_id(store, key)), f"Reading {len(store):,} latents…", compute, _memory())


def _coords(store, key: str, method: str, group: str, cols: slice) -> np.ndarray:
    mem_key = ("coords", B.latent_id(store, key), method, group)
    cached = mem_key in _memory() or B.projection_file(store, key, method, columns=cols).is_file()
    latents = None if cached else _latents(store, key)  # read outside the map's status box (no nesting)

    def compute(progress):
        coords, from_disk = B.cached_projection(store, key, method, columns=cols, latents=latents,
                                                progress=lambda d, n: progress(d, n, "points placed"))
        return coords, ("Read the map from the store folder" if from_disk else
                        f"Fitted {method} on {min(len(store), B.SAMPLE_FIT):,} points and placed all {len(store):,}")

    return computed(mem_key, f"Making the {method} map of {len(store):,} points…", compute, _memory())


def _columns(store) -> dict:
    """Attributes (name → (N,) float32), titles and sources (TextColumn), bars (N,) of the store."""
    def compute(progress):
        attrs = store.columns(store.attribute_names())
        progress(1, 3, "columns")
        text = store.columns(["title", "tune_id", "source", "bar"])
        progress(2, 3, "columns")
        titles = np.where(text["title"] != "", text["title"], text["tune_id"])
        cols = {"attrs": attrs, "titles": B.TextColumn(titles), "sources": B.TextColumn(text["source"]),
                "bar": text["bar"]}
        progress(3, 3, "columns")
        return cols, f"Read the titles and attributes of {len(store):,} segments"

    return computed(("columns", _ident(store)), f"Reading the titles and attributes of {len(store):,} segments…",
                    compute, _memory())


def _neighbour_index(store, key, group, X) -> B.LatentIndex:
    mem, k = _memory(), ("index", B.latent_id(store, key), group)
    index = mem.get(k)
    if index is None:
        index = mem.put(k, B.LatentIndex(X))
    return index


def _point_index(store, key, method, group, coords) -> B.PointIndex:
    mem, k = _memory(), ("points", B.latent_id(store, key), method, group)
    index = mem.get(k)
    if index is None:
        index = mem.put(k, B.PointIndex(coords))
    return index


# ---- events -------------------------------------------------------------------------------
def _take_event():
    """on_select of the map: a box zooms to it; a click on a real point selects it; a click on the
    density remembers where it was (the nearest real point is taken in the next run)."""
    event = st.session_state.get(CHART_KEY) or {}
    selection = event.get("selection") or {}
    box = selection.get("box") or []
    if box and box[-1].get("x") and box[-1].get("y"):
        try:
            v = V.View.of_box(box[-1]["x"], box[-1]["y"])
        except ValueError:  # a box of no width: nothing to zoom to
            return
        st.session_state[VIEW_KEY] = (v.x0, v.x1, v.y0, v.y1)
        return
    rows = clicked_rows(event)
    if rows:
        st.session_state[SELECTED_KEY] = int(rows[-1])
        return
    points = [p for p in selection.get("points") or [] if isinstance(p, dict) and "x" in p and "y" in p]
    if points:
        st.session_state[POINTER_KEY] = (float(points[-1]["x"]), float(points[-1]["y"]))


def _select(row: int):
    st.session_state[SELECTED_KEY] = int(row)


def _take_pick():
    if st.session_state.get(PICK_KEY) is not None:
        _select(int(st.session_state[PICK_KEY]))


def _zoom(factor: float | None, full: tuple):
    view = st.session_state.get(VIEW_KEY) or full
    if factor is None:
        st.session_state[VIEW_KEY] = None
    else:
        st.session_state[VIEW_KEY] = astuple(V.View(*view).zoomed(factor))


# ---- sections -----------------------------------------------------------------------------
def _controls(tm, attrs):
    c1, c2, c3 = st.columns([2, 2, 3])
    methods = [m for m in B.BIG_METHODS if m in P.METHODS]
    if st.session_state.get("big_method") not in methods:
        st.session_state.big_method = "PCA"
    method = c1.radio("Projection", methods, key="big_method", horizontal=True,
                      help=f"Fitted on {B.SAMPLE_FIT:,} points drawn at random, then applied to every point.")
    if st.session_state.get("big_group") not in [P.WHOLE_Z, *tm.layout.groups]:
        st.session_state.big_group = P.WHOLE_Z
    group = c2.selectbox("Latent", [P.WHOLE_Z, *tm.layout.groups], key="big_group",
                         format_func=lambda g: g if g == P.WHOLE_Z else f"{g} part of z", disabled=not tm.layout.groups)
    colour = c3.selectbox("Colour by", [DENSITY, *attrs], key="big_color",
                          format_func=lambda a: a if a == DENSITY else LABELS.get(a, a))
    return method, group, colour


def _filters_ui(cols) -> np.ndarray:
    """The (N,) mask kept by the search: title, sources and one attribute's range (as on the small map)."""
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    title = c1.text_input("Title contains", key="big_title", placeholder="e.g. reel")
    chosen = c2.multiselect("Sources", sorted(cols["sources"].values.tolist()), key="big_sources",
                            placeholder="all sources")
    attrs = cols["attrs"]
    attr = c3.selectbox("Attribute range", [NO_FILTER, *attrs], key="big_filter",
                        format_func=lambda a: a if a == NO_FILTER else short_name(a))
    ranges = {}
    if attr != NO_FILTER:
        lo, hi = float(np.nanmin(attrs[attr])), float(np.nanmax(attrs[attr]))
        if hi > lo:
            ranges[attr] = c4.slider(LABELS.get(attr, attr), lo, hi, (lo, hi), key=f"big_range_{attr}",
                                     step=(hi - lo) / 100)
        else:
            c4.caption(f"Every point has {short_name(attr)} = {lo:g}.")
    return B.filter_mask(len(cols["titles"]), titles=cols["titles"], title=title, sources=cols["sources"],
                         chosen_sources=chosen or None, ranges=ranges, attrs=attrs)


def _selection_ui(settings, tm, store, X, index, i: int) -> np.ndarray:
    """The selected segment #i of the store, its reconstruction and its nearest neighbours (rows, returned)."""
    rows, dist = index.query(X[i], K_NEIGHBOURS, exclude=i)
    ds = store.to_dataset(np.concatenate([[i], rows]))
    mel = ds.melody(0)
    name = f"{mel.meta['tune_id']}_bar{mel.meta['bar'] + 1}"
    st.subheader(f"#{i}: {ds.describe(0)}")
    st.markdown("**Original**")
    play_ui(mel, settings, key="big_orig", name=name, roll="svg")
    st.markdown("**Reconstruction** (posterior mean, greedy decoding)")
    play_ui(tm.reconstruct([mel])[0], settings, key="big_recon", name=f"{name}_recon", roll="svg")
    st.markdown(f"**{len(rows)} nearest neighbours** (ringed on the map) in latent space, among all "
                f"{len(store):,} segments of the store (Euclidean distance between posterior means)")
    for j, (r, d) in enumerate(zip(rows, dist)):
        c1, c2 = st.columns([5, 1])
        c1.caption(f"#{r}: {ds.describe(j + 1)} · distance {d:.3f}")
        c2.button("Select", key=f"big_nn{j}", on_click=_select, args=(int(r),))
    return rows


def _resolve_pointer(points: B.PointIndex, keep: np.ndarray):
    """A click on the density selects the nearest real point kept by the filters."""
    xy = st.session_state.pop(POINTER_KEY, None)
    if xy is None:
        return
    rows, _ = points.nearest(*xy, k=min(64, len(points)))
    kept = rows[keep[rows]]
    if len(kept):
        _select(int(kept[0]))


def bigmap_view(settings):
    """The Latent map of the store ``settings.store`` under the sidebar's model."""
    store, tm = settings.store, settings.model
    if tm is None:
        st.info("Choose a model in the sidebar (Model) to see the latent map of the store.")
        return
    if store.bars * 16 != tm.n_steps:
        st.error(f"{settings.model_label} reads {tm.n_steps // 16}-bar segments; the store {store.path.name} "
                 f"holds {store.bars}-bar segments.")
        return
    keys = B.model_latent_keys(store, settings.model_label, tm.layout.dims)
    if not keys:
        have = ", ".join(store.latent_keys()) or "none"
        st.warning(f"The store {store.path.name} holds no latents of {settings.model_label} (it holds: {have}). "
                   f"Encode its {len(store):,} segments with this model first:")
        st.code(B.encode_hint(store, settings.model_label), language="bash")
        return
    key = keys[0]
    cols = _columns(store)
    method, group, colour = _controls(tm, list(cols["attrs"]))
    st.caption(f"{settings.model_label} on the store {store.path.name}: all {len(store):,} segments, latents "
               f"`{key}`. To zoom in, pick Box Select (the dotted square above the map) and drag a box; points are drawn, and can be clicked, once a view holds at most "
               f"{point_threshold():,}; a click on the density takes the nearest point.")
    gcols = P.group_columns(tm.layout, group)
    coords = _coords(store, key, method, group, gcols)  # a cached map is drawn before the latents are read
    keep = _filters_ui(cols)
    _resolve_pointer(_point_index(store, key, method, group, coords), keep)
    full = V.full_view(coords)
    if st.session_state.get(VIEW_OF) != (B.latent_id(store, key), method, group):
        st.session_state[VIEW_OF] = (B.latent_id(store, key), method, group)
        st.session_state[VIEW_KEY] = None
    view = V.View(*st.session_state[VIEW_KEY]) if st.session_state.get(VIEW_KEY) else full
    sel = st.session_state.get(SELECTED_KEY)
    sel = int(sel) if sel is not None and 0 <= int(sel) < len(store) else None
    left, right = st.columns([3, 2])
    neighbours = np.zeros(0, np.int64)
    with right:
        if sel is None:
            st.info("Click a point on the map (zoom in until points are drawn, or click the density) or type a "
                    "segment number below it to hear it, its reconstruction and its nearest neighbours.")
        else:
            with st.spinner(f"Playing #{sel}…"):
                X = _latents(store, key)[:, gcols]
                neighbours = _selection_ui(settings, tm, store, X, _neighbour_index(store, key, group, X), sel)
    with left:
        _draw(coords, view, full, keep, cols, colour, sel, neighbours)
        st.number_input("…or pick a segment # (row of the store)", min_value=0, max_value=len(store) - 1, value=None,
                        step=1, key=PICK_KEY, on_change=_take_pick)


def _draw(coords, view, full, keep, cols, colour, sel, neighbours):
    attrs, titles, bars = cols["attrs"], cols["titles"], cols["bar"]
    values = None if colour == DENSITY else attrs[colour]
    value_range = None if values is None else tuple(float(q) for q in np.nanpercentile(values, [1, 99]))
    if value_range is not None and not value_range[1] > value_range[0]:
        value_range = (value_range[0], value_range[0] + 1.0)

    def hover(rows):
        return [f"<b>{t}</b><br>bar {b + 1} · segment #{r}" + (f"<br>{short_name(colour)}: {v:.3f}"
                                                              if values is not None else "")
                for t, b, r, v in zip(titles[rows], bars[rows], rows, values[rows] if values is not None else rows)]

    rings = {"neighbours": (coords[neighbours].reshape(-1, 2), RINGS["neighbours"])}
    if sel is not None:
        rings["selected"] = (coords[[sel]], RINGS["selected"])
    t0 = time.perf_counter()
    fig, facts = V.bigmap_figure(coords, view, keep=keep, values=values, label=short_name(colour),
                                 value_range=value_range, hover=hover, threshold=point_threshold(), rings=rings)
    c1, c2, c3 = st.columns([5, 1, 1])
    c1.caption(f"{facts['in_view']:,} of {int(keep.sum()):,} points in this view"
               + (" (drawn: click one)" if facts["points_drawn"] else " (zoom in to reach the points)")
               + f" · drawn in {1000 * (time.perf_counter() - t0):.0f} ms")
    c2.button("Zoom out", key="big_zoom_out", on_click=_zoom, args=(2.0, astuple(full)),
              disabled=view == full)
    c3.button("Whole map", key="big_reset", on_click=_zoom, args=(None, ()), disabled=view == full)
    st.plotly_chart(fig, key=CHART_KEY, on_select=_take_event, selection_mode=("points", "box"), width="stretch")
