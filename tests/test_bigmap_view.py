"""AppTest runs of the Latent map on a store (issue 17's million-point map), on a synthetic store of
3,000 segments with latents under the tiny test AR-VAE's name and a point threshold of 300."""
from __future__ import annotations

import base64
import importlib.util
import json
import shutil

import numpy as np
import pytest

from clip_players import audio_players, players
from explorer.audio import audio_status
from helpers_app import ROOT, run_app
from test_page_map import ok

PAGE = str(ROOT / "pages" / "latent_map.py")
N, THRESHOLD = 3000, 300

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches", "app_env", "store_env")


def _make_store():
    spec = importlib.util.spec_from_file_location("make_synthetic_store", ROOT / "scripts" / "make_synthetic_store.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A folder the app may read with a store (latents under "arvae-tiny", 8 dims) in it."""
    root = tmp_path_factory.mktemp("stores")
    _make_store()(root / "walks", N, shard_rows=1000, key="arvae-tiny", dim=8)
    return root


@pytest.fixture
def store_env(stores, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_FOLDER_ROOTS", str(stores))
    monkeypatch.setenv("LATENT_EXPLORER_BIGMAP_POINTS", str(THRESHOLD))
    return stores


def run_store_map(store="walks", model="arvae-tiny", **query):
    return run_app(PAGE, timeout=120, data="store", store=store, model=model, **query)


def spec(at) -> dict:
    """The store map's plotly figure as the browser gets it."""
    return json.loads(next(c.proto.spec for c in at.get("plotly_chart") if "big_chart" in c.proto.id))


def array(value) -> np.ndarray:
    """A figure's array as sent to the browser (plotly sends numpy arrays as base64 ``bdata``)."""
    if isinstance(value, dict):
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return a.reshape([int(k) for k in str(value["shape"]).split(",")]) if "shape" in value else a
    return np.asarray(value)


def real_points(fig) -> list[int]:
    """The store rows drawn as real (clickable) points."""
    return sorted(int(r) for t in fig["data"] if t.get("customdata") is not None
                  for r in array(t["customdata"]).reshape(-1))


def send_event(at, selection: dict):
    """Send the map's selection event the way ``AppTest.run`` sends widget state (private API: AppTest
    cannot click or drag on a plotly chart; tests/test_page_map.py does the same)."""
    chart = next(c for c in at.get("plotly_chart") if "big_chart" in c.proto.id)
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = chart.proto.id
    w.string_value = json.dumps({"selection": {"points": [], "point_indices": [], "box": [], "lasso": [],
                                               **selection}})
    return ok(at._run(states))


def coords(stores):
    from explorer.data.store import open_store
    from explorer.latent.bigmap import cached_projection

    return cached_projection(open_store(stores / "walks"), "arvae-tiny", "PCA")[0]  # what the page drew (cached)


def small_box(xy, centre, lo=20, hi=THRESHOLD):
    """A square box around ``centre`` holding between ``lo`` and ``hi`` points."""
    for half in np.geomspace(0.01, 10, 60):
        inside = np.flatnonzero((np.abs(xy[:, 0] - centre[0]) <= half) & (np.abs(xy[:, 1] - centre[1]) <= half))
        if lo <= len(inside) <= hi:
            return [centre[0] - half, centre[0] + half], [centre[1] - half, centre[1] + half], inside
    pytest.fail("no box with a few hundred points")


def test_a_store_map_is_a_density_image_of_every_segment():
    at = ok(run_store_map())
    fig = spec(at)
    assert len(fig["layout"]["images"]) == 1 and fig["layout"]["images"][0]["source"].startswith("data:image/png")
    assert real_points(fig) == []  # 3,000 points in view, over the threshold: none drawn
    assert any(c.value.startswith(f"{N:,} of {N:,} points in this view") for c in at.caption)
    # the other pages get a bounded sample of the store as their dataset; here the store is small
    assert any(f"{N:,} segments" in c.value for c in at.sidebar.caption)


def test_zooming_to_a_box_shows_the_real_points_and_a_click_selects_and_plays_one(store_env):
    at = run_store_map()
    xy = coords(store_env)
    bx, by, inside = small_box(xy, xy[0])
    send_event(at, {"box": [{"x": bx, "y": by}]})
    fig = spec(at)
    assert real_points(fig) == inside.tolist()
    assert fig["layout"]["xaxis"]["range"] == pytest.approx(bx)
    row = int(inside[len(inside) // 2])
    send_event(at, {"points": [{"curve_number": 2, "point_index": 0, "customdata": [row], "x": 0, "y": 0}]})
    assert at.session_state["big_selected"] == row
    assert at.subheader[0].value.startswith(f"#{row}: Synthetic walk {row // 16} (synthetic:walks-")
    assert len(players(at)) == 2  # original and reconstruction
    if audio_status()[0]:
        assert len(audio_players(at)) == 2
    neighbours = [c.value for c in at.caption if "distance" in c.value]
    assert len(neighbours) == 5
    rings = {t["name"]: t for t in spec(at)["data"] if t.get("name") in ("selected", "neighbours")}
    assert array(rings["selected"]["x"]).tolist() == pytest.approx([float(xy[row, 0])])
    # a neighbour's button moves the selection there; the zoomed view stays
    target = int(neighbours[0].split(":")[0][1:])
    at.button(key="big_nn0").click().run()
    assert ok(at).session_state["big_selected"] == target
    assert spec(at)["layout"]["xaxis"]["range"] == pytest.approx(bx)
    at.button(key="big_reset").click().run()
    assert real_points(spec(ok(at))) == []


def test_a_click_on_the_density_selects_the_nearest_real_point(store_env):
    at = run_store_map()
    xy = coords(store_env)
    x, y = float(xy[:, 0].mean()) + 0.123, float(xy[:, 1].mean())
    send_event(at, {"points": [{"curve_number": 1, "point_index": 3, "x": x, "y": y}]})
    want = int(np.argmin(np.hypot(xy[:, 0] - x, xy[:, 1] - y)))
    assert at.session_state["big_selected"] == want
    assert at.subheader[0].value.startswith(f"#{want}:")


def test_filters_and_colouring_change_what_is_aggregated():
    at = run_store_map()
    at.selectbox(key="big_color").set_value("note_density").run()
    fig = spec(ok(at))
    bar = next(t for t in fig["data"] if t.get("marker", {}).get("showscale"))
    assert bar["marker"]["colorbar"]["title"]["text"] == "note density"
    at.text_input(key="big_title").set_value("walk 7").run()  # tunes 7, 70-79, 700-... : 16 segments each
    shown = next(c.value for c in ok(at).caption if "points in this view" in c.value)
    kept = int(shown.split(" of ")[1].split(" points")[0].replace(",", ""))
    assert kept == sum("walk 7" in f"Synthetic walk {r // 16}" for r in range(N))  # the script's titles


def test_a_store_without_latents_of_the_model_says_which_command_makes_them(store_env):
    at = ok(run_store_map(model="ec2vae-tiny"))
    assert any("holds no latents of ec2vae-tiny" in w.value for w in at.warning)
    assert at.code[0].value == f"explorer encode ec2vae-tiny --data {store_env / 'walks'}"
    assert not at.get("plotly_chart")


def test_a_broken_or_foreign_store_gives_a_clear_message(store_env):
    (store_env / "notastore").mkdir(exist_ok=True)
    at = ok(run_store_map(store="notastore"))
    assert any("is not a store" in e.value for e in at.error), [e.value for e in at.error]
    broken = store_env / "broken"
    if not broken.exists():
        shutil.copytree(store_env / "walks", broken)
        (broken / "segments" / "part-00001.parquet").unlink()
    at = ok(run_store_map(store="broken"))
    assert any("damaged store" in e.value and "part-00001" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("plotly_chart")
