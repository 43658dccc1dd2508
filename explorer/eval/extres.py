"""ExtRes figures: reconstruction of x and y, concept consistency, a probe of z_r, diversity,
and the comparison with EC²-VAE on the rhythm concept.

- **recon of y**: y = f(x) encoded to z_e (posterior mean) and decoded greedily, share of positions right;
- **recon of x**: the melody models' measure (:func:`explorer.eval.run.reconstruction`: greedy,
  teacher-forced, onset pitch) through z_e → ŷ → x, and greedy through the residual model alone
  (x from its own z_r and the true y);
- **concept consistency**: f(decoded x) against the y it was decoded from, share of positions (and
  of melodies with every position right), for y of held-out melodies with z_r from the prior
  (``prior``) and from another held-out melody (``transfer``);
- **probe**: per position of y, a logistic regression from z_r (posterior means) to y's class,
  trained on 70% and scored on 30% of the melodies, against the majority class (chance) and the
  same probe on z_e (which should read y);
- **diversity**: for each of M held-out y, N residuals from the prior decoded greedily: the share
  of distinct onset-pitch sequences among the N, and their mean pairwise edit distance;
- **EC²-VAE on rhythm**: keep a melody's rhythm code, resample the pitch code from the prior, and
  ask how often f_rhythm(x) keeps the melody's rhythm — the figure ExtRes's ``prior`` consistency
  gives for its own split.

Decoded melodies are cleaned as the app plays them (:func:`explorer.music.melody.clean_tokens`).
``explorer eval`` gives the melody models' figures for an ExtRes checkpoint; these come from
``python -m explorer.eval.extres`` (see :func:`main`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.eval.run import reconstruction
from explorer.models.extres import concept_tensor
from explorer.models.trained import TrainedModel
from explorer.music.concepts import consistency, get_concept
from explorer.music.melody import N_PITCHES, clean_tokens


# ---------------------------------------------------------------------------------- small measures
def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (insert, delete, substitute: 1 each)."""
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def pitch_sequence(tokens) -> tuple:
    """The onset pitches of one melody (T,), in order."""
    tok = np.asarray(tokens)
    return tuple(int(p) for p in tok[tok < N_PITCHES])


def diversity(melodies) -> dict:
    """Of N melodies (N, T): ``distinct`` share of different onset-pitch sequences (1/N: all the
    same, 1: all differ) and ``edit_distance`` their mean pairwise edit distance."""
    seqs = [pitch_sequence(m) for m in melodies]
    n = len(seqs)
    pairs = [edit_distance(seqs[i], seqs[j]) for i in range(n) for j in range(i + 1, n)]
    return {"distinct": len(set(seqs)) / n if n else 0.0, "edit_distance": float(np.mean(pairs)) if pairs else 0.0}


def probe(z: np.ndarray, y: np.ndarray, *, seed: int = 0, train_share: float = 0.7) -> dict:
    """Per position l of y (N, L), a logistic regression z (N, D) → y[:, l] fitted on ``train_share``
    of the rows and scored on the rest. ``accuracy`` (mean over positions), ``chance`` (the
    majority class of the training rows, scored the same way) and ``above_chance`` (their difference)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(z))
    cut = int(len(z) * train_share)
    tr, te = order[:cut], order[cut:]
    scaler = StandardScaler().fit(z[tr])
    ztr, zte = scaler.transform(z[tr]), scaler.transform(z[te])
    accs, chances = [], []
    for pos in range(y.shape[1]):
        ytr, yte = y[tr, pos], y[te, pos]
        major = np.bincount(ytr).argmax()
        chances.append(float((yte == major).mean()))
        if len(np.unique(ytr)) < 2:
            accs.append(chances[-1])
            continue
        clf = LogisticRegression(max_iter=300).fit(ztr, ytr)
        accs.append(float(clf.score(zte, yte)))
    acc, chance = float(np.mean(accs)), float(np.mean(chances))
    return {"accuracy": round(acc, 4), "chance": round(chance, 4), "above_chance": round(acc - chance, 4),
            "rows": int(len(z))}


def consistency_figures(concept, y_wanted: np.ndarray, decoded: np.ndarray) -> dict:
    """f(decoded) (N, L) against ``y_wanted`` (N, L): share of positions and of whole melodies."""
    got = concept(clean_tokens(decoded))
    return {"positions": round(consistency(y_wanted, got), 4),
            "melodies": round(float((got == y_wanted).all(1).mean()), 4)}


# ---------------------------------------------------------------------------------- the model's parts
@torch.no_grad()
def _batched(fn, *arrays, batch: int = 256):
    outs = [fn(*[a[i:i + batch] for a in arrays]) for i in range(0, len(arrays[0]), batch)]
    return np.concatenate(outs)


def decode_with_concept(tm: TrainedModel, z_r: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Greedy melodies (N, T) from residual codes z_r (N, Zr) and concepts y (N, L)."""
    model, dev = tm.model, tm.device

    def run(zz, yy):
        zz = torch.as_tensor(zz, dtype=torch.float32, device=dev)
        return model.decode_melody(zz, concept_tensor(yy, dev)).tokens.cpu().numpy()
    return _batched(run, z_r, y, batch=tm.batch_size)


def concept_recon(tm: TrainedModel, y: np.ndarray) -> dict:
    """y (N, L) → z_e (posterior mean) → greedy ŷ: share of positions right, and teacher forced."""
    model, dev = tm.model, tm.device

    def run(yy):
        yt = concept_tensor(yy, dev)
        mu = model.encode_concept(yt).mean
        greedy = model.decode_concept(mu)[1]
        forced = model.decode_concept(mu, target=yt, teacher_forcing=1.0)[1]
        return np.stack([greedy.cpu().numpy(), forced.cpu().numpy()], 1)
    out = _batched(run, y, batch=tm.batch_size)  # (N, 2, L)
    return {"greedy": round(consistency(y, out[:, 0]), 4), "teacher_forced": round(consistency(y, out[:, 1]), 4)}


def residual_means(tm: TrainedModel, tokens: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Posterior means of z_r (N, Zr) for melodies (N, T) with concepts (N, L)."""
    model, dev = tm.model, tm.device

    def run(tt, yy):
        return model.encode_residual(torch.as_tensor(tt, device=dev), concept_tensor(yy, dev)).mean.cpu().numpy()
    return _batched(run, tokens.astype(np.int64), y, batch=tm.batch_size)


# ---------------------------------------------------------------------------------- all figures
def evaluate_extres(tm: TrainedModel, ds, *, split: str = "test", limit: int | None = 2000, seed: int = 0,
                    n_diversity: int = 10, m_diversity: int = 50, ec2vae: TrainedModel | None = None) -> dict:
    """Every ExtRes figure of ``tm`` on ``split`` of ``ds`` (rows capped at ``limit``); with ``ec2vae``
    and the rhythm concept, the EC²-VAE comparison on the same melodies."""
    t0 = time.perf_counter()
    concept = get_concept(tm.model.config.concept)
    sub = ds.take_split(split)
    if len(sub) == 0:
        raise ValueError(f"the {split} split of this data is empty; splits: {ds.counts()}")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(sub))
    if limit and len(sub) > limit:
        rows = np.sort(rng.choice(len(sub), limit, replace=False))
    tokens, chroma = sub.tokens[rows].astype(np.int64), sub.chroma[rows].astype(np.float32)
    y = concept(tokens)
    out = {"model": tm.name, "concept": concept.name, "split": split, "segments": int(len(rows))}
    _, mu, sigma = tm.encode(tokens, chroma)
    out |= reconstruction(tm, tokens, chroma, mu)
    ze = tm.layout.group_slice("concept")
    zr_slice = tm.layout.group_slice("residual")
    z_r = mu[:, zr_slice]
    own = decode_with_concept(tm, z_r, y)
    out["recon_accuracy_greedy_given_y"] = round(float((clean_tokens(own) == tokens).mean()), 4)
    out["concept_recon"] = concept_recon(tm, y)
    prior = rng.standard_normal(z_r.shape).astype(np.float32)
    other = z_r[rng.permutation(len(z_r))]
    from_prior = consistency_figures(concept, y, decode_with_concept(tm, prior, y))
    out["concept_consistency"] = {
        "prior": from_prior["positions"], "prior_melodies": from_prior["melodies"],
        "transfer": consistency_figures(concept, y, decode_with_concept(tm, other, y))["positions"],
        "own": consistency_figures(concept, y, own)["positions"]}
    out["probe_zr"] = probe(z_r, y, seed=seed)
    out["probe_ze"] = probe(mu[:, ze], y, seed=seed)
    out["diversity"] = residual_diversity(tm, y, rng, n=n_diversity, m=m_diversity)
    if ec2vae is not None and concept.name == "rhythm":
        out["ec2vae_rhythm"] = ec2vae_keeps_rhythm(ec2vae, tokens, chroma, rng)
    kl = 0.5 * (sigma ** 2 + mu ** 2 - 1 - np.log(np.maximum(sigma ** 2, 1e-12)))
    out["kl"] = {"z_e": round(float(kl[:, ze].sum(1).mean()), 3), "z_r": round(float(kl[:, zr_slice].sum(1).mean()), 3)}
    out["sources"] = sorted(set(sub.source[rows].tolist()))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def residual_diversity(tm: TrainedModel, y: np.ndarray, rng: np.random.Generator, *, n: int = 10, m: int = 50) -> dict:
    """For ``m`` of the concepts y (N, L), ``n`` residuals from the prior decoded greedily: the
    mean of :func:`diversity` over the m groups."""
    picks = rng.choice(len(y), min(m, len(y)), replace=False)
    ys = np.repeat(y[picks], n, axis=0)
    z = rng.standard_normal((len(ys), tm.model.config.zr_dims)).astype(np.float32)
    mel = clean_tokens(decode_with_concept(tm, z, ys)).reshape(len(picks), n, -1)
    figs = [diversity(g) for g in mel]
    return {"samples": n, "concepts": int(len(picks)),
            "distinct": round(float(np.mean([f["distinct"] for f in figs])), 4),
            "edit_distance": round(float(np.mean([f["edit_distance"] for f in figs])), 3)}


def ec2vae_keeps_rhythm(ec2: TrainedModel, tokens: np.ndarray, chroma: np.ndarray, rng: np.random.Generator) -> dict:
    """EC²-VAE: each melody's rhythm code (posterior mean) kept, its pitch code drawn from the prior,
    decoded greedily with its chords: share of steps (and melodies) whose rhythm class is the
    melody's. Also with the melody's own pitch code (the reconstruction's rhythm)."""
    _, mu, _ = ec2.encode(tokens, chroma)
    p = ec2.layout.group_slice("pitch")
    moved = mu.copy()
    moved[:, p] = rng.standard_normal(moved[:, p].shape).astype(np.float32)
    concept = get_concept("rhythm")
    y = concept(tokens)
    return {"prior_pitch": consistency_figures(concept, y, ec2.decode_tokens(moved, chroma)),
            "own_pitch": consistency_figures(concept, y, ec2.decode_tokens(mu, chroma)),
            "checkpoint": Path(getattr(ec2, "path", "")).name}


# ---------------------------------------------------------------------------------- command line
def markdown(figs: dict, title: str) -> list[str]:
    """Card lines for one set of ExtRes figures."""
    cc, pz, pe, dv = figs["concept_consistency"], figs["probe_zr"], figs["probe_ze"], figs["diversity"]
    lines = [f"### {title} ({figs['segments']} segments)",
             f"- recon of x, greedy z_e → ŷ → x: {figs['recon_accuracy_greedy']:.4f} (teacher forced "
             f"{figs['recon_accuracy_teacher_forced']:.4f}, onset pitch {figs['recon_accuracy_onset_pitch']:.4f}); "
             f"greedy from its own z_r and the true y: {figs['recon_accuracy_greedy_given_y']:.4f}",
             f"- recon of y from z_e: greedy {figs['concept_recon']['greedy']:.4f}, teacher forced "
             f"{figs['concept_recon']['teacher_forced']:.4f}",
             f"- concept consistency f(x) vs y: z_r from the prior {cc['prior']:.4f} of positions "
             f"({cc['prior_melodies']:.1%} of melodies whole), z_r of another melody {cc['transfer']:.4f}, "
             f"own z_r {cc['own']:.4f}",
             f"- probe z_r → y (logistic regression per position, 30% held out): {pz['accuracy']:.4f} vs chance "
             f"{pz['chance']:.4f} (+{pz['above_chance']:.4f}); the same probe on z_e: {pe['accuracy']:.4f}",
             f"- diversity under one y ({dv['samples']} prior residuals × {dv['concepts']} concepts): distinct pitch "
             f"sequences {dv['distinct']:.1%}, mean pairwise edit distance {dv['edit_distance']:.2f}",
             f"- mean KL: z_e {figs['kl']['z_e']}, z_r {figs['kl']['z_r']} nats"]
    if "ec2vae_rhythm" in figs:
        e = figs["ec2vae_rhythm"]
        lines.append(f"- EC²-VAE ({e['checkpoint']}), same melodies: rhythm code kept, pitch code from the prior → "
                     f"rhythm kept at {e['prior_pitch']['positions']:.4f} of steps ({e['prior_pitch']['melodies']:.1%} "
                     f"of melodies whole); with its own pitch code {e['own_pitch']['positions']:.4f}. ExtRes, y kept "
                     f"and z_r from the prior: {cc['prior']:.4f} ({cc['prior_melodies']:.1%})")
    return lines


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer.eval.extres", description="ExtRes figures of a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--split", default="test", choices=["train", "valid", "test", "all"])
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--concept", default=None, help="a user concept's pkg.mod:func, named again (checkpoints run "
                   "no code; built-in concepts need nothing)")
    p.add_argument("--unseen", nargs="*", default=[], metavar="NAME=FILE", help="corpora left out of training")
    p.add_argument("--ec2vae", default=None, help="an EC²-VAE checkpoint for the rhythm comparison")
    p.add_argument("--ship", default=None, help="write the checkpoint with these figures in its card here "
                   "(assets/checkpoints/<name>.safetensors) and the card beside it")
    p.add_argument("--note", action="append", default=[], help="a line for the card's notes (repeatable)")
    p.add_argument("--figures", default=None, help="with --ship: the JSON this command printed before (same "
                   "checkpoint and options), shipped without measuring again")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from explorer.data.dataset import DatasetError, SegmentDataset, concat
    from explorer.models.checkpoint import CheckpointError
    from explorer.music.concepts import ConceptError, resolve_concept

    try:
        if args.concept:
            resolve_concept(args.concept, allow_import=True)
        tm = TrainedModel.load(args.checkpoint, device=args.device)
        if tm.name != "extres":
            raise ValueError(f"{args.checkpoint} is a {tm.name} model; this evaluates ExtRes (use `explorer eval`)")
        ec2 = TrainedModel.load(args.ec2vae, device=args.device) if args.ec2vae else None
        ds = concat([SegmentDataset.load(p) for p in args.data])
        if args.figures:
            figs = json.loads(Path(args.figures).read_text())
            res, unseen = figs["test"], figs["unseen"]
        else:
            res, unseen = evaluate_extres(tm, ds, split=args.split, limit=args.limit or None, seed=args.seed,
                                          ec2vae=ec2), {}
        for item in args.unseen if not args.figures else ():
            name, _, path = item.partition("=")
            udata = SegmentDataset.load(path)
            both = set(tm.card.get("data", {}).get("sources", [])) & set(udata.tune_source.tolist())
            if both:
                raise ValueError(f"{name} is not unseen: {sorted(both)} was in this model's training data")
            unseen[name] = evaluate_extres(tm, udata, split="all", limit=args.limit or None, seed=args.seed)
        if args.ship:
            ship_extres(tm, res, unseen, args)
    except (CheckpointError, ConceptError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"test": res, "unseen": unseen}, indent=1))
    return 0


def _file_names(items: list) -> list[str]:
    """``NAME=/some/folder/file.npz`` → ``NAME=file.npz`` (a card names files, not this machine's folders)."""
    return [f"{n}={Path(p).name}" for n, _, p in (i.partition("=") for i in items)]


def ship_extres(tm: TrainedModel, res: dict, unseen: dict, args) -> Path:
    """The checkpoint with these figures in its card (the reconstruction keys are the melody
    models', so the card's usual lines show them); the Markdown card gains an ExtRes section."""
    from explorer.models.card import ship, target_lines
    from explorer.models.registry import spec_of

    spec = spec_of(tm.name)
    extra = {"extres": {"test": res, "unseen": unseen}, "paper": spec.paper, "notes": args.note, "unseen": unseen,
             "unseen_files": dict(n.split("=", 1) for n in _file_names(args.unseen)),
             "targets": target_lines(tm.name, res, unseen), "kl_note": spec.kl_line(tm.model.config),
             "eval_command": f"python -m explorer.eval.extres <this file> --data "
                             f"{' '.join(Path(p).name for p in args.data)} --split {args.split} --limit {args.limit} "
                             f"--unseen {' '.join(_file_names(args.unseen))}" + (" --ec2vae <ec2vae checkpoint>" if args.ec2vae else "")}
    out = ship(tm.path, args.ship, eval_result=res, extra_card=extra, extras={})
    md = out.with_suffix(".md")
    lines = ["", "## ExtRes figures (`python -m explorer.eval.extres`)",
             f"Concept: **{res['concept']}**; command: `{extra['eval_command']}`", ""]
    lines += markdown(res, f"own {args.split} split")
    for name, figs in unseen.items():
        lines += [""] + markdown(figs, f"{name} (never seen)")
    md.write_text(md.read_text() + "\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
