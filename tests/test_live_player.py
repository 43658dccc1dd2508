"""The embedded-clip player (explorer/ui/clip_player.py) in Chromium: a player on screen keeps
playing after an interrupted rerun, its downloads are the rendered WAV and the MIDI, the sliders
page auto-plays a change, and the live mode switches sound in the browser without a rerun.
The server, browser and page fixtures are test_browser.py's."""
from __future__ import annotations

import io
import os

import pytest

from test_browser import CHROMIUM, PLAYER, app_url, browser, open_page, page, player_index, wav_of_audio_element  # noqa: F401

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

SLIDERS = ("Attribute sliders", "attribute_sliders")


# Where a playhead stands as drawn, in % of its roll's width (it rides on a track that a
# Web Animation moves on the compositor, so no style property of its own says where it is)
HEAD_AT = """(e) => { const roll = e.closest('.clip-roll'), r = roll.getBoundingClientRect(), h = e.getBoundingClientRect();
  return 100 * (h.left + h.width / 2 - r.left - roll.clientLeft) / roll.clientWidth; }"""


def expect_rerun_done(page):
    """Wait until Streamlit shows no run in progress (its status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)

# Fetch the source of the page's k-th <audio> every 20 ms until told to stop, keeping the HTTP
# statuses: what a user pressing play on that player in that time would get.
POLL = """([k, s]) => { window.__statuses = []; window.__stop = false;
    const poll = async () => {
        if (window.__stop) return;
        const a = document.querySelectorAll("audio")[k];
        if (a && a.getAttribute("src") === s) {
            try { window.__statuses.push((await fetch(s)).status); } catch (e) { window.__statuses.push(String(e)); }
        }
        setTimeout(poll, 20);
    };
    poll(); }"""


def test_a_player_on_screen_still_plays_after_an_interrupted_rerun(page, app_url):
    """Two slider moves in one task of the page: the run of the first stops early for the second,
    and Streamlit drops the /media files that run did not draw again while their players are on
    screen. An embedded clip (blob: URL) cannot be dropped by the server."""
    open_page(page, app_url, *SLIDERS)
    page.wait_for_function("() => document.querySelectorAll('audio').length >= 2", timeout=180_000)
    page.wait_for_url("**d1=**")
    page.wait_for_function(  # the sliders are drawn after the output (its clip goes out first)
        """() => document.querySelectorAll('[data-testid="stSlider"] input[type="range"]').length >= 2""")
    src = page.locator(".st-key-sl_out audio").get_attribute("src")
    assert src and src.startswith("blob:"), f"the output player plays {src!r}, a URL the server may drop"
    k = page.evaluate("() => [...document.querySelectorAll('audio')].findIndex((a) => a.closest('.st-key-sl_out'))")
    page.evaluate(POLL, [k, src])
    page.evaluate("""() => { const s = document.querySelectorAll('[data-testid="stSlider"] input[type="range"]');
        for (const t of [s[0], s[1]]) { t.focus();
            for (const type of ["keydown", "keyup"]) t.dispatchEvent(new KeyboardEvent(type, {key: "End", bubbles: true})); } }""")
    page.wait_for_function("() => /[?&]d0=3(&|$)/.test(location.search) && /[?&]d1=3(&|$)/.test(location.search)",
                           timeout=120_000)  # the second run has finished
    page.wait_for_timeout(500)
    page.evaluate("() => { window.__stop = true; }")
    statuses = page.evaluate("() => window.__statuses")
    assert statuses and all(s == 200 for s in statuses), f"fetching the player's {src} gave {statuses}"


def test_the_downloads_are_the_rendered_wav_and_the_midi(page, app_url):
    """The WAV the browser builds from the embedded FLAC is, sample for sample, what the server
    renders from the MIDI download."""
    import soundfile as sf

    from explorer.audio import render_wav_bytes

    open_page(page, app_url, *SLIDERS)
    out = page.locator(f".st-key-sl_out {PLAYER}")  # the output's (the seed's sits above, in an expander)
    out.locator("audio").wait_for(state="attached", timeout=180_000)
    with page.expect_download() as midi:
        out.get_by_role("button", name="MIDI").click()
    assert midi.value.suggested_filename.endswith(".mid")
    midi_bytes = open(midi.value.path(), "rb").read()
    assert midi_bytes[:4] == b"MThd"
    wav = wav_of_audio_element(page, player_index(page, "sl_out"))
    got, rate = sf.read(io.BytesIO(wav), dtype="int16")
    want, want_rate = sf.read(io.BytesIO(render_wav_bytes(midi_bytes)), dtype="int16")
    assert rate == want_rate and got.shape == want.shape and (got == want).all()


def test_autoplay_plays_a_change_and_the_toggle_stops_it(page, app_url):
    open_page(page, app_url, *SLIDERS)
    output = page.locator(f".st-key-sl_out {PLAYER} audio")
    output.wait_for(state="attached", timeout=180_000)
    page.wait_for_url("**d0=**")
    assert output.evaluate("a => a.paused")  # a first visit stays quiet
    first = output.get_attribute("src")
    page.get_by_role("slider").first.press("End")
    page.wait_for_function("s => { const a = document.querySelector('.st-key-sl_out audio'); return a && a.src != s && !a.paused; }",
                           arg=first, timeout=120_000)
    assert output.evaluate("a => a.loop")
    head = page.locator(".st-key-sl_out .clip-playhead")  # started before the clip's length was known
    page.wait_for_function("a => a.readyState >= 1", arg=output.element_handle())
    at = head.evaluate(HEAD_AT)
    page.wait_for_timeout(400)
    assert head.evaluate(HEAD_AT) != at, "the playhead stands still while an auto-played clip plays"
    page.get_by_text("Auto-play changes").click()  # off
    expect_rerun_done(page)
    second = output.get_attribute("src")
    output.evaluate("a => a.pause()")
    page.get_by_role("slider").first.press("Home")
    page.wait_for_function("s => { const a = document.querySelector('.st-key-sl_out audio'); return a && a.src != s; }",
                           arg=second, timeout=120_000)
    page.wait_for_timeout(1000)
    assert output.evaluate("a => a.paused")


def test_the_live_range_switches_sound_in_the_browser_without_a_rerun(page, app_url):
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    open_page(page, app_url, *SLIDERS)
    page.locator(PLAYER).first.locator("audio").wait_for(state="attached", timeout=180_000)
    page.get_by_text("Live range").click()
    live = page.locator('.clip-player[data-mode="live"]')
    page.locator('.clip-player[data-mode="live"][data-state="ready"]').wait_for(timeout=180_000)
    expect_rerun_done(page)
    live.get_by_role("button", name="▶ Play").click()
    first = live.get_attribute("data-playing")
    assert first
    box = live.locator('input[type="range"]').bounding_box()
    y = box["y"] + box["height"] / 2
    before = len(sent)
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    heard = set()
    for k in range(0, 21, 4):  # a slow drag across the range: six positions
        page.mouse.move(box["x"] + 2 + k * (box["width"] - 4) / 20, y, steps=2)
        page.wait_for_timeout(100)
        heard.add(live.get_attribute("data-playing"))
    assert len(sent) == before, "the drag sent messages to the server"
    assert live.get_attribute("data-index") == "20"
    assert len(heard) >= 2, "the sound did not change along the range"
    assert int(live.get_attribute("data-switches")) >= 2
    page.mouse.up()  # the release tells the server, once: the slider takes the position
    page.wait_for_function("() => /[?&]d0=3(&|$)/.test(location.search)", timeout=120_000)
    assert len(sent) > before
