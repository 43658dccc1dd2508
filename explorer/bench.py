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


def _map_latents(tm=None):
    """(TrainedModel, dataset, rows, latent means (M, D)) of the map the Latent map page opens
    with: the first shipped model (or ``tm``) on the default data, at most 10k segments."""
    from explorer.latent import projection as P

    tm = tm or _models()[0][1]
    _, _, ds = _melody_batch(1, tm.n_steps)
    rows = P.subset_rows(len(ds), P.DEFAULT_MAX_POINTS)
    return tm, ds, rows, P.dataset_latents(tm, ds, rows)


def bench_tsne(repeat: int = 1) -> dict:
    """t-SNE of the latent means of the default data (10k segments) under the first shipped model,
    cold (no cache), with the Latent map's settings and threads; in seconds, with the fraction of
    each point's 10 nearest latent neighbours that stay among its 10 nearest on the map."""
    from explorer.latent import projection as P

    _, _, rows, mu = _map_latents()
    params = {"n_jobs": P.tsne_threads(len(mu))}
    out = {"points": len(mu), "dims": mu.shape[1], "params": P.method_params("t-SNE", params)}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        coords = P.project(mu, "t-SNE", params).coords
        times.append(time.perf_counter() - t0)
    return out | {"p50_s": round(float(np.median(times)), 1), "max_s": round(max(times), 1), "n": repeat,
                  "knn10_kept": round(P.neighbour_preservation(mu, coords, 10), 3)}


def bench_map_open(repeat: int = 20) -> dict:
    """The Latent map page in Streamlit's AppTest with the first shipped model on the default
    data (10k points, PCA), in a new process state and an empty disk cache: the time from the
    script's start to the map being sent (first open), the whole first run (which then encodes
    the latents), and picking segments afterwards (a click: new selection, audio, neighbours)."""
    import tempfile
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from explorer.device import set_interactive_threads

    set_interactive_threads()  # as app.py does
    name = _models()[0][0]
    page = Path(__file__).resolve().parents[1] / "pages" / "latent_map.py"
    old_cache = os.environ.get("LATENT_EXPLORER_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LATENT_EXPLORER_CACHE"] = tmp
        try:
            # Streamlit's in-memory caches are per process: empty them as a first open finds them
            AppTest.from_string("import streamlit as st\nst.cache_data.clear()\nst.cache_resource.clear()").run()
            at = AppTest.from_file(str(page), default_timeout=600)
            at.query_params.update(model=name, method="PCA", points="10000")
            t0 = time.perf_counter()
            at.run()
            total = time.perf_counter() - t0
            sent = at.session_state["map_sent_at"] if "map_sent_at" in at.session_state else None
            if at.exception or sent is None:
                return {"error": str(at.exception[0].value)[:200] if at.exception else "no map drawn"}
            first = {"to_map_ms": round((sent - t0) * 1000), "first_run_ms": round(total * 1000), "model": name}
            times = []
            for row in np.linspace(0, 9000, repeat + 1).astype(int):
                t0 = time.perf_counter()
                at.number_input(key="map_pick").set_value(int(row) + 1).run()
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            if old_cache is None:
                os.environ.pop("LATENT_EXPLORER_CACHE", None)
            else:
                os.environ["LATENT_EXPLORER_CACHE"] = old_cache
    t = np.asarray(times[1:])  # the first pick warms the player up
    return first | {"pick_p50_ms": round(float(np.percentile(t, 50))), "pick_p95_ms": round(float(np.percentile(t, 95))),
                    "n": len(t)}


def bench_decode_speed(precision: str | None = None) -> dict:
    """Greedy decode, the plain step loop (reference) against the fast loops, exact (fp32) and with
    the opt-in bf16 decode precision (``lp_`` columns), per shipped melody model: segments/s at
    batch 256 and one-melody p50/p95 (process CPU time, the three alternated in one process),
    their ratios, the greedy-token agreement with the step loop (tokens, whole melodies) and the
    greedy reconstruction accuracy on the default data's test split in fp32 and bf16
    (explorer/bench_decode.py; docs/decode-speed.md)."""
    from explorer.bench_decode import bench_decode_speed as rows
    from explorer.models.fast_decode import bf16_supported, require_precision

    if precision is None:
        precision = "bf16" if bf16_supported() else "fp32"  # fp32 lp_ columns: no bf16 CPU
    return {"models": rows(precision=require_precision(precision))}


def bench_midi_parse(n_real: int = 100, n_synthetic: int = 300) -> dict:
    """MIDI files/s of each parser (pretty_midi, symusic) on the same files, in one process, best of
    2 passes, by process CPU time (other load on the machine counts less than in wall time): parse
    only (``read_midi``) and parse + melody extraction (``load_midi_item``). Real
    files: the first POP909 songs and Nottingham tunes of the data folder (when it is there);
    synthetic: 8-bar random melodies over triads, written by pretty_midi in a temporary folder."""
    import tempfile
    from pathlib import Path

    import pretty_midi

    from explorer.data.midi_files import PARSERS, load_midi_item, read_midi
    from explorer.data.performance_io import default_data_root
    from explorer.data.tune import SkipTune

    def rate(fn, files):
        best = float("inf")
        for _ in range(2):
            t0 = time.process_time()
            for f in files:
                try:
                    fn(f)
                except SkipTune:
                    pass
            best = min(best, time.process_time() - t0)
        return round(len(files) / best, 1)

    root = default_data_root()
    sets = {"real": sorted(root.glob("pop909/POP909/*/[0-9][0-9][0-9].mid"))[:n_real // 2]
            + sorted(root.glob("nottingham/MIDI/*.mid"))[:n_real - n_real // 2]}
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        sets["synthetic"] = []
        for k in range(n_synthetic):
            spq = 60.0 / float(rng.integers(80, 160))
            pm = pretty_midi.PrettyMIDI(initial_tempo=60.0 / spq)
            mel = pretty_midi.Instrument(0, name="Melody")
            mel.notes = [pretty_midi.Note(90, int(p), i * spq / 2, (i + 1) * spq / 2)
                         for i, p in enumerate(rng.integers(60, 80, 64))]
            chords = pretty_midi.Instrument(0, name="Chords")
            chords.notes = [pretty_midi.Note(70, int(r) + d, b * 4 * spq, (b + 1) * 4 * spq)
                            for b, r in enumerate(rng.integers(45, 57, 8)) for d in (0, 4, 7)]
            pm.instruments += [mel, chords]
            pm.write(str(Path(tmp) / f"{k}.mid"))
            sets["synthetic"].append(Path(tmp) / f"{k}.mid")
        for label, files in sets.items():
            if files:
                out[label] = {"files": len(files)} | {
                    f"{p}_{what}_files_per_s": rate(fn, files) for p in PARSERS for what, fn in (
                        ("parse", lambda f, p=p: read_midi(f, parser=p)),
                        ("tune", lambda f, p=p: load_midi_item((str(f), None, None), parser=p)))}
    return out


def bench_bigmap(sizes=(100_000, 1_000_000), views: int = 20) -> dict:
    """The Latent map of a store (issue 17), per store size: reading the latents, the PCA map fitted
    on 30k points and applied to all (cold: nothing cached; cached: read from the store folder),
    reading the columns the page filters and colours by, building the neighbour index and one
    neighbour query (p50/p95), and one view's figure (datashader image + PNG + plotly figure)
    p50/p95 over whole-map, attribute and zoomed views (after a first view of each kind, which
    includes datashader's compilation in a new process: ``first_view_s``). Stores: ``LATENT_EXPLORER_BIGMAP_STORES`` (paths separated by ``os.pathsep``),
    else synthetic ones (scripts/make_synthetic_store.py) in a temporary folder."""
    import importlib.util
    import shutil
    import tempfile
    from pathlib import Path

    from explorer.data.store import open_store
    from explorer.latent import bigmap as B
    from explorer.viz import bigmap as V

    def timed(fn):
        t0 = time.perf_counter()
        value = fn()
        return value, round(time.perf_counter() - t0, 2)

    given = [Path(p) for p in os.environ.get("LATENT_EXPLORER_BIGMAP_STORES", "").split(os.pathsep) if p]
    tmp = None
    if not given:
        script = Path(__file__).resolve().parents[1] / "scripts" / "make_synthetic_store.py"
        spec = importlib.util.spec_from_file_location("make_synthetic_store", script)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tmp = Path(tempfile.mkdtemp(prefix="bench-bigmap-"))
        given = [mod.make_store(tmp / f"synthetic-{n}", n) for n in sizes]
    out, rng = {}, np.random.default_rng(0)
    try:
        for path in given:
            store = open_store(path)
            key = store.latent_keys()[0]
            X, read_s = timed(lambda: store.latents(key))
            shutil.rmtree(Path(path) / B.MAPS_DIR, ignore_errors=True)
            (coords, _), cold_s = timed(lambda: B.cached_projection(store, key, "PCA", latents=X))
            (_, hit), cached_s = timed(lambda: B.cached_projection(store, key, "PCA"))
            attrs, columns_s = timed(lambda: store.columns(store.attribute_names()))
            index, index_s = timed(lambda: B.LatentIndex(X))
            queries = iter(rng.integers(0, len(X), 1000))
            nn = _timeit(lambda: index.query(X[next(queries)], 5), 20)
            full = V.full_view(coords)
            centres = coords[rng.integers(0, len(coords), views)]
            scales = np.geomspace(1.0, 0.002, views)
            shown = [(full, None)] + [(V.View(c[0] - s * (full.x1 - full.x0) / 2, c[0] + s * (full.x1 - full.x0) / 2,
                                              c[1] - s * (full.y1 - full.y0) / 2, c[1] + s * (full.y1 - full.y0) / 2),
                                       attrs["note_density"] if k % 2 else None)
                                      for k, (c, s) in enumerate(zip(centres, scales))]
            _, first_s = timed(lambda: V.bigmap_figure(coords, full))
            V.bigmap_figure(coords, full, values=attrs["note_density"], value_range=(0.0, 1.0))  # its own compile
            times, drawn = [], 0
            for view, values in shown:
                t0 = time.perf_counter()
                _, facts = V.bigmap_figure(coords, view, values=values, value_range=(0.0, 1.0) if values is not None
                                           else None, hover=lambda rows: [str(r) for r in rows])
                times.append((time.perf_counter() - t0) * 1000)
                drawn += facts["points_drawn"]
            out[f"{len(store)}"] = {
                "latents_read_s": read_s, "pca_map_cold_s": cold_s, "pca_map_cached_s": cached_s,
                "cached_hit": hit, "columns_read_s": columns_s, "neighbour_index_s": index_s,
                "neighbour_query_p50_ms": nn["p50_ms"], "neighbour_query_p95_ms": nn["p95_ms"],
                "first_view_s": first_s, "view_p50_ms": round(float(np.percentile(times, 50)), 1),
                "view_p95_ms": round(float(np.percentile(times, 95)), 1), "views": len(times),
                "views_with_points_drawn": drawn, "load_1min": round(os.getloadavg()[0], 2)}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


BENCHMARKS = {
    "attributes": bench_attributes,
    "render": bench_render,
    "render-cached": bench_render_cached,
    "midi": bench_midi_roundtrip,
    "encode": bench_encode,
    "decode": bench_decode,
    "decode-render": bench_decode_render,
    "slider": bench_slider,
    "tsne": bench_tsne,
    "map-open": bench_map_open,
    "decode-speed": bench_decode_speed,
    "midi-parse": bench_midi_parse,
    "bigmap": bench_bigmap,
}


def run(names=None, *, precision: str | None = None) -> dict:
    """The named benchmarks' results (default: all); ``precision`` is decode-speed's lower precision."""
    names = names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    from explorer.device import describe_device

    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "device": describe_device()}
    for n in names:
        kwargs = {"precision": precision} if n == "decode-speed" and precision else {}
        out[n] = BENCHMARKS[n](**kwargs) | {"what": BENCHMARKS[n].__doc__.strip()}
    return out
