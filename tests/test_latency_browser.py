"""Issue 16 ("feel like an instrument"): a click on the Latent map and a slider move rerun only
what they change, in Chromium against `streamlit run app.py`. No timing is asserted here (the
figures are in docs/benchmarks.md, from scripts/bench_clicks.py); these check what makes them:
the map's points are not sent again on a click, the rings move in the browser, a slider move
does not rerun the sidebar and the seed, and a "Working…" badge shows while a rerun runs."""
from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from test_browser import (MAP_READY, app_url, browser, no_exception_shown, open_page, page,  # noqa: F401 (fixtures)
                          pytestmark)
from test_live_player import expect_rerun_done

MAP_HOVER = b"segment #%{customdata[0]}"  # in the map's figure (explorer/viz/latent_map.py), nowhere else
BUSY = "#explorer-busy"  # explorer/ui/map_marks.py's badge


@pytest.fixture
def frames(page):  # noqa: F811
    """The websocket frames the page receives from now on (bytes)."""
    got = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda p: got.append(p if isinstance(p, bytes) else p.encode())))
    return got


def _wait_idle(page, ms: int = 1500):
    """Until no frame arrived for ``ms`` (the run has finished sending)."""
    page.wait_for_timeout(ms)


POINT = """(k) => {
  const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
  gd.scrollIntoView({block: "center"});
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), tr = gd._fullData[0];
  return {x: box.left + L._size.l + L.xaxis.d2p(tr.x[k]), y: box.top + L._size.t + L.yaxis.d2p(tr.y[k]),
          px: tr.x[k], py: tr.y[k], row: +tr.customdata[k][0]};
}"""
# The roll a click or move redraws (an <img> of an SVG: inline <svg> would be dropped by st.html's sanitiser)
ROLL_SHOWN = """(key) => { const i = document.querySelector(`img.explorer-roll-img[data-key="${key}"]`);
  return !!i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 100; }"""
RING = """() => { const g = document.querySelector('.st-key-map_chart svg.explorer-marks g[data-name="selected"]');
  return g && g.querySelector("circle") ? [JSON.parse(g.dataset.x), JSON.parse(g.dataset.y)] : null; }"""


def test_a_map_click_plays_the_point_without_sending_the_map_again(page, frames, app_url):  # noqa: F811
    open_page(page, app_url, "Latent map", "latent_map?points=200&method=PCA")
    page.locator(MAP_READY).first.wait_for(timeout=180_000)
    _wait_idle(page, 3000)
    assert any(MAP_HOVER in f for f in frames)  # the map came once, with the page
    for k in (3, 17):  # two clicks: the first selection, then a move of it
        p = page.evaluate(POINT, k)
        frames.clear()
        page.mouse.move(p["x"], p["y"])
        page.mouse.click(p["x"], p["y"])
        page.locator("h3", has_text=f"#{p['row']}:").wait_for()  # the clicked point's details
        page.locator(".st-key-map_orig audio[src^='blob:']").wait_for(state="attached")
        for roll in ("map_orig_roll", "map_recon_roll"):  # both rolls drawn (the reconstruction comes later)
            page.wait_for_function(ROLL_SHOWN, arg=roll)
        page.wait_for_function(f"() => {{ const r = ({RING})(); return r && r[0].length === 1 && "
                               f"r[0][0] === {p['px']!r}; }}")  # the ring moved to it, drawn over the map in the browser
        assert page.evaluate(RING) == [[p["px"]], [p["py"]]]
        _wait_idle(page)
        assert frames, "the click started no rerun"
        assert not any(MAP_HOVER in f for f in frames), "the click sent the map's points again"
    assert "point=" in page.url
    no_exception_shown(page)


def test_the_working_badge_shows_while_a_map_click_reruns(page, app_url):  # noqa: F811
    open_page(page, app_url, "Latent map", "latent_map?points=200&method=PCA")
    page.locator(MAP_READY).first.wait_for(timeout=180_000)
    _wait_idle(page, 3000)
    p = page.evaluate(POINT, 5)
    page.mouse.move(p["x"], p["y"])
    page.mouse.click(p["x"], p["y"])
    page.locator(BUSY).wait_for(state="attached")
    assert int(page.locator(BUSY).get_attribute("data-shown")) >= 1  # it came up on the click
    page.locator("h3", has_text=f"#{p['row']}:").wait_for()
    page.locator(BUSY).wait_for(state="hidden")  # and went once the rerun drew the selection


def test_a_slider_move_reruns_only_the_controls_and_output(page, frames, app_url):  # noqa: F811
    open_page(page, app_url, "Attribute sliders", "attribute_sliders")
    audio = page.locator(".st-key-sl_out audio")
    audio.wait_for(state="attached", timeout=180_000)
    page.wait_for_url("**d0=**")
    _wait_idle(page, 3000)
    assert any(b"Seed melody" in f for f in frames)  # the seed's picker came with the page
    page.locator(".st-key-sl_busy").wait_for(state="attached")  # the run has drawn its last element
    # and the badge's script has run there (it watches the sliders from then on)
    page.locator(".st-key-sl_busy [data-run]").first.wait_for(state="attached")
    before = audio.get_attribute("src")
    frames.clear()
    thumb = page.get_by_role("slider").first
    thumb.focus()
    page.keyboard.press("End")
    page.wait_for_function("(old) => { const a = document.querySelector('.st-key-sl_out audio'); "
                           "return a && a.getAttribute('src') !== old; }", arg=before)
    page.wait_for_url("**d0=3**")
    _wait_idle(page)
    assert frames
    assert not any(b"Seed melody" in f for f in frames), "the move reran the seed's picker (the whole page)"
    assert not any(b"Controllability curve" in f for f in frames), "the move sent the curve again"
    first = {what: next((i for i, f in enumerate(frames) if mark in f), None)
             for what, mark in (("clip", b'"mode":"player"'), ("slider", "· z[".encode()))}
    assert None not in first.values(), first
    assert first["clip"] < first["slider"], "the move's new clip was sent after the controls were drawn again"
    page.wait_for_function(  # the position line moved to the slider's value, drawn over the curve in the browser
        "() => { const g = document.querySelector('.st-key-sl_curve svg.explorer-marks g[data-name=\"position\"]');"
        " return g && JSON.parse(g.dataset.x)[0] === 3; }")
    assert int(page.locator(BUSY).get_attribute("data-shown")) >= 1  # the badge came up for the move
    page.locator(BUSY).wait_for(state="hidden")
    page.wait_for_function(ROLL_SHOWN, arg="sl_out_roll")  # the output's roll is drawn, not only sent
    no_exception_shown(page)


def test_the_badge_comes_up_for_a_slider_after_the_curve_was_drawn_again(page, app_url):  # noqa: F811
    """The page draws two marks elements, the curve's (watching nothing) and the one after the
    sliders (watching them): redrawing the curve alone (a new sweep) must not stop the sliders
    being watched (it did: both shared one watch list, the last drawn won, and the badge of a
    move then depended on which of the two the browser drew last)."""
    open_page(page, app_url, "Attribute sliders", "attribute_sliders")
    page.locator(".st-key-sl_out audio").wait_for(state="attached", timeout=180_000)
    page.locator(".st-key-sl_busy [data-run]").first.wait_for(state="attached")
    curve = page.locator(".st-key-sl_curve_marks [data-run]").first
    curve.wait_for(state="attached")
    run = curve.get_attribute("data-run")
    expect_rerun_done(page)
    sweep = page.locator('[data-testid="stSelectbox"]').filter(has_text="Sweep")
    for _ in range(5):  # a rerun that draws the box again closes its menu: open it again
        sweep.click()
        try:
            page.get_by_role("option").nth(1).click(timeout=5_000)  # another sweep: the curve's fragment alone reruns
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        raise AssertionError("the Sweep box's menu did not open")
    page.wait_for_function("(old) => { const e = document.querySelector('.st-key-sl_curve_marks [data-run]');"
                           " return e && e.dataset.run !== old; }", arg=run)
    _wait_idle(page)
    thumb = page.get_by_role("slider").first
    thumb.focus()
    page.keyboard.press("End")
    page.locator(BUSY).wait_for(state="attached", timeout=10_000)
    assert int(page.locator(BUSY).get_attribute("data-shown")) >= 1
    page.locator(BUSY).wait_for(state="hidden")
    no_exception_shown(page)
