"""The Latent map of a store in Chromium (issue 17): a synthetic store of 3,000 segments under the
shipped 64-dim AR-VAE's name, a point threshold of 300; open the map (a density image), drag a box
to zoom until real points are drawn, click one and hear it, then select a neighbour and hear a
new clip. The drag, the clicks and the waits are those of scripts/bench_bigmap.py."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from helpers_app import ROOT
from test_bigmap_view import _make_store
from test_browser import browser, no_exception_shown, open_page, page, pytestmark, wav_of_audio_element  # noqa: F401

sys.path.insert(0, str(ROOT / "scripts"))
from bench_bigmap import IMAGE, MODEL, RANGE, REAL_POINT, click_real_point, dense_centre, settle, zoom_into  # noqa: E402

N, THRESHOLD = 3000, 300


@pytest.fixture(scope="module")
def store_app(tmp_path_factory):
    """(URL of `streamlit run app.py` that may read a folder holding the store, the store's path)."""
    from bench_app import serving

    root = tmp_path_factory.mktemp("bigmap_browser")
    store = _make_store()(root / "walks", N, shard_rows=1000)
    env = {"LATENT_EXPLORER_FOLDER_ROOTS": str(root), "LATENT_EXPLORER_BIGMAP_POINTS": str(THRESHOLD)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the server is started with them; this process gets its own back below
    try:
        with serving("bigmap-browser-") as url:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            yield url, store
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def test_a_store_map_zooms_to_real_points_and_a_click_plays_them(page, store_app):  # noqa: F811
    from explorer.data.store import open_store
    from explorer.latent.bigmap import cached_projection

    url, store = store_app
    open_page(page, url, "Latent map", f"latent_map?data=store&store={store}&model={MODEL}")
    page.wait_for_function(f"() => !!({IMAGE})()", timeout=120_000)
    settle(page)
    assert page.evaluate(REAL_POINT) is None  # 3,000 points in view: a density image only
    xy = cached_projection(open_store(store), MODEL, "PCA")[0]  # the map the app drew (cached beside the store)
    centre = dense_centre(store)
    for _ in range(4):  # boxes of 30 % of the view around a dense spot, until real points are drawn
        zoom_into(page, centre, 0.3)
        if page.evaluate(REAL_POINT):
            break
    drawn = page.evaluate("""() => document.querySelector('.st-key-big_chart .js-plotly-plot')._fullData
        .find(d => d.customdata && d.customdata.length).customdata.map(r => Number(typeof r === "object" ? r[0] : r))""")
    x0, x1, y0, y1 = page.evaluate(RANGE)  # the view the last box zoomed to
    shown = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    assert sorted(drawn) == shown.tolist() and 0 < len(shown) <= THRESHOLD
    row, _ = click_real_point(page)
    assert row in shown.tolist()
    first = page.locator(".st-key-big_orig audio").get_attribute("src")
    page.locator(".st-key-big_nn0 button").click()  # the nearest neighbour: another segment, another clip
    page.wait_for_function("(old) => { const a = document.querySelector('.st-key-big_orig audio'); "
                           "return a && a.src.startsWith('blob:') && a.getAttribute('src') !== old; }", arg=first)
    wav = wav_of_audio_element(page)
    assert wav[:4] == b"RIFF" and len(wav) > 10_000
    no_exception_shown(page)
