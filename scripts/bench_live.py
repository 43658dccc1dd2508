"""Measure the live range of the Attribute sliders page (issue 16).

1. Batch: the time to decode the seed at 21 positions of a regularised dim in one batch, render
   each and compress it (``explorer.ui.sliders_page.live_clips``, the page's path), with an empty
   audio cache, for several seeds of the shipped 2-bar AR-VAE.
2. Drag: in Chromium against ``streamlit run app.py``, the time from a drag's input event to the
   start of the new clip's playback (the component's ``data-last-switch-ms``: event timestamp →
   ``AudioBufferSourceNode.start``), over many moves, plus the audio context's own output latency.

    taskset -c 1 .venv/bin/python scripts/bench_live.py [--seeds 5] [--moves 200] [--no-browser]
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


def bench_batch(seeds: int) -> list[float]:
    import torch

    torch.set_num_threads(1)
    from explorer.data.default import load_default
    from explorer.models.trained import TrainedModel
    from explorer.ui.sliders_page import live_clips

    tm = TrainedModel.load(ROOT / "assets" / "checkpoints" / f"{MODEL}.safetensors", device="cpu")
    ds = load_default(bars=2)
    dim = int(next(iter(tm.layout.regularized.values())))
    times = []
    for i in range(seeds + 1):  # the first warms up torch and FluidSynth
        seed = ds.melody(17 * i)
        _, mu, _ = tm.encode([seed])
        cold_audio_cache("bench-live-")
        t = time.perf_counter()
        tm.decode(np.repeat(mu, 21, axis=0), seed.chroma)  # the batched decode alone (21 codes)
        t_decode = time.perf_counter() - t
        t = time.perf_counter()
        flacs, values, _ = live_clips(tm, mu[0], seed.chroma, float(seed.qpm), dim, {}, None, {}, 0, None)
        dt = time.perf_counter() - t
        if i:
            times.append(dt)
            print(f"seed {17 * i}: {len(values)} positions, {len(set(flacs))} distinct clips, "
                  f"{sum(map(len, flacs)) / 1e6:.2f} MB FLAC, ready in {dt:.2f} s (of which the decode ~{t_decode:.2f} s)")
    return times


def bench_drag(moves: int) -> tuple[list[float], dict]:
    from playwright.sync_api import sync_playwright

    with serving("bench-live-") as url, sync_playwright() as p:
        b = chromium(p)
        page = new_page(b)
        open_app_page(page, url, "attribute_sliders")
        page.locator("audio").first.wait_for(state="attached")
        live, ready = start_live(page, "Live range", "live")
        ctx = page.evaluate("() => { const c = new AudioContext(); const r = {base: c.baseLatency, "
                            "output: c.outputLatency}; c.close(); return r; }")
        box = live.locator('input[type="range"]').bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 2, y)
        page.mouse.down()
        out, k, step = [], 0, 1
        for _ in range(moves):
            if not 0 <= k + step <= 20:
                step = -step
            k += step
            page.mouse.move(box["x"] + 2 + k * (box["width"] - 4) / 20, y)
            ms = live.get_attribute("data-last-switch-ms")
            n = int(live.get_attribute("data-switches") or 0)
            if ms is not None and n > len(out):
                out.append(float(ms))
        page.mouse.up()
        b.close()
        return out, {"toggle_to_ready_s": ready, **ctx}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)
    times = bench_batch(args.seeds)
    print(f"batch of 21 positions ({MODEL}, cold audio cache): median {np.median(times):.2f} s, "
          f"max {max(times):.2f} s over {len(times)} seeds")
    if not args.no_browser:
        ms, info = bench_drag(args.moves)
        print(f"drag → new clip playing (input event → source.start), {len(ms)} switches: "
              f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, max {max(ms):.2f} ms")
        print(f"audio context latency (added by the output device): base {info['base'] * 1000:.1f} ms, "
              f"output {info['output'] * 1000:.1f} ms; toggle → live range ready {info['toggle_to_ready_s']:.1f} s")


if __name__ == "__main__":
    main()
