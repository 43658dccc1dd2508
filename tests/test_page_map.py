"""AppTest runs of the Latent map page with tiny untrained checkpoints and a small N."""
from __future__ import annotations

import base64
import json

import numpy as np

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.audio import audio_status
from explorer.music.attributes import AR_ATTRIBUTES, ATTRIBUTES, LABELS
from explorer.ui.map_page import CATEGORIES
from explorer.ui.resources import default_dataset
from helpers_app import BROKEN_MIDI, ROOT, melody_midi_bytes, run_app
from clip_players import audio_players, players

PAGE = str(ROOT / "pages" / "latent_map.py")
N = 120  # points on the map: small, so t-SNE takes a second

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches", "app_env")


def run_map(model="arvae-tiny", **query) -> AppTest:
    return run_app(PAGE, timeout=120, **{"model": model, "points": str(N), **query})


def ok(at) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def map_spec(at) -> dict:
    """The plotly figure of the main map, as the browser would get it."""
    chart = next(c for c in at.get("plotly_chart") if "map_chart" in c.proto.id)
    return json.loads(chart.proto.spec)


def xs(trace) -> np.ndarray:
    """A trace's x values; plotly sends numpy arrays as base64 ``bdata``."""
    x = trace["x"]
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
    return np.asarray(x, float)


def ys(trace) -> np.ndarray:
    return xs({"x": trace["y"]})


def map_marks(at) -> dict:
    """The data of the marks the selection sends to the map (explorer/ui/map_marks.py)."""
    element = next(e for e in at.get("bidi_component") if "map_marks" in e.proto.component_name)
    return json.loads(json.loads(element.proto.json))  # a JSON string, sent as JSON


def n_points(spec) -> int:
    """Dataset points on the map (the star and ring markers carry no customdata)."""
    return sum(len(xs(t)) for t in spec["data"] if t.get("customdata") is not None)


def test_map_of_the_default_data_with_pca():
    at = run_map()
    assert at.title[0].value == "Latent map"
    assert at.radio(key="map_method").value == "PCA"
    assert "UMAP" in at.radio(key="map_method").options or any("UMAP: not installed" in c.value for c in at.caption)
    spec = map_spec(at)
    assert n_points(spec) == N
    # hover names the tune, the bar and every attribute
    template = spec["data"][0]["hovertemplate"]
    assert "bar %{customdata[2]}" in template and all(a.replace("_", " ") in template for a in ATTRIBUTES)
    assert "Click a point" in at.info[0].value
    # the AR-VAE pair: the same map coloured by a regularised dim and by its attribute
    assert "Regularised dimensions" in [s.value for s in at.subheader]
    assert at.selectbox(key="map_ar_attr").options == [LABELS[a] for a in AR_ATTRIBUTES]
    assert len(at.get("plotly_chart")) == 3


def test_colour_by_attribute_collection_or_split():
    at = run_map()
    box = at.selectbox(key="map_color")
    assert box.options == [LABELS[a] for a in ATTRIBUTES] + list(CATEGORIES.values())
    assert "colorbar" in map_spec(at)["data"][0]["marker"]  # continuous scale
    box.set_value("collection").run()
    names = {t["name"] for t in map_spec(ok(at))["data"]}
    assert names <= {"music21:oneills1850", "music21:airdsAirs", "music21:bach"} and len(names) >= 2
    at.selectbox(key="map_color").set_value("split").run()
    names = {t["name"] for t in map_spec(ok(at))["data"]}
    assert names <= {"train", "valid", "test"} and "train" in names
    assert n_points(map_spec(at)) == N


def test_tsne_on_a_small_map():
    at = run_map()
    pca = xs(map_spec(at)["data"][0])
    at.radio(key="map_method").set_value("t-SNE").run()
    ok(at)
    assert at.slider(key="map_perplexity").value == 30
    spec = map_spec(at)
    assert n_points(spec) == N and not np.allclose(xs(spec["data"][0]), pca)
    assert at.query_params["method"] == "t-SNE" and at.query_params["points"] == str(N)


def test_picking_a_segment_plays_it_its_reconstruction_and_neighbours():
    ds = default_dataset()
    at = run_map()
    at.number_input(key="map_pick").set_value(7).run()
    ok(at)
    assert at.session_state["map_selection"] == 7
    assert at.query_params["point"] == "7"
    assert at.subheader[0].value == f"#7: {ds.describe(7)}"
    neighbours = [e.label for e in at.expander if "distance" in e.label]
    assert len(neighbours) == 5 and all(not lab.startswith("#7:") for lab in neighbours)
    assert len(players(at)) == 2  # original and reconstruction; the neighbours' players on demand
    at.toggle(key="map_nn_audio").set_value(True).run()
    assert len(players(ok(at))) == 7  # original, reconstruction, five neighbours, each with its MIDI
    if audio_status()[0]:
        assert len(audio_players(at)) == 7
    # a neighbour's button moves the selection there
    target = int(neighbours[0].split(":")[0][1:])
    at.button(key="map_nn0_go").click().run()
    assert ok(at).session_state["map_selection"] == target
    assert at.number_input(key="map_pick").value == target


def test_point_in_the_url_restores_the_selection():
    ds = default_dataset()
    at = run_map(point="42")
    assert at.session_state["map_selection"] == 42
    assert at.subheader[0].value == f"#42: {ds.describe(42)}"


def send_selection(at, indices, rows, **shapes):
    """Send the map's selection event (points of trace 0 at ``indices`` with dataset ``rows``,
    and ``box=[...]`` or ``lasso=[...]`` shapes) the way ``AppTest.run`` sends widget state
    (private API: AppTest cannot click or drag on a plotly chart)."""
    chart = next(c for c in at.get("plotly_chart") if "map_chart" in c.proto.id)
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = chart.proto.id
    points = [{"curve_number": 0, "point_index": i, "customdata": [r]} for i, r in zip(indices, rows)]
    w.string_value = json.dumps({"selection": {"points": points, "point_indices": list(indices),
                                               "box": shapes.get("box", []), "lasso": shapes.get("lasso", [])}})
    return at._run(states)


def test_clicking_a_point_selects_its_row():
    """A click as the browser reports it: the chart's selection with the point's customdata.

    AppTest cannot click a plotly chart, so the widget state is sent the way
    ``AppTest.run`` sends it (private API; the number input above covers the same state).
    """
    at = run_map()
    spec = map_spec(at)
    row = spec["data"][0]["customdata"][3][0]
    send_selection(at, [3], [row])
    ok(at)
    assert at.session_state["map_selection"] == row
    assert at.query_params["point"] == str(row)
    # the selected point is ringed on the map: the click reran only the selection beside the map,
    # whose marks draw the ring over the map in the browser; the map itself was not sent again
    assert not [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]
    ring = map_marks(at)["traces"]["selected"]
    assert (ring["x"], ring["y"]) == ([xs(spec["data"][0])[3]], [ys(spec["data"][0])[3]])
    full = at.run()  # a full run sends the same map (no rings in it) and the rings again
    assert map_spec(full) == spec and map_marks(full)["traces"]["selected"] == ring


def test_attribute_filter_hides_points_outside_the_range():
    at = run_map()
    at.selectbox(key="map_filter").set_value("pitch_range").run()
    slider = ok(at).slider(key="map_range_pitch_range")
    lo, hi = slider.value
    at.slider(key="map_range_pitch_range").set_value((lo, lo + (hi - lo) / 4)).run()
    shown = n_points(map_spec(ok(at)))
    assert 0 < shown < N
    assert any(c.value.startswith(f"{shown} of {N} points shown") for c in at.caption)


def test_uploaded_midi_is_placed_on_the_map_and_bad_files_are_refused():
    at = run_map()
    at.file_uploader(key="map_upload").set_value(("tiny.mid", melody_midi_bytes(), "audio/midi")).run()
    ok(at)
    assert not at.error
    stars = [t for t in map_spec(at)["data"] if t["name"] == "tiny.mid"]
    assert len(stars) == 1 and len(xs(stars[0])) == 1 and stars[0]["marker"]["symbol"] == "star"
    at.file_uploader(key="map_upload").set_value(("broken.mid", BROKEN_MIDI, "audio/midi")).run()
    ok(at)
    assert len(at.error) == 1
    assert "broken.mid cannot be used: unreadable MIDI" in at.error[0].value and "Accepted:" in at.error[0].value


def test_ec2vae_maps_one_latent_group_and_has_no_regularised_figure():
    at = run_map(model="ec2vae-tiny", method="t-SNE")
    assert at.selectbox(key="map_group").options == ["whole z", "pitch part of z", "rhythm part of z"]
    assert "Regularised dimensions" not in [s.value for s in at.subheader]
    at.selectbox(key="map_group").set_value("pitch").run()
    assert n_points(map_spec(ok(at))) == N
    at.number_input(key="map_pick").set_value(3).run()
    assert "in the pitch latent" in "\n".join(m.value for m in ok(at).markdown)


def test_without_a_model_the_page_says_to_choose_one():
    at = run_map()
    at.sidebar.selectbox(key="model_name").set_value("(upload my own checkpoint)").run()
    ok(at)
    assert any("Choose a model in the sidebar" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_encoding_and_projecting_show_a_status_then_come_from_memory_or_disk():
    def statuses(at):
        return [s.label for s in at.status]

    first = run_map(points="97")  # a size no other test uses: nothing cached yet
    labels = statuses(first)
    assert labels[0].startswith("Encoded 97 segments in") and labels[1].startswith("Computed the PCA map in")
    assert statuses(run_map(points="97")) == []  # same process: from memory, no status at all
    st.cache_resource.clear()  # a restarted server: only the disk cache is left
    labels = statuses(run_map(points="97"))
    assert labels[0].startswith("Read the latents of 97 segments from the disk cache")
    assert labels[1].startswith("Read the map from the disk cache")


def test_latent_choice_comes_from_and_goes_to_the_url():
    at = run_map("ec2vae-tiny", latent="rhythm")
    assert at.selectbox(key="map_group").value == "rhythm" and at.query_params["latent"] == "rhythm"
    at.selectbox(key="map_group").set_value("pitch").run()
    assert ok(at).query_params["latent"] == "pitch"
    assert run_map("ec2vae-tiny", latent="nonsense").selectbox(key="map_group").value == "whole z"


def test_a_shipped_map_is_drawn_without_computing_and_a_far_out_point_stays_off_the_axes(app_env, tmp_path,
                                                                                          monkeypatch):
    from explorer.latent import projection as P
    from explorer.latent import shipped as S
    from explorer.models.trained import TrainedModel

    monkeypatch.setattr(S, "shipped_dir", lambda: tmp_path / "projections")
    tm, ds = TrainedModel.load(app_env / "arvae-tiny.safetensors", device="cpu"), default_dataset()
    rows = P.subset_rows(len(ds), 98)  # a size no other test uses: nothing in memory
    file = S.build_shipped(tm, ds, rows, methods=("PCA",))
    with np.load(file) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = S.shipped_key(tm, ds, rows, P.WHOLE_Z, "PCA", {})
    arrays[key][5] = arrays[key][:, 0].max() * 1000  # one point far away from the rest
    np.savez(file, **arrays)
    monkeypatch.setitem(P.METHODS, "PCA", P.Method(lambda *a: pytest.fail("computed"), P.METHODS["PCA"].restore,
                                                   {"seed": 0}))
    at = run_map(points="98")
    assert any("map shipped with the app" in c.value for c in at.caption)
    # no map computed or read from the cache; only the latents (which build_shipped left on disk), after the map
    assert [s.label.split(" in ")[0] for s in at.status] == ["Read the latents of 98 segments from the disk cache"]
    spec = map_spec(at)
    np.testing.assert_allclose(xs(spec["data"][0]), arrays[key][:, 0].astype(float), rtol=1e-3)
    x0, x1 = spec["layout"]["xaxis"]["range"]
    assert x1 < arrays[key][5, 0] and (np.delete(arrays[key][:, 0], 5) <= x1).all()
    assert any("1 far-out point outside the axes" in c.value for c in at.caption)


def test_search_by_title_and_source_keeps_the_matching_points():
    ds = default_dataset()
    at = run_map()
    rows = np.array([int(r) for t in map_spec(at)["data"] for r in np.asarray(t["customdata"])[:, 0]])
    titles = [str(ds.tune_title[ds.tune[r]]).lower() for r in rows]
    word = next(w for t in titles for w in t.split() if len(w) > 4)
    at.text_input(key="map_title").set_value(word.upper()).run()
    assert n_points(map_spec(ok(at))) == sum(word in t for t in titles) < N
    at.text_input(key="map_title").set_value("").run()
    source = str(ds.source[rows[0]])
    at.multiselect(key="map_sources").set_value([source]).run()
    assert n_points(map_spec(ok(at))) == int((ds.source[rows] == source).sum())


def test_a_box_selection_plays_its_segments_left_to_right_as_one_midi(monkeypatch):
    from explorer.music.convert import melodies_to_midi, midi_to_bytes
    from explorer.ui import map_page

    played = {}
    real = map_page.play_midi_ui
    monkeypatch.setattr(map_page, "play_midi_ui", lambda midi, settings, *, key, name, **kw: (
        played.__setitem__(key, (midi, name)), real(midi, settings, key=key, name=name, **kw)))
    ds = default_dataset()
    at = run_map()
    trace = map_spec(at)["data"][0]
    idx = [10, 3, 25, 7]
    rows = [int(np.asarray(trace["customdata"])[i, 0]) for i in idx]
    x = xs(trace)
    want = [r for _, r in sorted(zip(x[idx], rows))]  # left to right
    send_selection(at, idx, rows, box=[{"x": [0, 1], "y": [0, 1]}])
    ok(at)
    assert "map_selection" not in at.session_state  # a box is not a click
    assert any(h.value == "Selection: 4 segments" for h in at.subheader)
    assert any(c.value.endswith(", ".join(f"#{r}" for r in want)) for c in at.caption)
    midi, name = played["map_lasso_play"]
    assert name == "map_selection_4_segments"
    assert midi == midi_to_bytes(melodies_to_midi([ds.melody(r) for r in want], gap_steps=16, program=0))
    at.button(key="map_lasso_clear").click().run()
    assert not any(h.value.startswith("Selection:") for h in ok(at).subheader)


def test_the_selected_points_neighbours_are_ringed_on_the_map():
    at = run_map()
    trace = map_spec(at)["data"][0]
    at.number_input(key="map_pick").set_value(7).run()  # reruns the selection beside the map, not the map
    ringed = map_marks(ok(at))["traces"]["neighbours"]  # the rings it moves on the map in the browser
    labels = [int(e.label.split(":")[0][1:]) for e in at.expander if "distance" in e.label]
    pos = {int(r): i for i, r in enumerate(np.asarray(trace["customdata"])[:, 0])}
    assert len(labels) == 5
    np.testing.assert_allclose(sorted(xs(ringed)), sorted(xs(trace)[[pos[r] for r in labels]]))
