"""Training MIDI-VAE (explorer.models.midivae) on a multi-track style pair.

``explorer train midivae --data PAIR.npz --out RUN`` (the dataset from ``python -m
explorer.data.multitrack PAIR PAIR.npz``) trains on the pair's training pieces with each style drawn
equally often (the classes balanced by bar count, as the authors do), validates on the validation
pieces every ``--valid-every`` steps, and keeps ``RUN/state.pt`` (read back with ``weights_only=True``;
a rerun resumes), ``RUN/best.safetensors`` (the best validation loss, with a card) and
``RUN/history.json``. Test pieces never train.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.data.multitrack import SILENCE, MultiTrackBars
from explorer.device import pick_device
from explorer.models.checkpoint import save_checkpoint
from explorer.models.midivae import MIDIVAE, MIDIVAEConfig
from explorer.train.trainer import read_state

SAVE_EVERY_S = 120


def bar_batch(ds: MultiTrackBars, rows, device) -> dict:
    """Tensors of bars ``rows``: pitch, instrument, velocity, style, and each bar's previous bar
    (``prev``: a silent bar where there is none; ``has_prev`` (B,) bool)."""
    rows = np.asarray(rows)
    prev = ds.prev[rows]
    has = prev >= 0
    pr = np.where(has, prev, 0)
    t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=device)  # noqa: E731
    ppitch = np.where(has[:, None, None], ds.pitch[pr], SILENCE)
    pvel = np.where(has[:, None, None], ds.velocity[pr], 0.0)
    return {"pitch": t(ds.pitch[rows], torch.long), "instrument": t(ds.instrument[rows], torch.long),
            "velocity": t(ds.velocity[rows], torch.float32), "style": t(ds.style[rows], torch.long),
            "prev": (t(ppitch, torch.long), t(ds.instrument[pr], torch.long), t(pvel, torch.float32)),
            "has_prev": t(has, torch.bool)}


@torch.no_grad()
def validate(model: MIDIVAE, ds: MultiTrackBars, rows, device, batch: int = 256) -> dict:
    """Mean loss terms over ``rows`` (z sampled as in training, with a fixed generator)."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(0)
    sums, n = {}, 0
    for k in range(0, len(rows), batch):
        part = rows[k:k + batch]
        out = model.loss(**bar_batch(ds, part, device), generator=gen)
        for key, v in out.items():
            sums[key] = sums.get(key, 0.0) + float(v) * len(part)
        n += len(part)
    model.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer train midivae", description="train MIDI-VAE on a multi-track style pair")
    p.add_argument("--data", required=True, help="a style pair's dataset (.npz from python -m explorer.data.multitrack)")
    p.add_argument("--out", required=True, help="run folder: state.pt, best.safetensors, history.json")
    p.add_argument("--z-dims", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--noise-std", type=float, default=0.01, help="std of z's sampling noise in training (authors: 0.01)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this much training time")
    p.add_argument("--valid-every", type=int, default=250, help="steps between validations")
    p.add_argument("--val-limit", type=int, default=2048,
                   help="validate on this many validation bars (a fixed draw, each style equally likely)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p


def _card(args, ds: MultiTrackBars, cfg: MIDIVAEConfig, device) -> dict:
    test = sorted({str(ds.piece_id[p]) for p in np.unique(ds.piece[ds.rows("test")])})
    return {"model": "midivae", "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "data": {"file": Path(args.data).name, "pair": ds.meta.get("pair"), "note": ds.meta.get("note"),
                     "pieces": ds.meta.get("pieces"), "skipped": ds.meta.get("skipped"), "bars": ds.counts(),
                     "test_pieces": test, "balance": "each style drawn with probability 1/K per training bar"},
            "hardware": f"{device.type}, {torch.get_num_threads()} thread(s)"}


def train_midivae(args) -> dict:
    from tqdm import tqdm

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    ds = MultiTrackBars.load(args.data)
    train_rows, valid_rows = ds.rows("train"), ds.rows("valid")
    for name, rows in (("train", train_rows), ("valid", valid_rows)):
        missing = set(range(len(ds.styles))) - set(ds.style[rows].tolist())
        if missing:
            raise ValueError(f"{args.data}: the {name} split has no bar of style(s) {[ds.styles[k] for k in missing]}")
    if len(valid_rows) > args.val_limit:
        draw = np.random.default_rng(0).choice(valid_rows, args.val_limit, replace=False,
                                               p=ds.balanced_weights(valid_rows))
        valid_rows = np.sort(draw)
    cfg = MIDIVAEConfig(styles=tuple(ds.styles), z_dims=args.z_dims, hidden=args.hidden, beta=args.beta,
                        noise_std=args.noise_std)
    model = MIDIVAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.pt"
    step, best, seconds, history = 0, float("inf"), 0.0, []
    if state_path.exists():
        st = read_state(state_path, device)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        step, best, seconds = int(st["step"]), float(st["best"]), float(st["seconds"])
        if st.get("valid_rows") != len(valid_rows):  # another validation draw: its losses are not comparable
            best = float("inf")
        history = json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
        if not args.quiet:
            print(f"resuming from step {step} (best valid {best:.4f})", file=sys.stderr)
    gen = np.random.default_rng(args.seed + step)
    weights = ds.balanced_weights(train_rows)
    card = _card(args, ds, cfg, device)

    def save_state():
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "best": best,
                    "seconds": seconds, "valid_rows": len(valid_rows)}, state_path)
        (out / "history.json").write_text(json.dumps(history))

    stop, last_save, t0 = None, time.monotonic(), time.monotonic() - seconds
    model.train()
    bar = tqdm(total=args.max_steps, initial=step, desc="midivae", disable=args.quiet, mininterval=5)
    while stop is None:
        res = model.loss(**bar_batch(ds, gen.choice(train_rows, args.batch, p=weights), device))
        opt.zero_grad()
        res["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seconds = time.monotonic() - t0
        bar.update(1)
        bar.set_postfix(pitch=f"{res['pitch']:.3f}", style=f"{res['style_accuracy']:.2f}", kl=f"{res['kl']:.2f}")
        if args.max_minutes and seconds > args.max_minutes * 60:
            stop = f"time limit of {args.max_minutes:g} min"
        elif step >= args.max_steps:
            stop = f"{args.max_steps} steps"
        if step % args.valid_every == 0 or stop:
            val = validate(model, ds, valid_rows, device)
            rec = {"step": step, "seconds": round(seconds, 1), **{f"train_{k}": round(v.item(), 5) for k, v in res.items()},
                   **{f"val_{k}": round(v, 5) for k, v in val.items()}}
            history.append(rec)
            if not args.quiet:
                print(json.dumps(rec), file=sys.stderr, flush=True)
            if val["loss"] < best:
                best = val["loss"]
                save_checkpoint(out / "best.safetensors", model,
                                card=card | {"steps": step, "train_seconds": round(seconds, 1), "best_val": rec})
            save_state()
            last_save = time.monotonic()
        elif time.monotonic() - last_save > SAVE_EVERY_S:
            save_state()
            last_save = time.monotonic()
    bar.close()
    summary = {"stopped": stop, "best_val_loss": best, "steps": step, "train_seconds": round(seconds, 1),
               "out": str(out / "best.safetensors")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    try:
        summary = train_midivae(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
