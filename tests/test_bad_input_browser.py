"""Bad input in a real browser (Chromium through Playwright, `streamlit run app.py`, so Streamlit's
own upload size cap is in force too): a 24 MB MIDI through the sidebar's upload, a MIDI score on
the Performance style page, and a shared URL that names a folder outside the allowed roots. Three
only, as each costs the browser suite time; the other files and uploaders are driven through
AppTest (test_bad_input_app.py). The server, browser and page fixtures are test_browser.py's."""
from __future__ import annotations

import os

import pytest

from test_bad_input_files import write_bad_files
from test_browser import (CHROMIUM, app_url, assert_no_traceback, browser, choose_upload,  # noqa: F401
                          open_segment_player, page)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]


@pytest.fixture(scope="module", autouse=True)
def bad(tmp_path_factory):
    """The bad files, and the server's folder roots set to one empty folder (the server fixture
    starts after this one and inherits the environment)."""
    from explorer.data.midi_files import ROOTS_ENV

    folder = tmp_path_factory.mktemp("bad")
    write_bad_files(folder)
    allowed = tmp_path_factory.mktemp("allowed")
    old = os.environ.get(ROOTS_ENV)
    os.environ[ROOTS_ENV] = str(allowed)
    yield folder
    if old is None:
        os.environ.pop(ROOTS_ENV, None)
    else:
        os.environ[ROOTS_ENV] = old


def _upload(locator, folder, name):
    locator.set_input_files(files=[{"name": name, "mimeType": "audio/midi", "buffer": (folder / name).read_bytes()}])


def test_a_24_mb_midi_upload_is_a_message(page, app_url, bad):  # noqa: F811
    open_segment_player(page, app_url)
    _upload(choose_upload(page), bad, "huge_24mb.mid")
    error = page.locator('[data-testid="stAlertContentError"]', has_text="huge_24mb.mid cannot be used")
    error.wait_for()
    assert "file too large" in error.inner_text() and "LATENT_EXPLORER_MAX_MIDI_MB" in error.inner_text()
    assert_no_traceback(page)


def test_a_midi_score_plays_on_the_performance_page(page, app_url, bad):  # noqa: F811
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Performance style").click()
    page.get_by_role("heading", name="Performance style").wait_for()
    page.get_by_text("Upload MusicXML or MIDI", exact=True).click()
    page.get_by_text("Upload a score:").wait_for()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Score file").locator(
        'input[type="file"]')
    _upload(uploader, bad, "forty_tracks.mid")
    page.locator("h3", has_text="forty_tracks.mid").first.wait_for()
    page.locator("audio").wait_for(state="attached")
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert_no_traceback(page)


def test_a_shared_url_cannot_point_the_folder_source_outside_its_roots(page, app_url, bad):  # noqa: F811
    page.goto(f"{app_url}/segment_player?data=folder&folder={bad}")
    error = page.locator('[data-testid="stAlertContentError"]', has_text="outside the folders this app may read")
    error.wait_for()
    body = page.locator("body").inner_text()
    assert str(bad) not in body.replace(page.locator('input[aria-label="Folder with .mid files"]').input_value(), "")
    assert "huge_24mb" not in body
    assert_no_traceback(page)
