"""The app in a real browser: `streamlit run app.py` driven by Playwright through Chromium.

Every test opens the root URL first and navigates by clicking: a first session that opens a
sub-page URL directly can get Streamlit's legacy ``pages/`` mode instead of ``st.navigation``.
"""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from helpers_app import BROKEN_MIDI, ROOT, melody_midi_bytes

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[test])")
expect, sync_playwright, PlaywrightTimeout = sync_api.expect, sync_api.sync_playwright, sync_api.TimeoutError

CHROMIUM = os.environ.get("LATENT_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]
START_TIMEOUT_S = 60
UI_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"no Chromium at {CHROMIUM} (set LATENT_EXPLORER_CHROMIUM to its path)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A `streamlit run app.py` server on a free port, its caches in a temporary folder."""
    tmp = tmp_path_factory.mktemp("browser_app")
    env = dict(os.environ, LATENT_EXPLORER_CACHE=str(tmp / "cache"), PYTHONUNBUFFERED="1")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp / "streamlit.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not come up at {url} (exit code {proc.poll()}):\n"
                            + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test, so each test is a new Streamlit session."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    context.close()


def open_segment_player(page, app_url):
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    assert page.title() == "Latent Explorer"
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Segment player").click()
    page.get_by_role("heading", name="Segment player").wait_for()


def choose_upload(page):
    """Switch the sidebar to uploads; the page then asks for a file and plays nothing."""
    page.locator('[data-testid="stSidebar"]').get_by_text("Upload a MIDI file", exact=True).click()
    page.get_by_text("Upload a MIDI file (.mid) in the sidebar.").wait_for()
    expect(page.locator("audio")).to_have_count(0)  # waits for the run to drop the old player
    # the MIDI uploader (the model picker may show a checkpoint uploader too)
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="MIDI file").locator('input[type="file"]')


PLAYER = '.clip-player[data-mode="player"]'  # explorer/ui/clip_player.py's one-clip player


def player_index(page, key: str) -> int:
    """The index among the page's one-clip players of the one drawn with ``key``."""
    return page.evaluate(f"() => [...document.querySelectorAll('{PLAYER}')].findIndex((p) => p.closest('.st-key-{key}'))")


def wav_of_audio_element(page, index: int = 0) -> bytes:
    """The WAV download of the page's ``index``-th player, after checking that its <audio> plays
    audio embedded in the page (a blob: URL, not a /media URL the server may have dropped)."""
    player = page.locator(PLAYER).nth(index)
    src = player.locator("audio").get_attribute("src")
    assert src and src.startswith("blob:"), f"the <audio> element plays {src!r}, not embedded audio"
    assert page.evaluate("async s => (await (await fetch(s)).arrayBuffer()).byteLength", src) > 1000
    with page.expect_download() as download:
        player.get_by_role("button", name="WAV").click()
    return Path(download.value.path()).read_bytes()


def audio_duration_s(page) -> float:
    """The first <audio>'s duration in seconds once the browser has loaded it; a JS error if it cannot."""
    return page.evaluate("""async () => {
        const a = document.querySelector("audio");
        a.load();
        await new Promise((ok, fail) => {
            a.addEventListener("loadedmetadata", ok, {once: true});
            a.addEventListener("error", () => fail(new Error("audio error " + (a.error && a.error.code))),
                               {once: true});
            setTimeout(() => fail(new Error("no metadata in 20 s")), 20000);
        });
        return a.duration;
    }""")


def subheader(page) -> str:
    return page.locator("h3").first.inner_text().strip()


def assert_no_traceback(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.locator("body").inner_text()


def test_segment_player_plays_audio(page, app_url):
    open_segment_player(page, app_url)
    page.locator("audio").wait_for(state="attached")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    wav = wav_of_audio_element(page)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert len(wav) > 10_000
    assert audio_duration_s(page) > 1.0
    assert "seg=" in page.url
    assert_no_traceback(page)


def test_corrupt_upload_shows_a_clear_error(page, app_url):
    open_segment_player(page, app_url)
    choose_upload(page).set_input_files(files=[
        {"name": "broken.mid", "mimeType": "audio/midi", "buffer": BROKEN_MIDI}])
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for()
    assert "cannot be used" in error.inner_text()
    assert "unreadable MIDI" in error.inner_text()
    expect(page.locator("audio")).to_have_count(0)
    assert_no_traceback(page)


def test_valid_upload_shows_piano_roll_and_audio(page, app_url):
    open_segment_player(page, app_url)
    choose_upload(page).set_input_files(files=[
        {"name": "tiny.mid", "mimeType": "audio/midi", "buffer": melody_midi_bytes()}])
    page.get_by_role("heading", name="tiny.mid (upload), bar 1").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.locator("audio").wait_for(state="attached")
    wav = wav_of_audio_element(page)
    assert wav[:4] == b"RIFF" and len(wav) > 10_000
    assert audio_duration_s(page) > 1.0  # two 4/4 bars at 120 qpm last 4 s
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert_no_traceback(page)


def test_chosen_segment_survives_a_visit_to_home(page, app_url):
    open_segment_player(page, app_url)
    page.locator("audio").wait_for(state="attached")
    first = subheader(page)
    for _ in range(5):  # a random pick may land on the first row again; five cannot all do
        page.get_by_role("button", name="Random segment").click()
        try:
            page.wait_for_function("t => { const h = document.querySelector('h3'); return h && h.innerText.trim() != t; }",
                                   arg=first, timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    chosen = subheader(page)
    assert chosen != first
    sidebar = page.locator('[data-testid="stSidebar"]')
    instrument = sidebar.get_by_role("combobox", name="Instrument")
    instrument.click()
    page.keyboard.type("Violin")  # filter the list, then take the match
    page.keyboard.press("Enter")
    page.wait_for_url("**program=40**")
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Home").click()
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    nav.get_by_role("link", name="Segment player").click()
    page.get_by_role("heading", name="Segment player").wait_for()
    page.locator("audio").wait_for(state="attached")
    assert subheader(page) == chosen
    assert instrument.input_value() == "40: Violin"
    assert "program=40" in page.url
    assert_no_traceback(page)


ARTIFACTS = ROOT / "tests" / "artifacts"  # git ignores it; screenshots for people to look at
# (title, url path and query, what shows that the page has done its work)
PAGE_CHECKS = [
    ("Segment player", "segment_player", "audio"),
    ("Latent map", "latent_map?points=200&method=PCA", '[data-testid="stPlotlyChart"]'),
    ("Attribute sliders", "attribute_sliders", "audio"),
    ("Interpolation", "interpolation?steps=3", "audio"),
    ("Analogy", "analogy?model=ec2vae-nottingham-pop909-bach-oneills-airds-essen", "audio"),
    ("Performance style", "performance_style", "audio"),
    ("Model report", "model_report", '[data-testid="stPlotlyChart"]'),
    ("Compare models", "compare?steps=3", "audio"),
]


def no_exception_shown(page):
    assert page.locator('[data-testid="stException"]').count() == 0, "an exception box is shown"
    assert "Traceback" not in page.locator("body").inner_text()


def test_every_page_renders_without_an_exception(page, app_url):
    """Visit every page (the map on a 200-point PCA view so it stays quick), wait for what
    it shows, screenshot it, and check that no exception is shown."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(app_url + "/")  # the entry point runs first, so sub-page URLs use st.navigation
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    no_exception_shown(page)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    for title, url, done in PAGE_CHECKS:
        page.goto(f"{app_url}/{url}")
        page.get_by_role("heading", name=title).first.wait_for()
        page.locator(done).first.wait_for(state="attached", timeout=180_000)
        page.wait_for_timeout(1000)
        no_exception_shown(page)
        page.screenshot(path=str(ARTIFACTS / f"{title.lower().replace(' ', '_')}.png"), full_page=True)


def open_page(page, app_url, title: str, url: str):
    """The root first (so the sub-page runs under st.navigation), then the page's URL."""
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    page.goto(f"{app_url}/{url}")
    page.get_by_role("heading", name=title).first.wait_for()


def test_moving_a_slider_renders_new_audio(page, app_url):
    open_page(page, app_url, "Attribute sliders", "attribute_sliders")
    out = page.locator(".st-key-sl_out audio")  # the output's player (the seed's sits above, in an expander)
    out.wait_for(state="attached", timeout=180_000)
    before = out.get_attribute("src")
    page.wait_for_url("**d0=**")
    d0 = parse_qs(urlparse(page.url).query)["d0"][0]
    thumb = page.get_by_role("slider").first  # the first regularised dimension of the shipped AR-VAE
    thumb.focus()
    # one key, one rerun: "End" takes the dim to the top of its range, a clearly different melody.
    # (40 quick ArrowRight presses once left the value at the range's bottom in CI — see the note
    # of 2026-12-02 — a Streamlit race under interrupted reruns, not what this test is about.)
    page.keyboard.press("End")
    page.wait_for_function("([old]) => { const a = document.querySelector('.st-key-sl_out audio'); return a && a.src && "
                           "!a.src.endsWith(old); }", arg=[before], timeout=60_000)
    page.wait_for_function("([old]) => { const m = location.search.match(/[?&]d0=([^&]*)/); "
                           "return m && m[1] != old; }", arg=[d0])
    assert float(parse_qs(urlparse(page.url).query)["d0"][0]) == 3.0 != float(d0)  # the slider's value is in the URL
    wav = wav_of_audio_element(page, player_index(page, "sl_out"))
    assert wav[:4] == b"RIFF" and len(wav) > 10_000
    no_exception_shown(page)


def _click_first_map_point(page):
    """Click the 4th point of the map's first trace. The map is a WebGL scatter (no SVG per
    point), so the point's pixel comes from plotly's own axis conversion."""
    page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.scroll_into_view_if_needed()
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        gd.scrollIntoView({block: "center"});
        const L = gd._fullLayout, box = gd.getBoundingClientRect(), tr = gd._fullData[0];
        return [box.left + L._size.l + L.xaxis.d2p(tr.x[3]), box.top + L._size.t + L.yaxis.d2p(tr.y[3])];
    }""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)


MAP_READY = '[data-testid="stPlotlyChart"] .js-plotly-plot .nsewdrag'


def test_clicking_a_map_point_plays_it_and_its_neighbours(page, app_url):
    open_page(page, app_url, "Latent map", "latent_map?points=200&method=PCA")
    page.locator(MAP_READY).first.wait_for(timeout=180_000)
    expect(page.locator("audio")).to_have_count(0)  # nothing chosen yet
    _click_first_map_point(page)
    page.get_by_text("Reconstruction (posterior mean, greedy decoding)").wait_for()
    page.wait_for_function("() => document.querySelectorAll('audio').length >= 2")
    assert "point=" in page.url
    wav = wav_of_audio_element(page)
    assert wav[:4] == b"RIFF" and len(wav) > 10_000
    no_exception_shown(page)


def test_an_uploaded_midi_is_placed_on_the_map(page, app_url):
    open_page(page, app_url, "Latent map", "latent_map?points=200&method=PCA")
    page.locator(MAP_READY).first.wait_for(timeout=180_000)
    page.get_by_text("Place your own MIDI on the map").click()
    page.locator('[data-testid="stExpander"] input[type="file"]').set_input_files(files=[
        {"name": "tiny.mid", "mimeType": "audio/midi", "buffer": melody_midi_bytes()}])
    page.get_by_text("of tiny.mid placed (★)").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="tiny.mid").first.wait_for()
    # a broken file gets a clear message on the same page
    page.locator('[data-testid="stExpander"] input[type="file"]').set_input_files(files=[
        {"name": "broken.mid", "mimeType": "audio/midi", "buffer": BROKEN_MIDI}])
    page.locator('[data-testid="stAlertContentError"]', has_text="broken.mid cannot be used").wait_for()
    no_exception_shown(page)


def _wavs_of_audio_elements(page, at_least: int) -> list[bytes]:
    page.wait_for_function(f"() => [...document.querySelectorAll('audio')].filter(a => a.src).length >= {at_least}",
                           timeout=180_000)
    return [wav_of_audio_element(page, k) for k in range(at_least)]


def test_the_concept_page_plays_variations_that_differ(page, app_url):
    """ExtRes (issue 14): the Concept page on the shipped rhythm model plays its variations —
    real, non-silent WAVs, not one clip repeated."""
    import soundfile as sf

    open_page(page, app_url, "Concept", "concept?model=extres-rhythm-nottingham-pop909-bach")
    wavs = _wavs_of_audio_elements(page, 3)
    assert all(w[:4] == b"RIFF" for w in wavs) and len(set(wavs)) >= 2
    assert all(float(np.sqrt(np.mean(np.square(sf.read(io.BytesIO(w))[0])))) > 1e-3 for w in wavs)
    no_exception_shown(page)


def test_the_style_transfer_page_plays_original_and_transfer(page, app_url):
    """MIDI-VAE (issue 13): the Style transfer page on a shipped pair plays the original and the
    transferred piece, and they differ."""
    open_page(page, app_url, "Style transfer", "style_transfer")
    wavs = _wavs_of_audio_elements(page, 3)
    assert all(w[:4] == b"RIFF" and len(w) > 10_000 for w in wavs) and len(set(wavs)) >= 2
    no_exception_shown(page)
