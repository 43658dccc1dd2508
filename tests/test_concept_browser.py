"""The Concept page's "Draw the concept" view in a real browser (Chromium through Playwright,
`streamlit run app.py`, the shipped rhythm model): a click on the rhythm grid turns a hold into an
onset, the drawn concept is decoded and plays — real audio, not the melody before the click — and
an impossible rhythm typed in the box gets a message, not a traceback. The server, browser and
page fixtures are test_browser.py's."""
from __future__ import annotations

import io
import os
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from test_browser import (CHROMIUM, PLAYER, app_url, browser, no_exception_shown, open_page, page,  # noqa: F401
                          wav_of_audio_element)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

MODEL = "extres-rhythm-nottingham-pop909-bach"
GRID = '[data-testid="stPlotlyChart"] .js-plotly-plot'  # the draw view's first chart is the concept grid
BOX = "Rhythm, one symbol per position"


def _wait_for_audio(page, old: str = "") -> str:
    page.wait_for_function("([sel, old]) => { const a = document.querySelector(sel + ' audio'); "
                           "return a && a.src && a.src.startsWith('blob:') && a.src != old; }",
                           arg=[PLAYER, old], timeout=180_000)
    return page.locator(PLAYER).first.locator("audio").get_attribute("src")


def _click_cell(page, position: int, cls: int):
    """Click the grid's point for (position, class): its pixel from plotly's own axis conversion
    (the cells lie under plotly's drag layer, so the element itself takes no click)."""
    page.locator(GRID).first.scroll_into_view_if_needed()
    x, y = page.evaluate("""([i, k, sel]) => {
        const gd = document.querySelector(sel);
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        const tr = gd._fullData.find(t => t.customdata);
        const j = tr.customdata.findIndex(c => c[0] == i && c[1] == k);
        return [box.left + L._size.l + L.xaxis.d2p(tr.x[j]), box.top + L._size.t + L.yaxis.d2p(tr.y[j])];
    }""", [position, cls, GRID])
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def _rms(wav: bytes) -> float:
    import soundfile as sf

    return float(np.sqrt(np.mean(np.square(sf.read(io.BytesIO(wav))[0]))))


def test_clicking_the_rhythm_grid_decodes_and_plays_the_drawn_concept(page, app_url):  # noqa: F811
    open_page(page, app_url, "Concept", f"concept?model={MODEL}&view=draw")
    page.get_by_role("heading", name="Draw the concept").wait_for()
    before_src = _wait_for_audio(page)
    before = wav_of_audio_element(page, 0)
    box = page.get_by_label(BOX)
    start = box.input_value().replace(" ", "")
    assert len(start) == 32 and "–" in start, start  # A's rhythm holds a note somewhere
    i = start.index("–")
    _click_cell(page, i, 0)  # that hold becomes an onset
    page.wait_for_function("([label, i]) => { const b = [...document.querySelectorAll('input')].find("
                           "e => e.getAttribute('aria-label') == label); "
                           "return b && b.value.replace(/ /g, '')[i] == '●'; }", arg=[BOX, i], timeout=180_000)
    _wait_for_audio(page, before_src)
    after = wav_of_audio_element(page, 0)
    assert after[:4] == b"RIFF" and _rms(after) > 1e-3 and after != before
    page.wait_for_url(lambda url: parse_qs(urlparse(url).query).get("y", [""])[0][i:i + 1] == "0")
    # an impossible rhythm: a hold right after a rest
    box.fill(".-" + "o---" * 7 + "o-")
    box.press("Enter")
    page.locator('[data-testid="stAlertContentError"]', has_text="position 2: a hold needs a note before it").wait_for()
    no_exception_shown(page)
