"""Write a synthetic store of N two-bar segments for the million-point map (issue 17).

Random-walk melodies (seeded), their real attributes (explorer.music.attributes, computed by the
store's writer), and synthetic latent means: a Gaussian mixture in D dims (one component per
group of tunes) whose first four dims follow the AR-VAE's regularised attributes, written under
the key of a shipped 2-bar, 64-dim checkpoint so the app offers the store's map for it. No model
is run: the latents are not what any model would give; they exist to measure and test the map.

    .venv/bin/python scripts/make_synthetic_store.py OUT --segments 1000000 [--shard-rows 100000] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from explorer.data.dataset import split_of  # noqa: E402
from explorer.data import store as S  # noqa: E402
from explorer.music.attributes import AR_ATTRIBUTES, compute  # noqa: E402
from explorer.music.melody import HOLD, REST  # noqa: E402

KEY = "arvae-z64-nottingham-oneills-airds-essen-pop909"  # a shipped 2-bar AR-VAE with 64 latent dims
DIM = 64
STEPS = 32
SEGMENTS_PER_TUNE = 16
COMPONENTS = 12
SOURCES = ("synthetic:walks-a", "synthetic:walks-b", "synthetic:walks-c")


def melodies(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens (n, 32) uint8, chroma (n, 32, 12) uint8): random walks of onsets (a per-segment
    density), steps of -4..4 semitones, some rests; a tonic triad under each."""
    density = rng.uniform(0.15, 0.75, (n, 1))
    onset = rng.random((n, STEPS)) < density
    onset[:, 0] = True
    steps = rng.integers(-4, 5, (n, STEPS)) * onset
    pitch = np.clip(rng.integers(60, 76, (n, 1)) + np.cumsum(steps, axis=1), 48, 90)
    tokens = np.where(onset, pitch, HOLD)
    tokens = np.where(onset & (rng.random((n, STEPS)) < 0.08), REST, tokens).astype(np.uint8)
    tokens[:, 0] = pitch[:, 0]
    root = pitch[:, 0] % 12
    chroma = np.zeros((n, STEPS, 12), np.uint8)
    for interval in (0, 4, 7):
        chroma[np.arange(n), :, (root + interval) % 12] = 1
    return tokens, chroma


def latents(rng, tune: np.ndarray, attrs: dict, centres: np.ndarray) -> np.ndarray:
    """(n, D) float32: the tune's mixture component plus noise; dims 0-3 follow the AR attributes."""
    mu = centres[tune % COMPONENTS] + rng.normal(0, 1.0, (len(tune), centres.shape[1]))
    for j, name in enumerate(AR_ATTRIBUTES):
        v = attrs[name].astype(np.float64)
        mu[:, j] = 2.0 * (v - v.mean()) / (v.std() or 1.0) + 0.2 * rng.normal(size=len(v))
    return mu.astype(np.float32)


def make_store(out, segments: int, *, shard_rows: int = 100_000, seed: int = 0, key: str | None = KEY,
               dim: int = DIM, progress=None) -> Path:
    """Write the store at ``out`` (a new folder, or a store this script started: finished shards
    are kept) with latents (n, ``dim``) under ``key`` (None: no latents); returns its path."""
    out = S.create_store(out, bars=2, hop=2, source="synthetic", root="synthetic", parser="none",
                         planned=-(-segments // shard_rows))
    man = S.read_manifest(out)
    done = set(man.get("latents", {}).get(key, {}).get("shards", []) if key else (s["name"] for s in man["shards"]))
    centres = np.random.default_rng(seed).normal(0, 2.5, (COMPONENTS, dim))
    for k, start in enumerate(range(0, segments, shard_rows)):
        name = f"part-{k:05d}"
        if name not in done:
            rng = np.random.default_rng([seed, k])
            rows = np.arange(start, min(start + shard_rows, segments))
            tokens, chroma = melodies(rng, len(rows))
            attrs = compute(tokens)
            tune = rows // SEGMENTS_PER_TUNE
            ids = np.array([f"walk{t:07d}" for t in tune])
            src = np.array(SOURCES)[tune % len(SOURCES)]
            prov = {"source": src, "tune_id": ids, "title": np.array([f"Synthetic walk {t}" for t in tune]),
                    "qpm": np.full(len(rows), 120.0), "split": np.array([split_of(s, i) for s, i in zip(src, ids)]),
                    "bar": (rows % SEGMENTS_PER_TUNE) * 2, "transpose": np.zeros(len(rows), np.int8),
                    "tune_key": np.full(len(rows), "")}
            S.write_segment_shard(out, name, tokens, chroma, prov, attrs, inputs=[], tunes=len(np.unique(tune)),
                                  skipped={})
            if key:
                S.write_latent_shard(out, key, name, latents(rng, tune, attrs, centres),
                                     {"checkpoint": key, "fingerprint": f"synthetic:seed{seed}"})
        if progress is not None:
            progress(min(start + shard_rows, segments), segments)
    man = S.read_manifest(out)
    man["complete"] = True
    S.write_manifest(out, man)
    return Path(out)


def main(argv=None) -> int:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--shard-rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.segments < 1 or args.shard_rows < 1:
        ap.error(f"--segments and --shard-rows must be ≥ 1, got {args.segments}, {args.shard_rows}")
    with tqdm(total=args.segments, unit="segments") as bar:
        make_store(args.out, args.segments, shard_rows=args.shard_rows, seed=args.seed,
                   progress=lambda done, total: bar.update(done - bar.n))
    print(f"wrote {args.segments} segments to {args.out} (latents {KEY!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
