"""Browser response of the Latent map on a store (issue 17), in headless Chromium against
``streamlit run app.py`` (scripts/bench_app.py): open → density image drawn, a box zoom → image
redrawn, and a click on a real point → its audio, for synthetic stores of 100k and 1M segments
(scripts/make_synthetic_store.py writes them; missing ones are written first).

    .venv/bin/python scripts/bench_bigmap.py [--stores DIR] [--sizes 100000 1000000] [--zooms 4]

Each size is opened twice on a fresh server: "cold" (no map cached beside the store: the projection
is fitted and applied to every row) and "cached" (the map read from the store folder). Prints one
JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_app import chromium, new_page, open_app_page, serving  # noqa: E402

MODEL = "arvae-z64-nottingham-oneills-airds-essen-pop909"  # the key make_synthetic_store.py writes under
CHART = ".st-key-big_chart .js-plotly-plot"
IMAGE = """() => { const i = document.querySelector('.st-key-big_chart .layer-below image, .st-key-big_chart image');
  return i ? i.getAttribute('href') : null; }"""
TO_PIXELS = """([x, y]) => { const gd = document.querySelector('.st-key-big_chart .js-plotly-plot');
  const L = gd._fullLayout, b = gd.getBoundingClientRect();
  return [b.left + L._size.l + L.xaxis.d2p(x), b.top + L._size.t + L.yaxis.d2p(y)]; }"""
RANGE = """() => { const L = document.querySelector('.st-key-big_chart .js-plotly-plot')._fullLayout;
  return [L.xaxis.range[0], L.xaxis.range[1], L.yaxis.range[0], L.yaxis.range[1]]; }"""
REAL_POINT = """() => { const gd = document.querySelector('.st-key-big_chart .js-plotly-plot');
  const t = gd._fullData.find(d => d.customdata && d.customdata.length);
  if (!t) return null;
  const k = Math.floor(t.x.length / 2), row = t.customdata[k];
  return [t.x[k], t.y[k], Number(typeof row === "object" ? row[0] : row)]; }"""


def dump_page(page, prefix: str) -> tuple[str, str]:
    """A full-page screenshot and the page's text in a new temporary folder: (their paths)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    shot, text = folder / "page.png", folder / "page.txt"
    page.screenshot(path=str(shot), full_page=True)
    text.write_text(page.inner_text("body"))
    return str(shot), str(text)


def wait_image_changed(page, before: str | None, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(f"(old) => {{ const h = ({IMAGE})(); return h && h !== old; }}", arg=before,
                           timeout=timeout_ms)


def settle(page) -> None:
    """Until the run has drawn its last element (the segment picker below the map), and a moment more."""
    page.locator(".st-key-big_pick input").wait_for(state="attached")
    page.wait_for_timeout(1500)


def drag_box(page, x0, x1, y0, y1) -> None:
    """Pick the chart's "Box Select" tool and drag a box over the data rectangle [x0, x1] × [y0, y1]."""
    page.locator(".st-key-big_chart").hover()
    page.locator('.st-key-big_chart .modebar-btn[data-val="select"]').click()
    (a, b), (c, d) = page.evaluate(TO_PIXELS, [x0, y0]), page.evaluate(TO_PIXELS, [x1, y1])
    page.mouse.move(a, b)
    page.mouse.down()
    page.mouse.move((a + c) / 2, (b + d) / 2, steps=4)
    page.mouse.move(c, d, steps=4)
    page.mouse.up()


def dense_centre(store: Path) -> tuple[float, float]:
    """A point of the map in a dense part (the point nearest to the median), read from the map the
    app cached beside the store: the middle of a mixture's map can be empty."""
    import numpy as np

    from explorer.data.store import open_store
    from explorer.latent.bigmap import cached_projection

    xy = cached_projection(open_store(store), MODEL, "PCA")[0]
    c = xy[np.argmin(np.hypot(*(xy - np.median(xy, axis=0)).T))]
    return float(c[0]), float(c[1])


def zoom_into(page, centre: tuple[float, float], fraction: float = 0.35) -> float:
    """Drag a box ``fraction`` of the view's size around ``centre``; seconds until the image is redrawn."""
    x0, x1, y0, y1 = page.evaluate(RANGE)
    (cx, cy), hx, hy = centre, (x1 - x0) * fraction / 2, (y1 - y0) * fraction / 2
    before = page.evaluate(IMAGE)
    t = time.perf_counter()
    drag_box(page, cx - hx, cx + hx, cy - hy, cy + hy)
    wait_image_changed(page, before)
    took = time.perf_counter() - t
    settle(page)
    return took


def click_real_point(page) -> tuple[int, float]:
    """Click the middle real point drawn: (its row, seconds until its audio is in the page)."""
    x, y, row = page.evaluate(REAL_POINT)
    px, py = page.evaluate(TO_PIXELS, [x, y])
    page.mouse.move(px, py)
    page.wait_for_timeout(300)  # plotly picks the point under the pointer on hover
    t = time.perf_counter()
    page.mouse.click(px, py)
    page.locator("h3", has_text=f"#{row}:").wait_for()
    page.locator(".st-key-big_orig audio[src^='blob:']").wait_for(state="attached")
    return int(row), time.perf_counter() - t


def run_once(browser, url: str, store: Path, zooms: int) -> dict:
    page = new_page(browser, timeout_ms=900_000)
    open_app_page(page, url, "")
    t = time.perf_counter()
    page.goto(f"{url}/latent_map?data=store&store={store}&model={MODEL}")
    try:
        page.wait_for_function(f"() => !!({IMAGE})()", timeout=300_000)
    except Exception as e:  # playwright's TimeoutError: keep what the page showed
        shot, text = dump_page(page, "bench-bigmap-timeout-")
        raise RuntimeError(f"no density image after 5 minutes: the page is in {shot}, its text in {text}") from e
    opened = time.perf_counter() - t
    settle(page)
    centre = dense_centre(store)
    zoom_s = [zoom_into(page, centre) for _ in range(zooms)]
    out = {"open_s": round(opened, 2), "zoom_s": [round(z, 2) for z in zoom_s]}
    if page.evaluate(REAL_POINT) is not None:
        row, click = click_real_point(page)
        out.update(clicked=row, click_to_audio_s=round(click, 2))
    page.close()
    return out


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=Path, default=Path("/tmp/latent-explorer-bigmap-stores"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--zooms", type=int, default=4)
    args = ap.parse_args(argv)
    from make_synthetic_store import make_store

    args.stores.mkdir(parents=True, exist_ok=True)
    os.environ["LATENT_EXPLORER_FOLDER_ROOTS"] = str(args.stores.resolve())
    with sync_playwright() as p:
        browser = chromium(p)
        for n in args.sizes:
            store = args.stores / f"synthetic-{n}"
            if not (store / "manifest.json").is_file():
                make_store(store, n)
            for run in ("cold", "cached"):
                if run == "cold":
                    shutil.rmtree(store / "maps", ignore_errors=True)
                with serving("bigmap-bench-") as url:
                    res = run_once(browser, url, store.resolve(), args.zooms)
                print(json.dumps({"segments": n, "map": run, "cpus": os.cpu_count(),
                                  "load_1min": round(os.getloadavg()[0], 2), **res}), flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
