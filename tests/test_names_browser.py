"""Names in a real browser (Chromium through Playwright, `streamlit run app.py`): every model the
sidebar's picker offers shows in full in its box, the full name from the card is written out
below it, and Home's page list links to the pages. Fixtures: test_browser.py's."""
from __future__ import annotations

import os

import pytest

from test_browser import CHROMIUM, app_url, assert_no_traceback, browser, page  # noqa: F401

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.isfile(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

# the text of every option, in the model box's own font, against the room its input has for text
FITS = """e => {
    const css = getComputedStyle(e);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = css.font;
    const room = e.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight);
    return [...document.querySelectorAll('[role="option"]')].map(o => [o.textContent, ctx.measureText(o.textContent).width, room]);
}"""


def _home(page, app_url):  # noqa: F811
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()


def test_every_model_name_shows_in_full_in_the_picker(page, app_url):  # noqa: F811
    """The picker's box showed about 190 px of text: "arvae-oneills-airds-nottingham ⚠ misses targets"
    lost its badge and half its name. Each option now fits, and the loaded model's full name
    (family · corpora, from its card) is written out under the box."""
    from explorer.models.card_names import full_name
    from explorer.models.checkpoint import available_checkpoints, read_metadata

    ckpts = available_checkpoints()
    if not ckpts:
        pytest.skip("no shipped melody checkpoints")
    _home(page, app_url)
    sidebar = page.locator('[data-testid="stSidebar"]')
    box = sidebar.locator('input[aria-label="Model"]')
    box.click()
    page.get_by_role("option").first.wait_for()
    rows = box.evaluate(FITS)
    assert len(rows) == len(ckpts) + 1  # and the upload choice
    cut = [(text, round(width), round(room)) for text, width, room in rows if width > room]
    assert not cut, f"cut in the model box (text px > room px): {cut}"
    page.keyboard.press("Escape")
    first = read_metadata(next(iter(ckpts.values())))["card"]
    sidebar.get_by_text(full_name(first), exact=False).first.wait_for()
    assert_no_traceback(page)


def test_home_lists_the_pages_as_links(page, app_url):  # noqa: F811
    _home(page, app_url)
    main = page.locator('[data-testid="stMain"]')
    link = main.get_by_role("link", name="Model report").first
    link.wait_for()
    assert main.get_by_role("link").count() >= 9
    link.click()
    page.get_by_role("heading", name="Model report", exact=True).wait_for()
    from urllib.parse import urlparse

    assert urlparse(page.url).path == "/model_report"
    assert_no_traceback(page)
