"""``explorer bench``: measured timings of the operations users wait for.

Each benchmark repeats an operation and reports p50/p95 in milliseconds; the
figures go into docs/benchmarks.md. No benchmark asserts a time.
"""
from __future__ import annotations

import os
import platform
import time

import numpy as np


def _timeit(fn, repeat: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    t = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2),
            "n": repeat}


def bench_attributes(repeat: int = 5) -> dict:
    """All nine attributes of 50k random 2-bar segments."""
    from explorer.music.attributes import compute

    tok = np.random.default_rng(0).integers(0, 130, size=(50_000, 32))
    return _timeit(lambda: compute(tok), repeat)


def bench_render(repeat: int = 5) -> dict:
    """FluidSynth render of 8 s of music (16 quarter notes at 120 qpm), uncached, to WAV bytes."""
    from explorer.audio import render, to_wav_bytes
    from explorer.music.convert import melody_to_midi
    from explorer.music.melody import HOLD, Melody

    tokens = np.array([p for k in range(16) for p in (60 + (k * 2) % 12, HOLD, HOLD, HOLD)], dtype=np.uint8)
    pm = melody_to_midi(Melody(tokens, qpm=120.0))
    return _timeit(lambda: to_wav_bytes(render(pm)), repeat)


def bench_render_cached(repeat: int = 50) -> dict:
    """The same 8 s melody served from the audio cache (a slider revisiting a value)."""
    from explorer.audio import render_wav_bytes
    from explorer.music.convert import melody_to_midi_bytes
    from explorer.music.melody import HOLD, Melody

    tokens = np.array([p for k in range(16) for p in (62 + (k * 3) % 12, HOLD, HOLD, HOLD)], dtype=np.uint8)
    midi = melody_to_midi_bytes(Melody(tokens, qpm=120.0))
    return _timeit(lambda: render_wav_bytes(midi), repeat)


def bench_midi_roundtrip(repeat: int = 50) -> dict:
    """tokens → PrettyMIDI → bytes for one 2-bar melody (``melody_to_midi_bytes``: what every page does
    before audio)."""
    from explorer.music.convert import melody_to_midi_bytes
    from explorer.music.melody import HOLD, Melody

    tokens = np.array([60, HOLD, 62, HOLD] * 8, dtype=np.uint8)
    chroma = np.tile(np.eye(12, dtype=np.uint8)[[0]], (32, 1))
    return _timeit(lambda: melody_to_midi_bytes(Melody(tokens, chroma)), repeat)


def _models():
    """(label, TrainedModel) of the checkpoints the app offers (the shipped ones, and those of
    $LATENT_EXPLORER_MODELS), else untrained models of the shipped sizes."""
    from explorer.models.checkpoint import available_checkpoints
    from explorer.models.registry import build_model
    from explorer.models.trained import TrainedModel

    paths = list(available_checkpoints().values())
    if paths:
        return [(p.stem, TrainedModel.load(p)) for p in paths]
    return [(f"{n} (untrained, hidden 256)", TrainedModel(build_model(n, hidden_dims=256))) for n in ("ec2vae", "arvae")]


def _melody_batch(n, n_steps: int = 32):
    """The first ``n`` melodies of the default data in segments of ``n_steps`` (32: 2 bars, 256: 16 bars)."""
    from explorer.data.default import load_default

    ds = load_default(bars=n_steps // 16)
    return ds.tokens[:n].astype("int64"), ds.chroma[:n].astype("float32"), ds


def bench_encode(repeat: int = 5) -> dict:
    """Encode throughput: segments per second at batch 256 (posterior of real melodies)."""
    out = {}
    for label, tm in _models():
        tok, ch, _ = _melody_batch(256, tm.n_steps)
        r = _timeit(lambda: tm.encode(tok, ch), repeat)
        out[label] = r | {"segments_per_s": round(256 / (r["p50_ms"] / 1000))}
    return out


def bench_decode(repeat: int = 100) -> dict:
    """Greedy decode of one melody (2 bars; 16 for the 16-bar model) from its z (what a slider move
    costs before audio)."""
    out = {}
    for label, tm in _models():
        tok, ch, _ = _melody_batch(1, tm.n_steps)
        _, mu, _ = tm.encode(tok, ch)
        out[label] = _timeit(lambda: tm.decode_tokens(mu, ch), repeat, warmup=3)
    return out


def bench_decode_render(repeat: int = 50) -> dict:
    """Decode one 2-bar melody + MIDI + FluidSynth render to WAV bytes, uncached (a slider move),
    through the path the pages play: ``decode_one`` → ``melody_to_midi_bytes`` → ``render_wav_bytes``."""
    from explorer.audio import render_wav_bytes
    from explorer.latent.control import decode_one
    from explorer.music.convert import melody_to_midi_bytes

    out = {}
    for label, tm in _models():
        tok, ch, _ = _melody_batch(1, tm.n_steps)
        _, mu, _ = tm.encode(tok, ch)
        play = lambda: render_wav_bytes(melody_to_midi_bytes(decode_one(tm, mu[0], ch[0])), cache=False)  # noqa: E731
        out[label] = _timeit(play, repeat, warmup=3)
    return out


def bench_slider(repeat: int = 40) -> dict:
    """A slider move on the Attribute sliders page, end to end in Streamlit's AppTest: the
    time from setting a regularised dim to the rerun's new audio (decode + render + page),
    with the first shipped regularised model and each move to a new value (no cache hit)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from explorer.device import set_interactive_threads
    from explorer.models.checkpoint import available_checkpoints

    set_interactive_threads()  # as app.py does
    ckpts = [p for name, p in available_checkpoints().items() if name.startswith("arvae")]
    if not ckpts:
        return {"skipped": "no shipped regularised model in assets/checkpoints"}
    page = Path(__file__).resolve().parents[1] / "pages" / "attribute_sliders.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.query_params["model"] = ckpts[0].stem
    at.run()
    if at.exception:
        return {"error": str(at.exception[0].value)[:200]}
    values = np.linspace(-2.5, 2.5, repeat + 1)
    times = []
    for i, v in enumerate(values):
        t0 = time.perf_counter()
        at.slider(key="sl_d0").set_value(round(float(v), 2)).run()
        if i:  # the first move warms the page up
            times.append((time.perf_counter() - t0) * 1000)
    t = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "n": len(t), "model": ckpts[0].stem}


BENCHMARKS = {
    "attributes": bench_attributes,
    "render": bench_render,
    "render-cached": bench_render_cached,
    "midi": bench_midi_roundtrip,
    "encode": bench_encode,
    "decode": bench_decode,
    "decode-render": bench_decode_render,
    "slider": bench_slider,
}


def run(names=None) -> dict:
    names = names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    from explorer.device import describe_device

    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "device": describe_device()}
    for n in names:
        out[n] = BENCHMARKS[n]() | {"what": BENCHMARKS[n].__doc__.strip()}
    return out
