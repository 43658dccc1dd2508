"""Measure, in Chromium against ``streamlit run app.py``, how long a user waits (issue 16):

1. Latent map (default data, default model, 10k points, PCA): a click on a point → the new
   "Original" clip playable (its ``<audio>`` has a new source and ``readyState >= 3``).
2. Attribute sliders (the 2-bar default model, live mode off): a click on the first regularised
   dimension's slider track → the new output clip playable. A move whose melody does not change
   (the same clip) is counted apart and left out of the figures.

Both from the input's ``pointerdown`` event to the first poll (every 4 ms) that sees the new clip
playable, in the browser's own clock. Each figure comes with where the time went, from the same
clock: ``server_last_msg`` (to the last WebSocket message from the server before the clip was
playable: the rerun, its transfer and the messages' handling), ``browser_after`` (from that
message to playable: the page's rendering and the audio's loading) and ``long_tasks`` (the
browser main thread's tasks over 50 ms in the whole wait, summed); within the first,
``input_to_send`` (the input to the browser sending the rerun request) and ``send_to_first_msg``
(from that request to the server's first message of the rerun).

    .venv/bin/python scripts/bench_clicks.py [--clicks 20] [--moves 20] [--only map|sliders] [--split-cores]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_app import ROOT, chromium, new_page, open_app_page, serving  # noqa: E402
MAP_READY = '[data-testid="stPlotlyChart"] .js-plotly-plot .nsewdrag'

# The watcher: the time from the last pointerdown to the first poll that finds the player inside
# `sel` (its first <audio>) playing a source other than `old`, loaded (readyState >= 3). With
# `url_key`, a run that ends with the URL's `url_key` changed but the same clip resolves as
# {same: true} after `settle_ms`.
WATCH = """([sel, old, urlKey, urlOld, settleMs]) => new Promise((done) => {
  const t0 = window.__t0;
  let sameSince = null;
  const tick = () => {
    if (performance.now() - t0 > 30000) return done({timeout: true, src: old});
    const a = document.querySelector(sel + " audio");
    const src = a && a.getAttribute("src");
    if (src && src !== old && a.readyState >= 3) return done({ms: performance.now() - t0, src});
    if (urlKey) {
      const m = location.search.match(new RegExp("[?&]" + urlKey + "=([^&]*)"));
      if (m && m[1] !== urlOld) {
        sameSince = sameSince || performance.now();
        if (performance.now() - sameSince > settleMs) return done({same: true, src});
      }
    }
    setTimeout(tick, 4);
  };
  tick();
})"""
MARK_INPUT = ("() => { if (!window.__marked) { window.__marked = true; window.addEventListener('pointerdown', "
              "(e) => { window.__t0 = e.timeStamp; }, true); } }")
# Before any page script: the arrival time of every WebSocket message and the main thread's long tasks.
RECORD = """(() => {
  window.__msgs = []; window.__long = []; window.__sends = [];
  const WS = window.WebSocket;
  window.WebSocket = function (...a) {
    const ws = new WS(...a);
    ws.addEventListener("message", () => window.__msgs.push(performance.now()));
    const send = ws.send.bind(ws);
    ws.send = (d) => { window.__sends.push(performance.now()); return send(d); };
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
    .observe({entryTypes: ["longtask"]});
})();"""
SPLIT = """(ms) => {
  const t0 = window.__t0, t1 = t0 + ms;
  const msgs = window.__msgs.filter((t) => t >= t0 && t <= t1);
  const last = msgs.length ? msgs[msgs.length - 1] - t0 : null;
  const sent = window.__sends.find((t) => t >= t0 && t <= t1);
  const first = sent === undefined ? undefined : msgs.find((t) => t > sent);
  const input_to_send = sent === undefined ? null : sent - t0;
  const send_to_first_msg = first === undefined ? null : first - sent;
  const long = window.__long.filter(([s, d]) => s + d >= t0 && s <= t1)
    .reduce((a, [s, d]) => a + Math.min(s + d, t1) - Math.max(s, t0), 0);
  return {server_last_msg: last, browser_after: last === null ? null : ms - last, long_tasks: long,
          input_to_send, send_to_first_msg};
}"""


def open_page(page, url: str, path: str):
    open_app_page(page, url, path)
    page.evaluate(MARK_INPUT)


def player_selector(page, key: str) -> str:
    """The CSS selector of the clip player drawn with ``key`` (Streamlit's ``st-key-`` class)."""
    page.locator(f".st-key-{key} audio").first.wait_for(state="attached", timeout=180_000)
    return f".st-key-{key}"


def _summary(ms: list[float], parts: list[dict] = ()) -> dict:
    out = {"n": len(ms), "p50": round(float(np.percentile(ms, 50))), "p95": round(float(np.percentile(ms, 95))),
           "max": round(max(ms))}
    for k in ("server_last_msg", "browser_after", "long_tasks", "input_to_send", "send_to_first_msg"):
        v = [p[k] for p in parts if p.get(k) is not None]
        if v:
            out[f"{k}_p50"] = round(float(np.percentile(v, 50)))
    return out


# ---- the map --------------------------------------------------------------------------------
POINT_PIXEL = """(k) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), tr = gd._fullData[0];
  const x = L.xaxis.d2p(tr.x[k]), y = L.yaxis.d2p(tr.y[k]);
  const inside = x > 20 && x < L._size.w - 20 && y > 20 && y < L._size.h - 20;
  return {x: box.left + L._size.l + x, y: box.top + L._size.t + y, inside, n: tr.x.length,
          row: tr.customdata ? +tr.customdata[k][0] : null};
}"""


ROW_PIXEL = """(row) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), tr = gd._fullData[0];
  const k = tr.customdata.findIndex((c) => +c[0] === row);
  return k < 0 ? null : {x: box.left + L._size.l + L.xaxis.d2p(tr.x[k]), y: box.top + L._size.t + L.yaxis.d2p(tr.y[k])};
}"""


def bench_map(page, url: str, clicks: int, rng: random.Random) -> dict:
    open_page(page, url, "latent_map")
    page.locator(MAP_READY).first.wait_for(timeout=300_000)
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('[data-testid=\"stPlotlyChart\"]').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(20_000)  # the first run goes on after the map (it encodes the 10k latents)
    n = page.evaluate(POINT_PIXEL, 0)["n"]
    ms, parts, wrong, missed, old, last, off = [], [], 0, 0, None, None, []
    while len(ms) < clicks + 1:  # the first click warms up (decoder, FluidSynth) and is left out
        k = rng.randrange(n)
        p = page.evaluate(POINT_PIXEL, k)
        if not p["inside"] or p["row"] == last:
            continue
        page.mouse.move(p["x"], p["y"])
        page.wait_for_timeout(300)  # hover settles, as a person's pointer does
        page.mouse.click(p["x"], p["y"])
        r = page.evaluate(WATCH, [".st-key-map_orig", old, None, None, 0])
        old, last = r["src"], p["row"]
        if not page.locator("h3", has_text=f"#{p['row']}:").count():
            wrong += 1  # a neighbouring point under the pointer took the click: how far from the aimed one?
            got = page.locator("h3", has_text="#").first.text_content(timeout=5000) or ""
            if got.startswith("#") and ":" in got:
                q = page.evaluate(ROW_PIXEL, int(got[1:got.index(":")]))
                if q:
                    off.append(((q["x"] - p["x"]) ** 2 + (q["y"] - p["y"]) ** 2) ** 0.5)
        if "ms" in r:
            ms.append(r["ms"])
            parts.append(page.evaluate(SPLIT, r["ms"]))
        else:
            missed += 1  # the click took no point (e.g. it fell on a ring marker): nothing changed in 30 s
        print(f"  map click {len(ms)}: row {p['row']} → {r}", file=sys.stderr, flush=True)
        page.wait_for_timeout(700)  # let the rest of the run finish before the next click
    return {**_summary(ms[1:], parts[1:]), "other_point_took_the_click": wrong, "no_change_in_30_s": missed,
            "other_point_px_from_aimed": [round(d, 1) for d in off]}


# ---- the sliders ----------------------------------------------------------------------------
SLIDER_VALUE = """() => { const t = document.querySelector('.st-key-sl_d0 input[type="range"], .st-key-sl_d0 [role="slider"]');
  return t && (t.tagName === "INPUT" ? t.value : t.getAttribute("aria-valuenow")); }"""
def slider_moves(page, sel: str, moves: int, rng: random.Random, url_key: str | None = None) -> dict:
    """Click ``moves`` + 1 random places on the track of the slider keyed ``sl_d0`` and time each new
    clip of the player in ``sel``; the first move (a warm-up) is left out. With ``url_key``, a move
    that changes it in the URL but not the clip is counted apart (``same_clip_moves``)."""
    track = page.locator(".st-key-sl_d0")  # its label above, its track below
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    thumb = track.get_by_role("slider").bounding_box()
    y = thumb["y"] + thumb["height"] / 2
    ms, parts, same, unmoved = [], [], 0, 0
    old = page.locator(f"{sel} audio").first.get_attribute("src")
    while len(ms) + same < moves + 1:
        before_url = url_key and page.evaluate(
            "(k) => (location.search.match(new RegExp('[?&]' + k + '=([^&]*)')) || [])[1]", url_key)
        before = page.evaluate(SLIDER_VALUE)
        x = box["x"] + 8 + rng.random() * (box["width"] - 16)
        page.mouse.click(x, y)
        page.wait_for_timeout(60)
        if page.evaluate(SLIDER_VALUE) == before:  # the click fell on the value the slider had: no move
            unmoved += 1
            continue
        r = page.evaluate(WATCH, [sel, old, url_key, before_url, 2500])
        print(f"  slider move: {r}", file=sys.stderr, flush=True)
        if r.get("timeout"):
            raise RuntimeError("no new clip in 30 s")
        if r.get("same"):
            same += 1
        else:
            ms.append(r["ms"])
            parts.append(page.evaluate(SPLIT, r["ms"]))
            old = r["src"]
        page.wait_for_timeout(700)
    return {**_summary(ms[1:], parts[1:]), "same_clip_moves": same, "clicks_that_moved_nothing": unmoved}


def bench_sliders(page, url: str, moves: int, rng: random.Random) -> dict:
    open_page(page, url, "attribute_sliders")
    sel = player_selector(page, "sl_out")
    page.wait_for_url("**d0=**", timeout=180_000)
    page.wait_for_timeout(5000)  # the sweep and tables of the first run
    return slider_moves(page, sel, moves, rng, url_key="d0")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--only", choices=["map", "sliders"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve (e.g. an older commit's "
                    "`git archive` for a before/after comparison)")
    ap.add_argument("--split-cores", action="store_true",
                    help="the server on the first CPU core, this script and Chromium on the others: as when the "
                         "server and the user's browser are separate machines (default: all share all cores)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out, server_cpus = {}, None
    if args.split_cores:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            ap.error("--split-cores needs at least two CPU cores")
        server_cpus = {cores[0]}
        os.sched_setaffinity(0, set(cores[1:]))  # Chromium, started below, inherits it
    with serving("bench-clicks-", args.root, server_cpus) as url, sync_playwright() as p:
        b = chromium(p)
        for name, run, n in (("map", bench_map, args.clicks), ("sliders", bench_sliders, args.moves)):
            if args.only in (None, name):
                page = new_page(b)
                page.add_init_script(RECORD)
                out[name] = run(page, url, n, random.Random(args.seed))
                print(name, json.dumps(out[name]), flush=True)
                page.close()
        b.close()
    return out


if __name__ == "__main__":
    main()
