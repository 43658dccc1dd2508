"""Playing like an instrument, in Chromium (issue 16): the players' playhead follows the sound
and stops with it, space plays/stops the page's main player (not while typing or on a slider),
and the live palette of the Interpolation page switches sound under the pointer or the arrow
keys with no message to the server, the release selecting the cell there.
The server, browser and page fixtures are test_browser.py's."""
from __future__ import annotations

import os

import pytest

from test_browser import CHROMIUM, app_url, browser, open_page, page  # noqa: F401
from test_live_player import HEAD_AT, expect_rerun_done

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

MAIN = '.clip-player[data-mode="player"][data-main]'  # the timeline's player
PALETTE = '.clip-player[data-mode="palette"]'


def playhead_at(page, selector: str) -> float:
    """Where the playhead under ``selector`` stands, in % of its roll."""
    return round(float(page.locator(selector).evaluate(HEAD_AT)), 3)


def moves(page, selector: str, ms: int = 400) -> bool:
    a = playhead_at(page, selector)
    page.wait_for_timeout(ms)
    return playhead_at(page, selector) != a


def layouts_in(page, ms: int) -> int:
    """How many times Chromium laid the page out in the next ``ms`` (its own counter, over CDP)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def count():
        return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "LayoutCount")
    before = count()
    page.wait_for_timeout(ms)
    n = count() - before
    cdp.detach()
    return int(n)


def open_interpolation(page, app_url, query: str):
    open_page(page, app_url, "Interpolation", f"interpolation?{query}")
    page.locator(MAIN).locator("audio").wait_for(state="attached", timeout=180_000)
    page.wait_for_function(f"() => document.querySelector('{MAIN} audio').readyState >= 1", timeout=60_000)
    expect_rerun_done(page)


def main_paused(page) -> bool:
    return page.locator(MAIN).locator("audio").evaluate("a => a.paused")


def test_space_plays_the_main_player_and_its_playhead_follows_the_sound(page, app_url):
    open_interpolation(page, app_url, "steps=3")
    head = f"{MAIN} .clip-playhead"
    assert page.locator(f"{MAIN} .clip-roll rect").count() > 0, "the player draws no notes"
    assert main_paused(page) and not moves(page, head, 200)
    page.get_by_role("heading", name="Interpolation").first.click()  # focus on the page, not a field
    page.keyboard.press("Space")
    page.wait_for_function(f"() => !document.querySelector('{MAIN} audio').paused")
    assert moves(page, head), "the playhead stands still while the clip plays"
    assert layouts_in(page, 1000) <= 5, "a playing clip lays the page out every frame (its playhead set by script)"
    # the "pause" event (a task after `paused` turns true) places the playhead where the sound
    # stopped; the player listened for it first, so once this listener has heard it the player has too
    page.locator(f"{MAIN} audio").evaluate(
        "a => { window.__paused = false; a.addEventListener('pause', () => { window.__paused = true; },"
        " {once: true}); }")
    page.keyboard.press("Space")
    page.wait_for_function("() => window.__paused")
    page.wait_for_function(f"""() => {{ const a = document.querySelector('{MAIN} audio');
      const at = ({HEAD_AT})(document.querySelector('{head}'));
      return Math.abs(at - 100 * a.currentTime / a.duration) < 1.0; }}""")
    assert not moves(page, head), "the playhead moves after the clip stopped"
    t, d = page.locator(f"{MAIN} audio").evaluate("a => [a.currentTime, a.duration]")
    assert abs(playhead_at(page, head) - 100 * t / d) < 1.0  # where the sound stopped

    # a space typed into a field is the field's; a slider keeps its arrow keys
    field = page.locator('[data-testid="stMultiSelect"] input').first
    field.click()
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert main_paused(page), "a space typed into a field played the clip"
    page.keyboard.press("Escape")  # the field's menu closes
    steps = page.locator('[data-testid="stSlider"] input[type="range"]').first
    steps.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => /[?&]steps=4(&|$)/.test(location.search)", timeout=120_000)
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert main_paused(page), "a space on the slider played the clip"


def test_the_live_palette_switches_sound_under_the_pointer_without_the_server(page, app_url):
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    open_interpolation(page, app_url, "steps=3&grid=3")
    page.get_by_text("Live palette").click()
    grid = page.locator(f"{PALETTE}[data-state='ready']")
    grid.wait_for(timeout=180_000)
    expect_rerun_done(page)
    live = page.locator(PALETTE)
    cells = live.locator(".clip-cell")
    assert cells.count() == 9 and live.locator(".clip-cell rect").count() > 0

    def centre(k):
        box = cells.nth(k).bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    before = len(sent)
    page.mouse.move(*centre(0))
    assert live.get_attribute("data-playing") is None  # a pointer passing over a quiet grid plays nothing
    page.mouse.down()  # a press plays the cell under it
    page.wait_for_function(f"() => document.querySelector('{PALETTE}').dataset.playing")
    heard = {live.get_attribute("data-playing")}
    for k in (1, 4, 8):  # a drag across the grid
        page.mouse.move(*centre(k), steps=3)
        page.wait_for_timeout(150)
        assert live.get_attribute("data-index") == str(k)
        heard.add(live.get_attribute("data-playing"))
    assert moves(page, f"{PALETTE} .clip-cell.current .clip-playhead"), "the playhead stands still"
    assert len(sent) == before, "the drag sent messages to the server"
    assert int(live.get_attribute("data-switches")) >= 3
    assert len(heard) >= 2, "the sound did not change across the grid"

    page.mouse.up()  # the release selects the cell on the server
    live.locator('.clip-cell.selected[data-cell="D"]').wait_for(timeout=120_000)  # the server's answer
    expect_rerun_done(page)
    cell = page.locator('[data-testid="stSelectbox"]').filter(has_text="Cell (or click one)")
    shown = cell.inner_text() + " ".join(i.input_value() for i in cell.locator("input").all())
    assert "D" in shown.replace("Cell (or click one)", ""), f"the cell selector shows {shown!r}"
    assert live.get_attribute("data-playing"), "the selection stopped the sound"

    before = len(sent)
    page.mouse.move(*centre(3), steps=3)  # hovering while it plays switches too
    page.wait_for_timeout(150)
    assert live.get_attribute("data-index") == "3"
    page.keyboard.press("Tab")  # nothing else: the keys go to the grid
    live.locator(".clip-grid").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    assert live.get_attribute("data-index") == "1"
    page.keyboard.press("Space")  # stops, the playhead where the sound stopped
    page.wait_for_function(f"() => !document.querySelector('{PALETTE}').dataset.playing")
    assert not moves(page, f"{PALETTE} .clip-cell.current .clip-playhead")
    assert len(sent) == before, "hovering or the arrow keys sent messages to the server"
    assert live.locator(".clip-cell.selected").get_attribute("data-cell") == "D"
