"""Training the performance-style CVAE (explorer.models.virtuoso) on aligned performances.

``explorer train performance --data ROOT --out RUN`` reads every aligned performance under
ROOT (see explorer.data.performances), trains on windows of consecutive score notes, keeps
``RUN/state.pt`` (every few minutes, read with ``weights_only=True``; a rerun resumes),
``RUN/best.safetensors`` (the best validation loss; ``explorer eval … --ship`` adds the
style table of all performances and the eval figures) and ``RUN/summary.json``. The test piece (Schubert D783) never trains;
validation is on whole held-out pieces too (:data:`VALID_PIECES`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.data.performances import (SCORE_FEATURES, TARGETS, PerformanceExample, default_data_root,
                                        list_performances, load_examples)
from explorer.device import pick_device
from explorer.models.checkpoint import save_performance_checkpoint
from explorer.models.performance_style import windows_of
from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE
from explorer.train.trainer import STATE_ERRORS, does_not_fit, read_state

VALID_PIECES = ("kv330_2", "kv533_2")  # two slow Batik movements: whole pieces held out for model selection
SAVE_EVERY_S = 180


def window_batch(examples: list[PerformanceExample], items, window: int, device):
    """Stack windows ``items`` [(example index, start)] → feats (B, W, F), beat, measure (B, W), targets (B, W, P).
    Every training example has at least ``window`` notes (the caller keeps only those)."""
    f, b, m, t = [], [], [], []
    for i, s in items:
        ex = examples[i]
        sl = slice(s, s + window)
        f.append(ex.score.features[sl])
        b.append(ex.score.beat[sl] - ex.score.beat[s])
        m.append(ex.score.measure[sl] - ex.score.measure[s])
        t.append(ex.targets[sl])
    as_t = lambda a, dt: torch.as_tensor(np.stack(a), dtype=dt, device=device)  # noqa: E731
    return as_t(f, torch.float32), as_t(b, torch.long), as_t(m, torch.long), as_t(t, torch.float32)


def target_stats(examples) -> tuple[tuple, tuple]:
    t = np.concatenate([e.targets for e in examples])
    return tuple(float(v) for v in t.mean(0)), tuple(float(v) for v in np.maximum(t.std(0), 1e-4))


@torch.no_grad()
def validate(model, examples, window: int, device) -> dict:
    model.eval()
    items = [(i, s) for i, e in enumerate(examples) for s in windows_of(len(e.score), window, window)]
    sums, n = {}, 0
    for k in range(0, len(items), 32):
        out = model(*window_batch(examples, items[k:k + 32], window, device))
        for key, v in out.items():
            sums[key] = sums.get(key, 0.0) + float(v) * len(items[k:k + 32])
        n += len(items[k:k + 32])
    model.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer train performance",
                                description="train the performance-style CVAE on aligned piano performances")
    p.add_argument("--data", default=None, help="the shared data folder (default: $LATENT_EXPLORER_DATA or ../shared/data)")
    p.add_argument("--out", required=True, help="run folder: state.pt, best.safetensors, summary.json")
    p.add_argument("--sources", nargs="+", default=["vienna4x22", "batik", "emotion"])
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--z-dims", type=int, default=16)
    p.add_argument("--beta", type=float, default=0.005, help="KL weight (β-VAE), reached after --warmup steps")
    p.add_argument("--warmup", type=int, default=1000, help="steps of linear KL warm-up")
    p.add_argument("--window", type=int, default=192, help="notes per training window")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--patience", type=int, default=10, help="epochs without a better validation loss before stopping")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this much training time")
    p.add_argument("--limit", type=int, default=None, help="use only the first N performances (quick runs, tests)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p


def _load(args):
    records = list_performances(args.data or default_data_root(), sources=tuple(args.sources))
    records = [r for r in records if r.split == "train"][: args.limit]
    examples = [e for e in load_examples(records, progress=not args.quiet) if len(e.score) >= args.window]
    if not examples:
        raise ValueError(f"no training performance with at least {args.window} notes under {args.data}")
    valid = [e for e in examples if e.record.piece in VALID_PIECES]
    train = [e for e in examples if e.record.piece not in VALID_PIECES]
    if not train:
        raise ValueError("every performance found is a validation piece; add data or drop --limit")
    return train, valid or train[-1:]


def train_performance(args) -> dict:
    from tqdm import tqdm

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    train, valid = _load(args)
    mean, std = target_stats(train)
    cfg = VirtuosoConfig(n_features=len(SCORE_FEATURES), n_targets=len(TARGETS), hidden=args.hidden,
                         z_dims=args.z_dims, beta=args.beta, target_mean=mean, target_std=std,
                         target_names=TARGETS, feature_names=SCORE_FEATURES)
    model = VirtuosoVAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.pt"
    step, epoch, best, seconds, history, bad_epochs = 0, 0, float("inf"), 0.0, [], 0
    if state_path.exists():
        step, epoch, best, seconds, bad_epochs = _resume(read_state(state_path, device), state_path, model, opt)
        history = json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
        if not args.quiet:
            print(f"resuming from epoch {epoch}, step {step} (best valid {best:.4f})", file=sys.stderr)
    gen = np.random.default_rng(args.seed + epoch)
    items = [(i, s) for i, e in enumerate(train) for s in windows_of(len(e.score), args.window, args.window // 2)]
    card = {"model": "virtuoso", "config": cfg.to_dict(), "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "window": args.window, "warmup": args.warmup,
            "data": {"train_performances": len(train), "valid_performances": len(valid),
                     "train_notes": int(sum(len(e.score) for e in train)), "valid_pieces": list(VALID_PIECES),
                     "test_pieces": ["Schubert_D783_no15"], "sources": list(args.sources)},
            "hardware": f"{device.type}, {torch.get_num_threads()} thread(s)"}

    def save_state():
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "epoch": epoch,
                    "best": best, "seconds": seconds, "bad_epochs": bad_epochs}, state_path)
        (out / "history.json").write_text(json.dumps(history))

    stop, last_save, t0 = None, time.monotonic(), time.monotonic() - seconds
    model.train()
    while epoch < args.epochs and stop is None:
        order = gen.permutation(len(items))
        bar = tqdm(range(0, len(order), args.batch), desc=f"epoch {epoch + 1}", disable=args.quiet, leave=False)
        for k in bar:
            beta = args.beta * min(1.0, step / max(args.warmup, 1))
            res = model(*window_batch(train, [items[j] for j in order[k:k + args.batch]], args.window, device), beta=beta)
            opt.zero_grad()
            res["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            bar.set_postfix(recon=f"{res['recon'].item():.3f}", kl=f"{res['kl'].item():.1f}")
            seconds = time.monotonic() - t0
            if args.max_minutes and seconds > args.max_minutes * 60:
                stop = f"time limit of {args.max_minutes:g} min"
                break
            if args.max_steps and step >= args.max_steps:
                stop = f"{args.max_steps} steps"
                break
            if time.monotonic() - last_save > SAVE_EVERY_S:
                save_state()
                last_save = time.monotonic()
        epoch += stop is None
        val = validate(model, valid, args.window, device)
        rec = {"epoch": epoch, "step": step, "seconds": round(seconds, 1), "train_recon": res["recon"].item(),
               "train_kl": res["kl"].item(), **{f"val_{k}": round(v, 5) for k, v in val.items()}}
        history.append(rec)
        if not args.quiet:
            print(json.dumps(rec), file=sys.stderr, flush=True)
        val_score = val["recon"] + args.beta * val["kl"]
        if val_score < best:
            best, bad_epochs = val_score, 0
            save_performance_checkpoint(out / "best.safetensors", model,
                                        card=card | {"steps": step, "epochs": epoch, "train_seconds": seconds, "best_val": rec})
        else:
            bad_epochs += 1
            if bad_epochs >= args.patience and stop is None:
                stop = f"no better validation loss in {args.patience} epochs"
        save_state()
    summary = {"stopped": stop or f"{args.epochs} epochs done", "best_val_loss": best, "steps": step, "epochs": epoch,
               "train_seconds": round(seconds, 1), "out": str(out / "best.safetensors")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary



#: What a performance run's state.pt holds (written below; ``bad_epochs`` since a later version).
STATE_KEYS = ("model", "optim", "step", "epoch", "best", "seconds")


def _resume(st, path, model, opt) -> tuple:
    """Load the state ``st`` of ``path`` into ``model`` and ``opt``: (step, epoch, best, seconds,
    bad_epochs). ValueError naming ``path`` and what is wrong when it is not a whole state of a
    run of this size."""
    if not isinstance(st, dict) or any(k not in st for k in STATE_KEYS):
        have = sorted(st)[:8] if isinstance(st, dict) else type(st).__name__
        raise ValueError(f"{path} is not a performance training state (it has {have}, not {', '.join(STATE_KEYS)}): "
                         "move it away, or use another --out")
    try:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        return (int(st["step"]), int(st["epoch"]), float(st["best"]), float(st["seconds"]),
                int(st.get("bad_epochs", 0)))
    except STATE_ERRORS as exc:
        raise does_not_fit(path, exc) from None

def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    try:
        summary = train_performance(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
