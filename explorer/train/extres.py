"""``explorer train extres --concept NAME …``: the melody trainer with a concept chosen and checked first.

The concept is a built-in name (rhythm, contour, fragmentation) or a user's ``pkg.mod:func``,
imported here because the user named it on the command line. It is run on the training melodies
before any training (:func:`explorer.music.concepts.validate_concept`): a concept that raises,
returns a bad length, too many classes or the same output everywhere stops with a message naming
it. Its name, class count and length go into the model's config; the run folder keeps them in
``concept.json`` so that a resumed run cannot switch concepts. The loop itself is
:func:`explorer.train.trainer.train` (resumable, early stopping on validation greedy accuracy).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from explorer.data.dataset import DatasetError, SegmentDataset, concat
from explorer.music.concepts import Concept, ConceptError, remember, resolve_concept, validate_concept

#: Training melodies a concept is checked on before training (all of them up to this many).
VALIDATE_ROWS = 20000


def prepare_concept(name: str, data: list, *, limit: int = VALIDATE_ROWS, seed: int = 0) -> tuple[Concept, int]:
    """(the concept, validated on the training melodies of ``data``, and its sequence length).

    ConceptError naming the concept when it cannot be used; DatasetError/FileNotFoundError for the data."""
    concept = resolve_concept(name, allow_import=True)
    ds = concat([SegmentDataset.load(p) for p in data]) if len(data) > 1 else SegmentDataset.load(data[0])
    tokens = ds.take_split("train").tokens
    if len(tokens) > limit:
        tokens = tokens[np.sort(np.random.default_rng(seed).choice(len(tokens), limit, replace=False))]
    concept = validate_concept(concept, tokens)
    if not concept.builtin:
        remember(concept)
    return concept, int(concept(tokens[:1]).shape[1])


def concept_config(concept: Concept, length: int) -> dict:
    """The config fields that name the concept: its name (text), class count and length."""
    return {"concept": concept.name, "concept_classes": int(concept.n_classes), "concept_len": length}


def _check_run_folder(out: Path, fields: dict) -> None:
    """A run folder trains one concept: refuse another one, else record this one."""
    path = out / "concept.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before != fields:
            raise ValueError(f"{out} is a run of concept {before.get('concept')!r} ({before}); it cannot go on "
                             f"with {fields['concept']!r}: use another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer train extres", description="train an ExtRes model on one concept")
    p.add_argument("--concept", required=True,
                   help="rhythm | contour | fragmentation | pkg.module:function (one melody's tokens (T,) → small "
                        "integers (L,), L dividing T); see docs/concepts.md")
    p.add_argument("--data", nargs="+", required=True, help="dataset file(s) from `explorer data build`")
    p.add_argument("--out", required=True, help="run folder: state.pt, best.safetensors, summary.json, concept.json")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--augment", type=int, default=6, help="random transposition of ±N semitones (0 = off)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tf-k", type=float, default=None)
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="other config fields, e.g. zr_dims=32")
    p.add_argument("--val-limit", type=int, default=1024)
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from explorer.train.trainer import TrainSettings, parse_settings, train

    try:
        concept, length = prepare_concept(args.concept, args.data, seed=args.seed)
        fields = concept_config(concept, length)
        _check_run_folder(Path(args.out), fields)
        s = TrainSettings("extres", args.data, args.out, hidden=args.hidden, epochs=args.epochs, batch=args.batch,
                          lr=args.lr, device=args.device, seed=args.seed, patience=args.patience,
                          max_minutes=args.max_minutes, max_steps=args.max_steps, augment=args.augment,
                          threads=args.threads, tf_k=args.tf_k, beta=args.beta, progress=not args.quiet,
                          val_limit=args.val_limit, config=parse_settings(args.set or []) | fields)
        summary = train(s)
    except (ConceptError, DatasetError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
