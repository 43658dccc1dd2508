"""The Compare page in a real browser (Chromium through Playwright, `streamlit run app.py`): two
shipped models chosen on the page play their reconstructions of one melody — real audio, and not
the same — and a 2-bar and a 16-bar model get a message instead. The server, browser and page
fixtures are test_browser.py's."""
from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest

from test_browser import CHROMIUM, app_url, assert_no_traceback, browser, open_page, page  # noqa: F401

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

FIRST = "musicvae-nottingham-pop909-bach"  # the sidebar's model (from the URL)
RECON = ".st-key-cmp_recon_{}"  # the page's container of model 1's / 2's reconstruction


def _src(page, i: int) -> str:
    return page.evaluate("s => { const a = document.querySelector(s + ' audio'); return a ? a.src : ''; }",
                         RECON.format(i))


def _wait_for_new_audio(page, i: int, old: str = ""):
    page.wait_for_function("([s, old]) => { const a = document.querySelector(s + ' audio'); "
                           "return a && a.src && a.src != old; }", arg=[RECON.format(i), old], timeout=180_000)


def _samples(page, i: int) -> np.ndarray:
    """The samples the ``i``-th reconstruction's <audio> plays (fetched by the page itself, so a
    blob: URL works as well as a /media one), decoded with soundfile (WAV or FLAC)."""
    import soundfile as sf

    b64 = page.evaluate("""async s => {
        const bytes = new Uint8Array(await (await fetch(document.querySelector(s + ' audio').src)).arrayBuffer());
        let text = '';
        for (let k = 0; k < bytes.length; k += 0x8000) text += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
        return btoa(text);
    }""", RECON.format(i))
    x, rate = sf.read(io.BytesIO(base64.b64decode(b64)))
    assert x.shape[0] / rate > 3.0, "two 4/4 bars at 120 qpm last 4 s"
    return x


def _choose_second(page, shown: str, name: str):
    """Pick the model shown as ``shown`` (its name from the card) in the page's picker; the URL
    then holds its checkpoint ``name``."""
    box = page.get_by_role("combobox", name="Second model")
    box.click()
    page.keyboard.type(shown)  # filter the list, then take the match
    page.keyboard.press("Enter")
    page.wait_for_url(f"**model2={name}**")


def test_two_chosen_models_play_reconstructions_that_differ(page, app_url):  # noqa: F811
    open_page(page, app_url, "Compare models", f"compare?model={FIRST}&steps=3")
    _wait_for_new_audio(page, 1)
    before = _src(page, 1)
    assert page.get_by_role("combobox", name="Second model").input_value() != FIRST
    _choose_second(page, "EC²-VAE · Nottingham", "ec2vae-nottingham-pop909-bach-oneills-airds-essen")
    _wait_for_new_audio(page, 1, before)
    page.locator(RECON.format(1)).get_by_text("EC²-VAE · Nottingham + POP909 + Bach").first.wait_for()
    first, second = _samples(page, 0), _samples(page, 1)
    for x in (first, second):
        assert float(np.sqrt(np.mean(np.square(x)))) > 1e-3  # not silence
    assert first.shape != second.shape or not np.allclose(first, second)
    page.get_by_role("heading", name="Interpolation A → B").wait_for()
    page.get_by_role("heading", name="Attribute vector").wait_for()
    assert_no_traceback(page)


def test_a_2_bar_and_a_16_bar_model_get_a_clear_message(page, app_url):  # noqa: F811
    open_page(page, app_url, "Compare models", f"compare?model={FIRST}&steps=3")
    _wait_for_new_audio(page, 1)
    _choose_second(page, "MusicVAE 16-bar", "musicvae16-nottingham-oneills")
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for()
    text = error.inner_text()
    assert "cannot go through both" in text and "16-bar melodies (256 steps)" in text and "Models of 2 bars" in text
    assert page.locator(RECON.format(0)).count() == 0  # nothing is played for a pair that cannot share a melody
    assert_no_traceback(page)
