"""Training: one loop for every melody model.

Resumable (``state.pt`` every few minutes, read with ``weights_only=True``),
seeded, a fixed validation set, early stopping on validation greedy accuracy,
random transposition augmentation, the GPU when there is one. Writes
``best.safetensors`` (the best validation model, with its training card).

Distributed: launched by ``torchrun`` (which sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``), the same command trains with PyTorch DDP — gloo on CPUs,
NCCL on GPUs, one GPU per process. Every rank draws the same shuffled order
and takes its share of each global batch of ``--batch`` rows; DDP averages the
gradients, so every replica ends with the same weights (the summary lists a
digest per rank). Rank 0 alone writes files and prints.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from explorer.data.dataset import SegmentDataset, concat
from explorer.device import describe_device, pick_device
from explorer.models.base import pitch_bounds, shift_melodies
from explorer.models.checkpoint import save_checkpoint
from explorer.models.registry import build_model, config_to_dict
from explorer.music.attributes import compute as compute_attributes
from explorer.music.chords import estimate_missing_chords
from explorer.music.melody import N_PITCHES

#: Debug hook: a folder where each rank appends the training-row indices of every step (rows-rank<R>.txt).
ROWS_LOG_ENV = "LATENT_EXPLORER_TRAIN_ROWS_LOG"


@dataclass
class TrainSettings:
    model: str
    data: list
    out: str
    hidden: int | None = None
    epochs: int = 100
    batch: int = 128
    lr: float = 1e-3
    device: str = "auto"
    seed: int = 0
    patience: int = 6
    max_minutes: float | None = None
    max_steps: int | None = None
    augment: int = 6
    val_limit: int = 1024
    checkpoint_minutes: float = 3.0
    threads: int | None = None
    tf_k: float | None = None
    beta: float | None = None
    init: str | None = None
    progress: bool = True
    config: dict = field(default_factory=dict)  # other config fields, e.g. {"free_bits": 256}
    estimate_chords: bool = False  # rows without chords get chords estimated from their notes (chord-conditioned models)


def transpose_batch(tokens: torch.Tensor, chroma: torch.Tensor, max_shift: int, gen: torch.Generator):
    """Shift each row by a random number of semitones in ±max_shift, kept inside 0..127."""
    if max_shift <= 0:
        return tokens, chroma
    lo, hi = pitch_bounds(tokens)
    shift = torch.randint(-max_shift, max_shift + 1, (tokens.size(0),), generator=gen).to(tokens.device)
    shift = torch.clamp(shift, -lo.clamp(max=127), 127 - hi.clamp(min=0))
    shift = torch.where((tokens < N_PITCHES).any(1), shift, torch.zeros_like(shift))
    return shift_melodies(tokens, chroma, shift)


def _tensors(ds: SegmentDataset, device, attrs: tuple):
    tok = torch.as_tensor(ds.tokens.astype(np.int64), device=device)
    ch = torch.as_tensor(ds.chroma.astype(np.float32), device=device)
    at = {}
    if attrs:
        vals = compute_attributes(ds.tokens, attrs)
        at = {k: torch.as_tensor(np.nan_to_num(v).astype(np.float32), device=device) for k, v in vals.items()}
    return tok, ch, at


@torch.no_grad()
def validate(model, tok, ch, batch: int = 256) -> dict:
    """Teacher-forced NLL and accuracy, and greedy token accuracy, with z = posterior mean."""
    model.eval()
    n_tf = n_gr = nll = 0.0
    total = 0
    for i in range(0, len(tok), batch):
        t, c = tok[i:i + batch], ch[i:i + batch]
        post = model.encode(t, c)
        tf = model.decode(post.mean, c, target=t, teacher_forcing=1.0)
        gr = model.decode(post.mean, c)
        nll += float(torch.nn.functional.nll_loss(tf.logits.reshape(-1, tf.logits.size(-1)), t.reshape(-1),
                                                  reduction="sum"))
        n_tf += float((tf.logits.argmax(-1) == t).sum())
        n_gr += float((gr.tokens == t).sum())
        total += t.numel()
    model.train()
    return {"val_nll": nll / total, "val_acc_tf": n_tf / total, "val_acc_greedy": n_gr / total}


class _LossModule(torch.nn.Module):
    """``model.loss`` as a forward, so that DDP sees the training step as a forward call."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens, chroma, step, attributes):
        return self.model.loss(tokens, chroma, step=step, attributes=attributes)


def _init_distributed(device):
    """(world size, rank, device) — and the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1, 0, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, dist.get_rank(), device


def weights_digest(model) -> str:
    """SHA-1 of all weights, in state-dict order (equal digests = identical replicas)."""
    h = hashlib.sha1()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def parse_settings(items: list) -> dict:
    """``--set`` items ``["free_bits=256", "z_dims=64"]`` → {"free_bits": 256, "z_dims": 64}
    (values read as JSON, else text); ValueError for an item without ``=``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes FIELD=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def read_state(path, device) -> dict:
    """A run's ``state.pt``, read with ``weights_only=True`` (tensors and plain values; no code from
    the file runs). ValueError naming the file when it is not a state this version can read."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a training state this version can read ({type(exc).__name__}; only "
                         "tensors and plain values are accepted): move it away, or use another --out") from None


#: What a run's state.pt holds (written by the training loop below).
STATE_KEYS = ("model_name", "model", "optim", "step", "epoch", "best", "bad_epochs", "history", "seconds", "gen")


def check_state(st, path, model_name: str) -> dict:
    """``st`` itself when it is a whole state of a ``model_name`` run; ValueError naming ``path`` and
    what is wrong otherwise (not a dict, keys missing, another model's run)."""
    if not isinstance(st, dict):
        raise ValueError(f"{path} is not a training state (it holds a {type(st).__name__}, not a dict): move it "
                         "away, or use another --out")
    missing = [k for k in STATE_KEYS if k not in st]
    if "model_name" in st and st["model_name"] != model_name:
        raise ValueError(f"{path} is a {st.get('model_name')} run, not {model_name}; use another --out")
    if missing:
        raise ValueError(f"{path} is not a whole training state (no {', '.join(missing)}): move it away, or use "
                         "another --out")
    return st


def resume_state(st: dict, path, model, opt, gen) -> tuple:
    """Load ``st`` into ``model``, ``opt`` and ``gen``; (step, epoch, best, bad_epochs, history, seconds).
    ValueError naming ``path`` when the state does not fit this run (other sizes, wrong types)."""
    try:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        gen.set_state(st["gen"])
        out = (int(st["step"]), int(st["epoch"]), float(st["best"]), int(st["bad_epochs"]),
               json.loads(st["history"]), float(st["seconds"]))
    except STATE_ERRORS as exc:
        raise does_not_fit(path, exc) from None
    return out


#: What loading a readable state into a model or optimizer of other sizes or types raises.
STATE_ERRORS = (RuntimeError, TypeError, ValueError, KeyError, AttributeError, IndexError)


def does_not_fit(path, exc: Exception) -> ValueError:
    """The error for a state at ``path`` that loading into this run failed on with ``exc``."""
    why = " ".join(str(exc).split())[:200] or type(exc).__name__
    return ValueError(f"{path} does not fit this run ({type(exc).__name__}: {why}): move it away, or use another --out")


def _model_overrides(s: TrainSettings, n_steps: int) -> dict:
    over = {"hidden_dims": s.hidden, "k": s.tf_k, "beta": s.beta} | dict(s.config)
    if "n_step" not in over:
        over["n_step"] = n_steps  # the data's segment length (e.g. 256 steps for 16 bars)
    return over


def train(s: TrainSettings) -> dict:
    """Train (or resume) and return the summary written to ``out/summary.json``."""
    if s.threads:
        torch.set_num_threads(s.threads)
    world, rank, device = _init_distributed(pick_device(s.device))
    if s.batch % world:
        raise ValueError(f"--batch {s.batch} must be a multiple of the {world} processes")
    local_batch = s.batch // world
    lead = rank == 0
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = concat([SegmentDataset.load(p) for p in s.data]) if len(s.data) > 1 else SegmentDataset.load(s.data[0])
    chords_estimated = 0
    if s.estimate_chords:  # what the app gives a chord-conditioned model for a melody without a chord track
        chroma, chords_estimated = estimate_missing_chords(ds.tokens, ds.chroma)
        ds.chroma = chroma.astype(np.uint8)
    train_ds, val_ds = ds.take_split("train"), ds.take_split("valid")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"the data needs train and valid rows; got {ds.counts()}")
    rng = np.random.default_rng(s.seed)
    if len(val_ds) > s.val_limit:
        val_ds = val_ds.subset(np.sort(rng.choice(len(val_ds), s.val_limit, replace=False)))
    torch.manual_seed(s.seed)
    model = build_model(s.model, **_model_overrides(s, ds.n_steps)).to(device)
    attrs = tuple(model.layout.regularized)
    tr_tok, tr_ch, tr_at = _tensors(train_ds, device, attrs)
    va_tok, va_ch, _ = _tensors(val_ds, device, ())
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    state_path = out / "state.pt"
    step, epoch, best, bad_epochs, history, seconds = 0, 0, -1.0, 0, [], 0.0
    gen = torch.Generator().manual_seed(s.seed)
    if state_path.exists():
        st = check_state(read_state(state_path, device), state_path, s.model)
        step, epoch, best, bad_epochs, history, seconds = resume_state(st, state_path, model, opt, gen)
        if lead:
            print(f"resuming {s.model} from epoch {epoch}, step {step} (best greedy {best:.4f})")
    if s.init and not state_path.exists():
        from explorer.models.checkpoint import load_checkpoint

        init_model, init_meta, _ = load_checkpoint(s.init, device=device)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if init_meta["model"] != s.model or shapes != {k: tuple(v.shape) for k, v in init_model.state_dict().items()}:
            raise ValueError(f"--init {s.init} is a {init_meta['model']} with config {init_meta['config']}; "
                             f"its weights must fit the model being trained ({s.model}, {model.config})")
        model.load_state_dict(init_model.state_dict())
        changed = {k: (getattr(init_model.config, k), v) for k, v in vars(model.config).items()
                   if getattr(init_model.config, k, None) != v}
        if changed and lead:  # training options (β, k, new loss terms) may differ; the shapes may not
            print("config changed from the init checkpoint: "
                  + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items()))
        # continue the teacher-forcing schedule where that model's training stopped
        card0 = init_meta.get("card", {})
        step, epoch = int(card0.get("steps", 0)), int(card0.get("epochs", 0))
        seconds, history = float(card0.get("train_seconds", 0)), list(card0.get("history", []))
        if lead:
            print(f"starting from the weights of {s.init} at step {step} (a fresh optimizer)")
    if len(train_ds) < s.batch:  # not one whole batch: no step would be taken
        raise ValueError(f"the data has {len(train_ds)} training rows, fewer than --batch {s.batch}")
    data_desc = {"files": [Path(p).name for p in s.data], "segments": ds.counts(),
                 "sources": sorted(set(ds.tune_source.tolist())),
                 "split": "by tune (SHA-1 of source|tune_id: 80/10/10); tunes with the same opening in one split",
                 "duplicates": ds.meta.get("duplicates", {}),
                 "augmentation": f"random transposition ±{s.augment} semitones per training row"}
    if s.estimate_chords:
        data_desc["chords"] = f"estimated from the notes for the {chords_estimated} segments without chords"

    def save_state():
        if not lead:
            return
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "epoch": epoch, "best": best,
                    "bad_epochs": bad_epochs, "history": json.dumps(history), "seconds": seconds,
                    "gen": gen.get_state(), "model_name": s.model}, out / "state.tmp")
        (out / "state.tmp").replace(state_path)

    def card(extra=None) -> dict:
        return {"model": s.model, "config": config_to_dict(model.config), "data": data_desc, "steps": step,
                "epochs": epoch, "train_seconds": round(seconds), "batch": s.batch, "lr": s.lr, "seed": s.seed,
                "hardware": f"{describe_device()} on {platform.machine()}" + (f", {world} processes (DDP)" if world > 1
                                                                               else ""),
                "history": history[-50:]} | (extra or {})

    runner = _LossModule(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(runner, device_ids=[device.index] if device.type == "cuda" else None)

    t_start = time.perf_counter() - seconds
    last_ckpt = time.perf_counter()
    model.train()
    n = len(tr_tok)
    stop = ""
    rows_log = os.environ.get(ROWS_LOG_ENV)
    while epoch < s.epochs and not stop:
        perm = torch.randperm(n, generator=gen)
        bar = tqdm(range(0, n - s.batch + 1, s.batch), desc=f"{s.model} epoch {epoch + 1}",
                   disable=not (s.progress and lead), leave=False)
        for i in bar:
            idx = perm[i + rank * local_batch:i + (rank + 1) * local_batch].to(device)
            if rows_log:  # debug (tests): one line of training-row indices per step and rank
                with open(Path(rows_log) / f"rows-rank{rank}.txt", "a") as f:
                    f.write(" ".join(map(str, idx.tolist())) + "\n")
            tok, ch = transpose_batch(tr_tok[idx], tr_ch[idx], s.augment, gen)
            at = {k: v[idx] for k, v in tr_at.items()}
            terms = runner(tok, ch, step, at)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 10 == 0:
                bar.set_postfix({k: f"{float(v.detach()):.3f}" for k, v in terms.items()})
            seconds = time.perf_counter() - t_start
            if time.perf_counter() - last_ckpt > s.checkpoint_minutes * 60:
                save_state()
                last_ckpt = time.perf_counter()
            if s.max_minutes and _any_rank(seconds > s.max_minutes * 60, world, device):
                stop = f"time budget of {s.max_minutes} min reached"
                break
            if s.max_steps and step >= s.max_steps:
                stop = f"step budget of {s.max_steps} steps reached"
                break
        bar.close()
        if not stop:
            epoch += 1
        val = validate(model, va_tok, va_ch)
        rec = {"epoch": epoch, "step": step, "seconds": round(seconds)} | {k: round(float(v), 4) for k, v in val.items()} \
            | {k: round(float(v), 4) for k, v in terms.items() if k != "loss"} | {"loss": round(float(terms["loss"].detach()), 4)}
        history.append(rec)
        if lead:
            print(json.dumps(rec), flush=True)
        if val["val_acc_greedy"] > best:
            best, bad_epochs = val["val_acc_greedy"], 0
            if lead:
                save_checkpoint(out / "best.safetensors", model, card=card({"best_val": rec}))
        else:
            bad_epochs += 1
            # teacher forcing is still high early on: only stop once it has decayed
            if bad_epochs >= s.patience and float(terms.get("tf", 0.0)) < 0.05:
                stop = f"early stop: no better validation greedy accuracy for {s.patience} epochs"
        save_state()
        last_ckpt = time.perf_counter()
    summary = {"stopped": stop or f"{s.epochs} epochs done", "best_val_acc_greedy": best, "steps": step,
               "epochs": epoch, "seconds": round(seconds), "out": str(out), "processes": world}
    if world > 1:
        import torch.distributed as dist

        digests = [None] * world
        dist.all_gather_object(digests, weights_digest(model))
        summary["replica_digests"] = digests
        dist.destroy_process_group()
    if lead:
        (out / "summary.json").write_text(json.dumps(summary | {"history": history}, indent=1))
    return summary


def _any_rank(flag: bool, world: int, device) -> bool:
    """``flag`` on any process (all processes must stop at the same step)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
