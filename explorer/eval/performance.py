"""Evaluation of a performance-style checkpoint: ``explorer eval CKPT --json [--data ROOT] [--ship OUT]``.

On the held-out piece (Schubert D783 no. 15, 22 pianists): Pearson correlation and MSE of the
predicted against the human per-note velocity (MIDI units) and per-beat tempo (log2 of the
beat period, i.e. in octaves of tempo), averaged over the performances, for
- the model with z = 0 (the prior's mean: the score alone decides) and with z encoded from
  the human performance itself (a reconstruction, for reference);
- the deadpan baseline: the training mean tempo and velocity everywhere (a constant has no
  correlation; we count it as 0);
- the mean-training-performance baseline: each note gets the mean of the training notes in the
  same score context (staff, metrical strength, duration, register), falling back to coarser
  contexts.
And k-NN classifiers on the encoded z (one per performance): intended emotion on the emotion
set and pianist identity on Vienna 4x22, both leave-one-piece-out (pianist also with each
piece's mean z removed, since z carries the piece too).
``--ship OUT`` writes the checkpoint again with the style table of every performance and the
figures in its card, and ``OUT.md`` beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

KNN_K = 3


def pearson(a, b) -> float:
    """Pearson's r; 0.0 when either side is constant (no linear relation can be measured)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def per_beat(values, beat) -> np.ndarray:
    """Mean of per-note ``values`` over each beat index (beats counted from 0) → (NB,)."""
    beat = np.asarray(beat)
    return np.bincount(beat, weights=values) / np.maximum(np.bincount(beat), 1)


def performance_metrics(pred, human, beat) -> dict:
    """Velocity and tempo agreement of ``pred`` with ``human`` (both (N, 4) raw targets: log2 beat
    period, velocity/127, …) over notes grouped in ``beat`` (N,)."""
    pv, hv = pred[:, 1] * 127.0, human[:, 1] * 127.0
    pt, ht = per_beat(pred[:, 0], beat), per_beat(human[:, 0], beat)
    return {"velocity_r": pearson(pv, hv), "velocity_mse": float(np.mean((pv - hv) ** 2)),
            "tempo_r": pearson(pt, ht), "tempo_mse": float(np.mean((pt - ht) ** 2))}


def mean_metrics(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def _context_keys(features: np.ndarray) -> list[tuple]:
    """Score contexts of each note, finest first: (staff, strength, duration, register) → (staff, strength) → ()."""
    from explorer.data.performances import SCORE_FEATURES

    col = {n: i for i, n in enumerate(SCORE_FEATURES)}
    staff = features[:, col["staff2"]].round().astype(int)
    strength = (2 * features[:, col["downbeat"]] + features[:, col["strength_secondary"]]).round().astype(int)
    dur = np.round(features[:, col["log2_duration_beat"]] * 3).astype(int)
    reg = np.floor(features[:, col["pitch"]] * 2).astype(int)
    return [tuple(zip(staff, strength, dur, reg)), tuple(zip(staff, strength)), tuple((0,) for _ in staff)]


class MeanPerformance:
    """The mean training performance as a function of score context (see module docstring)."""

    def __init__(self, examples):
        self.tables = []
        feats = np.concatenate([e.score.features for e in examples])
        targets = np.concatenate([e.targets for e in examples])
        for keys in _context_keys(feats):
            sums, counts = defaultdict(lambda: np.zeros(targets.shape[1])), defaultdict(int)
            for k, t in zip(keys, targets):
                sums[k] += t
                counts[k] += 1
            self.tables.append({k: sums[k] / counts[k] for k in sums if counts[k] >= 5 or k == (0,)})

    def predict(self, features: np.ndarray) -> np.ndarray:
        levels = _context_keys(features)
        out = np.zeros((len(features), 4), np.float32)
        for i in range(len(features)):
            for table, keys in zip(self.tables, levels):
                if keys[i] in table:
                    out[i] = table[keys[i]]
                    break
        return out


def knn_leave_one_group_out(z, labels, groups, k: int = KNN_K) -> dict:
    """Accuracy of a k-NN classifier of ``labels`` from ``z`` (N, Z), each group (piece) in turn
    held out and predicted from the others; pooled over all held-out predictions."""
    from sklearn.neighbors import KNeighborsClassifier

    z, labels, groups = np.asarray(z), np.asarray(labels), np.asarray(groups)
    correct, n, per_group = 0, 0, {}
    for g in sorted(set(groups.tolist())):
        test = groups == g
        if test.all() or not test.any():
            continue
        clf = KNeighborsClassifier(n_neighbors=min(k, int((~test).sum()))).fit(z[~test], labels[~test])
        hits = int((clf.predict(z[test]) == labels[test]).sum())
        per_group[str(g)] = hits / int(test.sum())
        correct, n = correct + hits, n + int(test.sum())
    return {"accuracy": correct / max(n, 1), "chance": 1.0 / max(len(set(labels.tolist())), 1), "k": k,
            "performances": n, "per_held_out_piece": per_group}


def evaluate(ps, examples, train_examples) -> dict:
    """All figures for the PerformanceStyle ``ps``; ``examples`` every loaded performance,
    ``train_examples`` those the baselines learn from."""
    from explorer.models.performance_style import style_table

    test = [e for e in examples if e.record.split == "test"]
    if not test:
        raise ValueError("no test performance (Schubert_D783_no15 in vienna4x22/match) was found")
    base = MeanPerformance(train_examples)
    mean = np.asarray(ps.model.config.target_mean, dtype=np.float32)
    rows = defaultdict(list)
    zero = np.zeros(ps.z_dims, np.float32)
    for e in test:
        h = e.targets
        rows["model_prior_z"].append(performance_metrics(ps.predict(e.score, zero), h, e.score.beat))
        rows["model_encoded_z"].append(performance_metrics(ps.predict(e.score, ps.encode(e.score, h)), h, e.score.beat))
        rows["baseline_deadpan"].append(performance_metrics(np.tile(mean, (len(h), 1)), h, e.score.beat))
        rows["baseline_mean_performance"].append(performance_metrics(base.predict(e.score.features), h, e.score.beat))
    res = {"test": {"pieces": sorted({e.record.piece for e in test}), "performances": len(test),
                    "notes": int(sum(len(e.score) for e in test))}}
    res |= {k: mean_metrics(v) for k, v in rows.items()}
    m = res["model_prior_z"]
    res["beats_both_baselines"] = {
        q: bool(m[q] > res["baseline_deadpan"][q] and m[q] > res["baseline_mean_performance"][q])
        for q in ("velocity_r", "tempo_r")}
    table = style_table(ps.model, examples)
    labels = table["labels"]
    emo = [i for i, lab in enumerate(labels) if lab["emotion"]]
    vie = [i for i, lab in enumerate(labels) if lab["source"] == "vienna4x22"]
    if emo:
        res["knn_emotion"] = knn_leave_one_group_out(table["z"][emo], [labels[i]["emotion"] for i in emo],
                                                     [labels[i]["piece"] for i in emo])
    if vie:
        zv, pieces = table["z"][vie], np.array([labels[i]["piece"] for i in vie])
        pianists = [labels[i]["pianist"] for i in vie]
        res["knn_pianist"] = knn_leave_one_group_out(zv, pianists, pieces)
        # z also carries the piece; with each piece's mean style removed only the player's remains
        centred = zv - np.stack([zv[pieces == p].mean(0) for p in pieces])
        res["knn_pianist_piece_centred"] = knn_leave_one_group_out(centred, pianists, pieces)
    return res, table


def card_markdown(name: str, card: dict) -> str:
    ev = card.get("eval", {})
    lines = [f"# {name}", "", "A VirtuosoNet-like conditional VAE (explorer.models.virtuoso): hierarchical score encoder "
             "(note → beat → measure bi-GRUs), performance encoder → style z, decoder → per-note tempo, velocity, "
             "timing and articulation (partitura's performance codec).", "",
             f"- config: `{json.dumps({k: v for k, v in card.get('config', {}).items() if k not in ('feature_names', 'target_mean', 'target_std')})}`",
             f"- data: {json.dumps(card.get('data', {}))}",
             f"- training: {card.get('steps')} steps, {card.get('epochs')} epochs, batch {card.get('batch')}, "
             f"window {card.get('window')} notes, lr {card.get('lr')}, {card.get('train_seconds', 0) / 60:.1f} min on "
             f"{card.get('hardware')}", "",
             f"## Held-out piece: {', '.join(ev.get('test', {}).get('pieces', []))} "
             f"({ev.get('test', {}).get('performances')} performances, {ev.get('test', {}).get('notes')} notes)", "",
             "| | velocity r | tempo r | velocity MSE (MIDI²) | tempo MSE (log2² beat period) |", "|---|---|---|---|---|"]
    for k in ("model_prior_z", "model_encoded_z", "baseline_deadpan", "baseline_mean_performance"):
        if k in ev:
            v = ev[k]
            lines.append(f"| {k} | {v['velocity_r']:.3f} | {v['tempo_r']:.3f} | {v['velocity_mse']:.1f} | "
                         f"{v['tempo_mse']:.4f} |")
    lines.append(f"\nBeats both baselines (z = 0): {ev.get('beats_both_baselines')}")
    for k in ("knn_emotion", "knn_pianist", "knn_pianist_piece_centred"):
        if k in ev:
            v = ev[k]
            lines.append(f"- {k}: accuracy {v['accuracy']:.3f} (chance {v['chance']:.3f}, k = {v['k']}, "
                         f"{v['performances']} performances, leave one piece out: "
                         + ", ".join(f"{p} {a:.2f}" for p, a in v["per_held_out_piece"].items()) + ")")
    lines += ["", f"Reproduce: `{card.get('eval_command', '')}`", *[f"- {n}" for n in card.get("notes", [])]]
    return "\n".join(lines) + "\n"


def ship(ps, out, res: dict, table: dict, notes=()) -> Path:
    """Write the model of ``ps`` with the style table and eval figures to ``out`` and ``out``.md."""
    from explorer.models.checkpoint import save_performance_checkpoint

    out = Path(out)
    card = dict(ps.card) | {"eval": res, "notes": list(notes),
                            "eval_command": f"explorer eval {out.as_posix()} --data ../shared/data --json"}
    save_performance_checkpoint(out, ps.model, card=card, styles=table)
    out.with_suffix(".md").write_text(card_markdown(out.stem, card))
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="explorer eval", description="evaluate a performance-style checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--data", default=None, help="the shared data folder (default: $LATENT_EXPLORER_DATA or ../shared/data)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ship", default=None, help="also write the checkpoint with its style table and card here")
    p.add_argument("--note", action="append", help="a line for the shipped card's notes (repeatable)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    import torch

    from explorer.data.performances import default_data_root, list_performances, load_examples
    from explorer.models.checkpoint import CheckpointError
    from explorer.models.performance_style import PerformanceStyle

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        ps = PerformanceStyle.load(args.checkpoint, device=args.device)
        examples = load_examples(list_performances(args.data or default_data_root()), progress=not args.quiet)
        valid_pieces = ps.card.get("data", {}).get("valid_pieces", [])  # held out by its training run
        train = [e for e in examples if e.record.split == "train" and e.record.piece not in valid_pieces]
        res, table = evaluate(ps, examples, train)
        if args.ship:
            res["shipped_to"] = str(ship(ps, args.ship, res, table, args.note or []))
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in res.items()))
    return 0
