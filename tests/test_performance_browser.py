"""The Performance style page in a real browser (Chromium through Playwright, `streamlit run app.py`):
it plays the default score, plays it again in another style, and answers a broken score with a
message. The server, browser and page fixtures are test_browser.py's."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

from test_browser import (CHROMIUM, app_url, assert_no_traceback, audio_duration_s, browser, page,  # noqa: F401
                          wav_of_audio_element)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]


@pytest.fixture(scope="module", autouse=True)
def perf_models_env(tmp_path_factory):
    """A tiny checkpoint the server finds when no shipped one is there (the shipped ones come first)."""
    import torch

    from explorer.data.performances import SCORE_FEATURES
    from explorer.models.checkpoint import save_performance_checkpoint
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    folder = tmp_path_factory.mktemp("perf_models")
    torch.manual_seed(0)
    m = VirtuosoVAE(VirtuosoConfig(n_features=len(SCORE_FEATURES), hidden=16, z_dims=4,
                                   target_mean=(-1.0, 0.5, 0.0, -0.3), target_std=(0.3, 0.1, 0.02, 0.5)))
    labels = [{"name": f"p{i} · {e}", "piece": "P", "pianist": f"p{i}", "emotion": e, "source": "emotion",
               "split": "train", "path": f"x{i}"} for i, e in enumerate(["Sad", "Anger", "Relax"])]
    save_performance_checkpoint(folder / "perf-tiny.safetensors", m,
                                styles={"z": np.eye(3, 4, dtype=np.float32) * 2, "labels": labels})
    old = os.environ.get("LATENT_EXPLORER_PERFORMANCE_MODELS")
    os.environ["LATENT_EXPLORER_PERFORMANCE_MODELS"] = str(folder)
    yield
    if old is None:
        os.environ.pop("LATENT_EXPLORER_PERFORMANCE_MODELS", None)
    else:
        os.environ["LATENT_EXPLORER_PERFORMANCE_MODELS"] = old


def _open(page, app_url):  # noqa: F811
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Performance style").click()
    page.get_by_role("heading", name="Performance style").wait_for()


def _rms(wav: bytes) -> float:
    import soundfile as sf

    x, _ = sf.read(io.BytesIO(wav))
    return float(np.sqrt(np.mean(np.square(x))))


def _heading(page) -> str:
    return page.locator("h3").first.inner_text().strip()


def test_plays_the_default_score_in_two_styles(page, app_url):  # noqa: F811
    _open(page, app_url)
    page.locator("audio").first.wait_for(state="attached")
    first_title = _heading(page)
    first_src = page.locator("audio").first.get_attribute("src")
    assert first_title.startswith("Mozart K.545 i (exposition)")
    wav = wav_of_audio_element(page)
    assert wav[:4] == b"RIFF" and _rms(wav) > 1e-3  # not silence
    assert audio_duration_s(page) > 5.0
    page.get_by_text("Emotion preset", exact=True).click()
    # the performance's title, not whichever h3 comes first while the page reruns (the style map's, for a moment)
    page.wait_for_function("() => [...document.querySelectorAll('h3')].some(h => "
                           "h.innerText.trim().startsWith('Mozart K.545 i') && h.innerText.includes('emotion'))")
    page.wait_for_function("s => { const a = document.querySelector('audio'); return a && a.src && !a.src.endsWith(s); }",
                           arg=first_src)
    other = wav_of_audio_element(page)
    assert other != wav and _rms(other) > 1e-3
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    assert_no_traceback(page)


def test_a_broken_score_upload_is_a_message(page, app_url):  # noqa: F811
    _open(page, app_url)
    page.get_by_text("Upload MusicXML or MIDI", exact=True).click()
    page.get_by_text("Upload a score:").wait_for()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Score file").locator('input[type="file"]')
    uploader.set_input_files(files=[{"name": "broken.musicxml", "mimeType": "application/xml",
                                     "buffer": b"<score-partwise><part id='P1'><measure"}])
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for()
    assert "This score cannot be used" in error.inner_text() and "accepted" in error.inner_text()
    assert_no_traceback(page)


def test_an_uploaded_reference_performance_lends_its_style(page, app_url, shared_data):  # noqa: F811
    _open(page, app_url)
    page.locator("audio").first.wait_for(state="attached")
    page.get_by_text("A score from the data folder", exact=True).click()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Piece").click()
    page.get_by_role("option", name="Mozart_K331_1st-mov").click()
    page.get_by_role("heading", name="Mozart_K331_1st-mov — sample seed 0 T1").wait_for()
    page.get_by_text("Encoded from a reference performance", exact=True).click()
    page.get_by_text("Upload a performance MIDI", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Performance MIDI").locator('input[type="file"]')
    midi = shared_data / "vienna4x22" / "midi"
    uploader.set_input_files(str(midi / "Mozart_K331_1st-mov_p05.mid"))
    page.get_by_role("heading", name="Mozart_K331_1st-mov — style of Mozart_K331_1st-mov_p05.mid").wait_for()
    page.locator("audio").first.wait_for(state="attached")
    uploader.set_input_files(str(midi / "Chopin_op38_p01.mid"))  # another piece: refused, with a way on
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for()
    assert "does not match the chosen score" in error.inner_text()
    assert_no_traceback(page)


def test_clicking_a_performance_on_the_style_map_offers_its_style(page, app_url):  # noqa: F811
    """Through the real click event (Streamlit hands the point's customdata over as {"0": row},
    which the page once ignored): the clicked performance's name and "Use this style" appear."""
    _open(page, app_url)
    page.get_by_text("The map of styles").wait_for()
    page.get_by_text("Click a performance to hear it and to use its style.").wait_for()
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .some(gd => gd._fullData && gd._fullData.some(t => t.customdata && t.customdata.length))""")
    x, y = page.evaluate("""() => {
        const gd = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
            .find(g => g._fullData.some(t => t.customdata && t.customdata.length));
        gd.scrollIntoView({block: "center"});
        const tr = gd._fullData.find(t => t.customdata && t.customdata.length);
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        return [box.left + L._size.l + L.xaxis.d2p(tr.x[0]), box.top + L._size.t + L.yaxis.d2p(tr.y[0])];
    }""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_role("button", name="Use this style").wait_for(timeout=60_000)
    assert_no_traceback(page)
