"""Measure the live palette of the Interpolation page (issue 16).

1. Ready: the time for the n×n grid's clips to be ready with an empty audio cache: the batched
   decode of the palette (``explorer.latent.palette.palette``) plus rendering and compressing
   every cell (``explorer.ui.player.melody_clips``, the page's path), for several corner sets of
   the default 2-bar model (the sidebar's first) on the default data.
2. Switch: in Chromium against ``streamlit run app.py``, the time from a pointer move over the
   grid to the start of the new cell's playback (the component's ``data-last-switch-ms``: event
   timestamp → ``AudioBufferSourceNode.start``), over many moves; and the time from switching
   "Live palette" on to the grid being playable in the browser (server render + transfer +
   decode), with an empty cache.

    taskset -c 1 .venv/bin/python scripts/bench_palette.py [--grid 4] [--sets 5] [--moves 200] [--no-browser]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_app import (MODEL, ROOT, chromium, cold_audio_cache, new_page, open_app_page, serving,
                       start_live)  # noqa: E402


def bench_ready(n: int, sets: int) -> list[float]:
    import torch

    torch.set_num_threads(1)
    from explorer.data.default import load_default
    from explorer.latent.palette import palette
    from explorer.models.trained import TrainedModel
    from explorer.ui.player import melody_clips

    tm = TrainedModel.load(ROOT / "assets" / "checkpoints" / f"{MODEL}.safetensors", device="cpu")
    ds = load_default(bars=2)
    times = []
    for i in range(sets + 1):  # the first warms up torch and FluidSynth
        rows = [(i * 37 + int(f * len(ds))) % len(ds) for f in (0, 1 / 3, 1 / 2, 2 / 3)]  # the page's A, B, C, D
        corners = [ds.melody(r) for r in rows]
        cold_audio_cache("bench-palette-")
        t = time.perf_counter()
        cells = palette(tm, corners, n)
        t_decode = time.perf_counter() - t
        flacs, _ = melody_clips(cells, 0, None)
        dt = time.perf_counter() - t
        if i:
            times.append(dt)
            print(f"corners {rows}: {n * n} cells, {len(set(flacs))} distinct clips, {sum(map(len, flacs)) / 1e6:.2f} MB "
                  f"FLAC, ready in {dt:.2f} s (of which the decode {t_decode:.3f} s)")
    return times


def bench_switch(n: int, moves: int) -> tuple[list[float], float]:
    from playwright.sync_api import sync_playwright

    with serving("bench-palette-") as url, sync_playwright() as p:
        b = chromium(p)
        page = new_page(b)
        open_app_page(page, url, f"interpolation?grid={n}")
        page.locator("audio").first.wait_for(state="attached")
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached")
        live, ready = start_live(page, "Live palette", "palette")
        boxes = [c.bounding_box() for c in live.locator(".clip-cell").all()]
        rng = np.random.default_rng(0)
        out, k = [], 0
        for _ in range(moves):  # a random walk to a neighbouring cell, as a hand moves
            (r, c), (dr, dc) = divmod(k, n), [(0, 1), (0, -1), (1, 0), (-1, 0)][rng.integers(4)]
            nxt = min(max(r + dr, 0), n - 1) * n + min(max(c + dc, 0), n - 1)
            if nxt == k:  # the grid's edge
                continue
            k = nxt
            box = boxes[k]
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            ms, sw = live.get_attribute("data-last-switch-ms"), int(live.get_attribute("data-switches") or 0)
            if ms is not None and sw > len(out):
                out.append(float(ms))
        b.close()
    return out, ready


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=4, help="cells a side (the page's default: 4)")
    ap.add_argument("--sets", type=int, default=5)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)
    times = bench_ready(args.grid, args.sets)
    print(f"{args.grid}×{args.grid} palette clips ready ({MODEL}, cold audio cache): median {np.median(times):.2f} s, "
          f"max {max(times):.2f} s over {len(times)} corner sets")
    if not args.no_browser:
        ms, ready = bench_switch(args.grid, args.moves)
        print(f"pointer → new cell playing (input event → source.start), {len(ms)} switches: "
              f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, max {max(ms):.2f} ms")
        print(f"toggle → live palette ready in the browser (empty cache): {ready:.1f} s")


if __name__ == "__main__":
    main()
