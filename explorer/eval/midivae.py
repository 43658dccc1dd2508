"""Evaluation of a MIDI-VAE checkpoint on the held-out pieces of its style pair:
``python -m explorer.eval.midivae CKPT --data PAIR.npz [--json] [--ship OUT]``.

On every bar of the test pieces (whole pieces the run never saw), z = the posterior mean, decoded bar
by bar with history:

- reconstruction, as the paper counts it: pitch accuracy = correctly decoded notes / original notes
  (voice-steps with a note; also over all steps), instrument accuracy over voices with a note,
  velocity MSE and Pearson r at the original onsets (roll units, 0.5–1);
- the style classifier (argmax of the style dims of z): accuracy per bar and per piece (mean of its bars);
  every accuracy here is balanced (the mean over the styles of each style's accuracy), since the test
  pieces' styles have very different bar counts;
- separate validation classifiers, one per roll (logistic regressions on pitch histograms and the silence
  mask, the instrument one-hots, the velocity roll), trained on the training pieces and combined as the
  authors do, each weighted by its accuracy on the validation pieces − 0.5; their accuracy on the
  originals, the reconstructions and the style-swapped bars (against the source style, which should fall,
  and the target style, which should rise);
- onsets kept: the share of the source's onsets (voice, step) that the swapped bar also has.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from explorer.data.multitrack import N_PITCH, SILENCE, MultiTrackBars
from explorer.models.midivae import MIDIVAE, history, swap_style

ROLLS = ("pitch", "instrument", "velocity")


def balanced_accuracy(pred, labels) -> float:
    """The mean over the styles present of the share of their bars predicted right (the test pieces'
    styles have very different bar counts, e.g. POP909 against Batik)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    return float(np.mean([(pred[labels == c] == c).mean() for c in np.unique(labels)])) if len(labels) else 0.0


def pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


# ------------------------------------------------------------------------------------ model passes
@torch.no_grad()
def encode_rows(model: MIDIVAE, ds: MultiTrackBars, rows, batch: int = 512) -> np.ndarray:
    """Posterior means (N, Z) of bars ``rows``."""
    dev = next(model.parameters()).device
    out = []
    for k in range(0, len(rows), batch):
        r = rows[k:k + batch]
        t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=dev)  # noqa: E731
        out.append(model.encode(t(ds.pitch[r], torch.long), t(ds.instrument[r], torch.long),
                                t(ds.velocity[r], torch.float32)).mean.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.z_dims), np.float32)


def local_prev(ds: MultiTrackBars, rows) -> np.ndarray:
    """Each bar's previous bar as a position in ``rows`` (-1 when it is not among them or there is none)."""
    pos = {int(r): i for i, r in enumerate(rows)}
    return np.array([pos.get(int(p), -1) for p in ds.prev[rows]], np.int64)


@torch.no_grad()
def decode_rows(model: MIDIVAE, z: np.ndarray, prev: np.ndarray, batch: int = 512) -> dict:
    """Greedy decoding of bars z (N, Z) with their history (``prev`` positions) → rolls as numpy."""
    dev = next(model.parameters()).device
    zt = torch.as_tensor(z, dtype=torch.float32, device=dev)
    hist = history(zt, prev)
    outs = [model.decode(zt[k:k + batch], hist[k:k + batch]) for k in range(0, len(z), batch)]
    return {name: torch.cat([o[i] for o in outs]).cpu().numpy() for i, name in enumerate(ROLLS)}


# ------------------------------------------------------------------------------------ metrics
def reconstruction(orig: dict, rec: dict) -> dict:
    """The paper's accuracies and the velocity figures of rolls ``rec`` against ``orig``."""
    note = orig["pitch"] != SILENCE
    voiced = note.any(-1)
    onset = orig["velocity"] > 0
    pv, ov = rec["velocity"][onset], orig["velocity"][onset]
    return {"pitch_accuracy": float((rec["pitch"] == orig["pitch"])[note].mean()),
            "pitch_accuracy_all_steps": float((rec["pitch"] == orig["pitch"]).mean()),
            "instrument_accuracy": float((rec["instrument"] == orig["instrument"])[voiced].mean()),
            "velocity_mse_at_onsets": float(np.mean((pv - ov) ** 2)), "velocity_r_at_onsets": pearson(pv, ov),
            "onsets_found": float((rec["velocity"][onset] > 0).mean())}


def onsets_kept(src: dict, out: dict) -> float:
    """Share of the source's onsets (voice, step) that ``out`` also has."""
    on = src["velocity"] > 0
    return float((out["velocity"][on] > 0).mean()) if on.any() else 0.0


def roll_features(rolls: dict, roll: str) -> np.ndarray:
    """The validation classifier's input for one roll: pitch → per-voice pitch histograms (V·61) and
    the silence mask (V·16); instrument → one-hots (V·16); velocity → the roll (V·16)."""
    if roll == "pitch":
        p = rolls["pitch"].astype(int)
        hist = (p[..., None] == np.arange(N_PITCH)).mean(2)  # (N, V, 61)
        return np.concatenate([hist.reshape(len(p), -1), (p == SILENCE).reshape(len(p), -1)], axis=1)
    if roll == "instrument":
        return (rolls["instrument"][..., None] == np.arange(16)).reshape(len(rolls["instrument"]), -1).astype(float)
    return rolls["velocity"].reshape(len(rolls["velocity"]), -1).astype(float)


class ValidationEnsemble:
    """One logistic regression per roll, combined with weights accuracy − 0.5 (on validation bars)."""

    def __init__(self, train: dict, y_train, valid: dict, y_valid, max_rows: int = 20000, seed: int = 0):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(seed)
        idx = np.arange(len(y_train))
        if len(idx) > max_rows:
            idx = np.sort(rng.choice(idx, max_rows, replace=False))
        self.models, self.valid_accuracy = {}, {}
        for roll in ROLLS:
            clf = LogisticRegression(max_iter=1000, class_weight="balanced")
            self.models[roll] = clf.fit(roll_features(train, roll)[idx], np.asarray(y_train)[idx])
            self.valid_accuracy[roll] = balanced_accuracy(clf.predict(roll_features(valid, roll)), y_valid)
        self.weights = {r: max(a - 0.5, 0.0) for r, a in self.valid_accuracy.items()}

    def proba(self, rolls: dict) -> np.ndarray:
        total = sum(self.weights.values()) or 1.0
        ws = self.weights if sum(self.weights.values()) else {r: 1.0 for r in ROLLS}
        return sum(w * self.models[r].predict_proba(roll_features(rolls, r)) for r, w in ws.items()) / total

    def accuracy(self, rolls: dict, labels) -> float:
        """Balanced accuracy of the combined judgement."""
        return balanced_accuracy(self.proba(rolls).argmax(1), labels)

    def per_roll(self, rolls: dict, labels) -> dict:
        return {r: balanced_accuracy(m.predict(roll_features(rolls, r)), labels) for r, m in self.models.items()}


def rolls_of(ds: MultiTrackBars, rows) -> dict:
    return {"pitch": ds.pitch[rows], "instrument": ds.instrument[rows], "velocity": ds.velocity[rows]}


def per_piece_accuracy(score: np.ndarray, labels, pieces) -> float:
    """Balanced accuracy of the argmax of the mean of ``score`` (N, K) over each piece's bars."""
    pieces, labels = np.asarray(pieces), np.asarray(labels)
    ps = np.unique(pieces)
    pred = [score[pieces == p].mean(0).argmax() for p in ps]
    return balanced_accuracy(pred, [labels[pieces == p][0] for p in ps]) if len(ps) else 0.0


def swapped_styles(style: np.ndarray, n_styles: int) -> np.ndarray:
    """The target style of each bar: the next style (the other one, for a pair)."""
    return (np.asarray(style) + 1) % n_styles


def swap_rows(z: np.ndarray, style: np.ndarray, target: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """z (N, Z) with each bar's source and target style dims swapped."""
    zt = torch.as_tensor(z, dtype=torch.float32)
    out = zt.clone()
    for s, t in {(int(a), int(b)) for a, b in zip(style, target)}:
        m = torch.as_tensor((style == s) & (target == t))
        out[m] = swap_style(zt[m], s, t, strength)
    return out.numpy()


def evaluate(model: MIDIVAE, ds: MultiTrackBars, split: str = "test", seed: int = 0) -> dict:
    """Every figure of the module docstring on the bars of ``split``'s pieces."""
    k = model.config.n_styles
    rows = ds.rows(split)
    if not len(rows):
        raise ValueError(f"the dataset has no {split} pieces")
    orig, style, pieces = rolls_of(ds, rows), ds.style[rows].astype(int), ds.piece[rows]
    prev = local_prev(ds, rows)
    mu = encode_rows(model, ds, rows)
    rec = decode_rows(model, mu, prev)
    target = swapped_styles(style, k)
    swapped = decode_rows(model, swap_rows(mu, style, target), prev)
    tr, va = ds.rows("train"), ds.rows("valid")
    ens = ValidationEnsemble(rolls_of(ds, tr), ds.style[tr], rolls_of(ds, va), ds.style[va], seed=seed)
    acc_orig, acc_rec = ens.accuracy(orig, style), ens.accuracy(rec, style)
    logits = mu[:, :k]
    return {
        "split": split, "bars": int(len(rows)), "pieces": sorted({str(ds.piece_id[p]) for p in np.unique(pieces)}),
        "bars_per_style": {ds.styles[s]: int((style == s).sum()) for s in range(k)},
        "recon": reconstruction(orig, rec),
        "style_classifier": {"accuracy": balanced_accuracy(logits.argmax(1), style),
                             "bar_accuracy_unbalanced": float((logits.argmax(1) == style).mean()),
                             "per_piece_accuracy": per_piece_accuracy(logits, style, pieces)},
        "validation": {
            "valid_accuracy_per_roll": ens.valid_accuracy, "weights": ens.weights,
            "test_accuracy_per_roll": ens.per_roll(orig, style),
            "originals": acc_orig, "reconstructions": acc_rec,
            "reconstruction_kept": acc_rec / acc_orig if acc_orig else 0.0,
            "swapped_as_source": ens.accuracy(swapped, style), "swapped_as_target": ens.accuracy(swapped, target),
            "swapped_as_target_per_piece": per_piece_accuracy(ens.proba(swapped), target, pieces),
            "swapped_per_roll_as_target": ens.per_roll(swapped, target)},
        "swap": {"onsets_kept": onsets_kept(orig, swapped), "reconstruction_onsets_kept": onsets_kept(orig, rec),
                 "style_of_swapped_z_as_target": balanced_accuracy(swap_rows(mu, style, target)[:, :k].argmax(1), target),
                 "re_encoded_swapped_as_target": _re_encoded(model, swapped, target)},
    }


@torch.no_grad()
def _re_encoded(model: MIDIVAE, rolls: dict, target) -> float:
    """The model's own style classifier on the swapped bars encoded again."""
    tmp = MultiTrackBars(rolls["pitch"], rolls["velocity"].astype(np.float32), rolls["instrument"],
                         np.asarray(target), np.zeros(len(target), np.int32), np.zeros(len(target), np.int32),
                         -np.ones(len(target), np.int32), np.array(["x"]), np.array(["x"]), np.array(["test"]),
                         np.zeros(1, np.int16), ("a",) * model.config.n_styles)
    mu = encode_rows(model, tmp, np.arange(len(target)))
    return balanced_accuracy(mu[:, :model.config.n_styles].argmax(1), target)


# ------------------------------------------------------------------------------------ card and command line
def _f(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def card_markdown(name: str, card: dict) -> str:
    """The Markdown card of a shipped MIDI-VAE: data, training, every figure of ``card["eval"]``, targets."""
    from explorer.models.card import target_lines

    ev, data = card.get("eval", {}), card.get("data", {})
    styles = "/".join(card.get("config", {}).get("styles", []))
    lines = [f"# {name}", "", f"MIDI-VAE (Brunner et al., ISMIR 2018), style pair {styles}: "
             "explorer.models.midivae. Config `" + json.dumps(card.get("config", {})) + "`", "",
             "## Data", f"- {data.get('note')}", f"- pieces per style: {json.dumps(data.get('pieces'))}; "
             f"left out: {json.dumps(data.get('skipped'))}", f"- bars per split and style: {json.dumps(data.get('bars'))}",
             f"- split by piece (explorer.data.dataset.split_of); training draws each style equally often",
             f"- held-out test pieces ({len(data.get('test_pieces', []))}): {', '.join(data.get('test_pieces', []))}",
             "", "## Training", f"- {card.get('steps')} steps of batch {card.get('batch')}, lr {card.get('lr')}, seed "
             f"{card.get('seed')}, {card.get('train_seconds', 0) / 60:.1f} min on {card.get('hardware')}",
             f"- best validation: {json.dumps(card.get('best_val', {}))}", "",
             f"## Evaluation on the held-out pieces ({ev.get('bars')} bars, {len(ev.get('pieces', []))} pieces; "
             f"`{card.get('eval_command', '')}`)"]
    for group in ("recon", "style_classifier", "validation", "swap"):
        for k, v in ev.get(group, {}).items():
            lines.append(f"- {group}.{k}: " + (", ".join(f"{a} {_f(b)}" for a, b in v.items()) if isinstance(v, dict)
                                                else _f(v)))
    lines += ["", "## Against the targets", *[f"- {t}" for t in target_lines("midivae", ev)]]
    if card.get("notes"):
        lines += ["", "## Notes", *[f"- {n}" for n in card["notes"]]]
    return "\n".join(lines) + "\n"


def ship(model: MIDIVAE, meta: dict, out, res: dict, notes=()) -> Path:
    """Write ``model`` with the eval figures in its card to ``out`` (.safetensors) and ``out``.md."""
    from explorer.models.checkpoint import save_checkpoint

    out = Path(out)
    card = dict(meta.get("card", {}))
    data = res.get("data_file", "PAIR.npz")
    card |= {"eval": res, "notes": list(notes),
             "eval_command": f"python -m explorer.data.multitrack {card.get('data', {}).get('pair', 'PAIR')} {data} "
                             f"--data ../shared/data && explorer eval {out.as_posix()} --data {data} --json"}
    save_checkpoint(out, model, card=card)
    out.with_suffix(".md").write_text(card_markdown(out.stem, card))
    return out


def load_midivae(path, device="cpu"):
    """(MIDIVAE in eval mode, metadata) of a checkpoint; CheckpointError for any other file."""
    from explorer.models.checkpoint import CheckpointError, load_checkpoint

    model, meta, _ = load_checkpoint(path, device=device)
    if not isinstance(model, MIDIVAE):
        raise CheckpointError(f"{Path(path).name} holds a {meta.get('model')!r} model, not MIDI-VAE")
    return model, meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.eval.midivae", description="evaluate a MIDI-VAE checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help="the style pair's dataset (.npz) the model was trained on")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ship", default=None, help="also write the checkpoint with its card here")
    p.add_argument("--note", action="append", help="a line for the shipped card's notes (repeatable)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from explorer.device import pick_device
    from explorer.models.checkpoint import CheckpointError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, meta = load_midivae(args.checkpoint, pick_device(args.device))
        ds = MultiTrackBars.load(args.data)
        if tuple(ds.styles) != tuple(model.config.styles):
            raise ValueError(f"the dataset's styles {list(ds.styles)} are not the model's {list(model.config.styles)}")
        res = evaluate(model, ds, args.split) | {"data_file": Path(args.data).name}
        if args.ship:
            res["shipped_to"] = str(ship(model, meta, args.ship, res, args.note or []))
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
