"""The ``explorer`` command line (also ``python -m explorer``)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import json
import sys

#: Set to 1 to see the traceback of an unexpected error instead of its one-line message.
DEBUG_ENV = "LATENT_EXPLORER_DEBUG"


def _cmd_data_build(args) -> int:
    from explorer.data.build import build_dataset

    if not str(args.out).endswith(".npz"):
        return _cmd_data_build_store(args)
    if args.engine != "local" or args.address:
        print("error: --engine ray writes a store: give --out a folder, not a .npz file", file=sys.stderr)
        return 2
    try:
        ds, report = build_dataset(
            args.source,
            args.path,
            bars=args.bars,
            hop=args.hop,
            workers=1 if args.workers is None else args.workers,
            limit=args.limit,
            melody_track=args.melody_track,
            expand_repeats=args.expand_repeats,
            progress=not args.quiet,
            parser=args.parser,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(ds) == 0:
        why = "; ".join(f"{Path(f['file']).name}: {f['reason']}" + (f" ({f['detail']})" if f["detail"] else "")
                        for f in report.skipped_files[:3])
        more = f"; and {len(report.skipped_files) - 3} more" if len(report.skipped_files) > 3 else ""
        if args.path and Path(args.path).is_file() and why:
            print(f"error: {why}", file=sys.stderr)  # one file: its name and reason are the message
        else:
            print(f"error: no segments came out of {args.path or args.source}"
                  + (f": {why}{more}" if why else " (no files)"), file=sys.stderr)
        return 1
    ds.save(args.out)
    summary = report.summary(ds)
    summary["out"] = str(args.out)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        c = summary["segments"]
        print(f"wrote {args.out}: {sum(c.values())} segments (train {c['train']}, valid {c['valid']}, test {c['test']}) "
              f"from {report.tunes} tunes in {report.seconds:.1f} s")
        for reason, n in summary["skipped"].items():
            print(f"  skipped {n:6d} × {reason}")
    return 0


def _cmd_data_build_store(args) -> int:
    from explorer.data.store_build import build_store

    summary = _engine_job(args, lambda: build_store(
        args.source, args.path, args.out, bars=args.bars, hop=args.hop, engine=args.engine, workers=_workers(args),
        address=args.address, shard_files=args.shard_files, parser=args.parser, melody_track=args.melody_track,
        expand_repeats=args.expand_repeats, limit=args.limit, progress=not args.quiet))
    if summary is None:
        return 2
    if not args.json:
        c = summary["segments"]
        print(f"wrote {args.out}: {sum(c.values())} segments (train {c['train']}, valid {c['valid']}, test {c['test']}) "
              f"from {summary['files']} files in {summary['shards']} shards ({summary['shards_built_now']} built now) "
              f"in {summary['seconds']:.1f} s")
        for reason, n in summary["skipped"].items():
            print(f"  skipped {n:6d} × {reason}")
    return 0


def _engine_job(args, job):
    """Run a store job; its summary (printed as JSON with --json), or None after printing the
    one-line error of a bad value, a missing file, or Ray missing or unreachable."""
    from explorer.data.engine import EngineError

    try:
        summary = job()
    except (ValueError, FileNotFoundError, EngineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if args.json:
        print(json.dumps(summary, indent=1))
    return summary


def _workers(args) -> int:
    """--workers as given; by default 1 process here, or every CPU of the Ray (local or cluster)."""
    return args.workers if args.workers is not None else (0 if args.engine == "ray" else 1)


def _cmd_encode(args) -> int:
    from explorer.latent.store_encode import encode_store

    summary = _engine_job(args, lambda: encode_store(
        args.checkpoint, args.data, engine=args.engine, workers=_workers(args), address=args.address,
        batch=args.batch, device=args.device, key=args.key, threads=args.threads, progress=not args.quiet))
    if summary is None:
        return 2
    if not args.json:
        print(f"wrote latents {summary['key']!r} of {summary['segments']} segments in {args.data} "
              f"({summary['segments_encoded_now']} encoded now, {summary['dim']} dims) in {summary['seconds']:.1f} s")
    return 0


def _cmd_data_merge(args) -> int:
    from explorer.data.dataset import DatasetError, SegmentDataset, concat

    try:
        ds = concat([SegmentDataset.load(p) for p in args.inputs])
    except (DatasetError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ds.save(args.out)
    print(json.dumps({"out": str(args.out), "segments": ds.counts()}) if args.json else f"wrote {args.out}: {ds!r}")
    return 0


def _cmd_data_info(args) -> int:
    from explorer.data.dataset import DatasetError, SegmentDataset
    from explorer.data.store import is_store, open_store

    if is_store(args.file):
        try:
            s = open_store(args.file, partial=True)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        man = {k: v for k, v in s.manifest.items() if k not in ("shards", "latents")}
        print(json.dumps({"store": man, "segments": len(s), "shards": len(s.shard_names()),
                          "latents": {k: {a: b for a, b in v.items() if a != "shards"} | {"shards": len(v["shards"])}
                                      for k, v in s.manifest.get("latents", {}).items()}}, indent=1, default=str))
        return 0
    try:
        ds = SegmentDataset.load(args.file)
    except (DatasetError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = {"segments": ds.counts(), "steps": ds.n_steps, "tunes": int(len(ds.tune_id)),
            "sources": sorted(set(ds.tune_source.tolist())), "meta": ds.meta}
    print(json.dumps(info, indent=1, default=str))
    return 0


def _cmd_render(args) -> int:
    from explorer.audio import AudioUnavailable, render_file

    try:
        secs = render_file(args.input, args.output, program=args.program, qpm=args.qpm, soundfont=args.soundfont,
                           sample_rate=args.sample_rate)
    except AudioUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({secs:.2f} s)")
    from explorer.limits import limit

    if secs >= limit("audio_seconds"):
        print(f"note: {Path(args.input).name} is longer; only its first {limit('audio_seconds'):g} s were rendered "
              "(LATENT_EXPLORER_MAX_AUDIO_SECONDS)", file=sys.stderr)
    return 0


def _cmd_data_default(args) -> int:
    from explorer.data.default import build_default

    path = build_default(args.out, bars=args.bars, workers=args.workers, progress=not args.quiet)
    print(f"wrote {path}")
    return 0


def _cmd_bench(args) -> int:
    from explorer.bench import run

    try:
        res = run(args.names, precision=args.precision)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    return 0


def _cmd_project(args) -> int:
    from explorer.data.default import load_default
    from explorer.latent.projection import DEFAULT_MAX_POINTS, subset_rows
    from explorer.latent.shipped import build_shipped
    from explorer.models.checkpoint import available_checkpoints
    from explorer.models.trained import TrainedModel
    from explorer.paths import assets_dir

    shipped = {n: p for n, p in available_checkpoints().items()
               if p.resolve().parent == (assets_dir() / "checkpoints").resolve()}
    unknown = [n for n in args.models if n not in shipped]
    if unknown:
        print(f"error: not a shipped model: {unknown}; shipped: {sorted(shipped)}", file=sys.stderr)
        return 2
    for name in args.models or sorted(shipped):
        tm = TrainedModel.load(shipped[name], device="cpu")
        ds = load_default(bars=tm.n_steps // 16)
        path = build_shipped(tm, ds, subset_rows(len(ds), DEFAULT_MAX_POINTS), progress=print)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def _cmd_train(args) -> int:
    from explorer.train.trainer import TrainSettings, parse_settings, train

    s = TrainSettings(args.model, args.data, args.out, hidden=args.hidden, epochs=args.epochs, batch=args.batch,
                      lr=args.lr, device=args.device, seed=args.seed, patience=args.patience,
                      max_minutes=args.max_minutes, augment=args.augment, threads=args.threads, tf_k=args.tf_k,
                      beta=args.beta, init=args.init, progress=not args.quiet, val_limit=args.val_limit,
                      max_steps=args.max_steps, estimate_chords=args.estimate_chords)
    try:
        s.config = parse_settings(args.set or [])
        summary = train(s)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def _cmd_eval(args) -> int:
    from explorer.data.dataset import DatasetError, SegmentDataset, concat
    from explorer.eval.run import evaluate
    from explorer.models.checkpoint import CheckpointError
    from explorer.models.fast_decode import decode_precision
    from explorer.models.trained import TrainedModel

    try:
        tm = TrainedModel.load(args.checkpoint, device=args.device)
        ds = concat([SegmentDataset.load(p) for p in args.data])
        chords = args.chords or _training_chords(tm)
        with decode_precision(args.decode_precision):
            res = evaluate(tm, ds, split=args.split, limit=args.limit or None, seed=args.seed, chords=chords)
        res["decode_precision"] = args.decode_precision
    except (CheckpointError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            if k != "kl_per_dim":
                print(f"{k}: {v}")
    return 0


def _cmd_ship(args) -> int:
    from explorer.data.dataset import DatasetError, SegmentDataset, concat
    from explorer.eval.run import evaluate, evaluate_unseen
    from explorer.latent.attribute_vectors import attribute_vectors, training_rows
    from explorer.models.card import ship, target_lines
    from explorer.models.checkpoint import CheckpointError
    from explorer.models.registry import spec_of
    from explorer.models.trained import TrainedModel

    try:
        unseen_files = dict(_name_and_path(u) for u in args.unseen)
        tm = TrainedModel.load(args.checkpoint, device=args.device)
        ds = concat([SegmentDataset.load(p) for p in args.data])
        n_vec = len(training_rows(ds, args.vector_limit))
        if args.keep_vectors and tm.attribute_vectors:
            n_vec = tm.card.get("attribute_vectors_from", {}).get("segments", n_vec)
        else:
            print(f"attribute vectors: encoding {n_vec} training segments …", file=sys.stderr)
            tm.set_attribute_vectors(attribute_vectors(tm, ds, limit=args.vector_limit))
        print("evaluating on the test split …", file=sys.stderr)
        res = evaluate(tm, ds, split="test", limit=args.limit or None, chords=_training_chords(tm))
        print(f"evaluating on {len(unseen_files)} unseen corpora …", file=sys.stderr)
        unseen = evaluate_unseen(tm, {k: SegmentDataset.load(p) for k, p in unseen_files.items()},
                                 limit=args.limit or None)
    except (CheckpointError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    notes = args.note if args.note is not None else tm.card.get("notes", [])
    spec = spec_of(tm.name)
    extra = {"targets": target_lines(tm.name, res, unseen), "paper": spec.paper, "unseen": unseen,
             "unseen_files": {k: Path(p).name for k, p in unseen_files.items()},
             "notes": notes, "eval_command": f"explorer eval <this file> --data "
             f"{' '.join(Path(p).name for p in args.data)} --split test --limit {args.limit} --json"
             + (" --chords estimated" if _training_chords(tm) == "estimated" else ""),
             "attribute_vectors_from": {"segments": n_vec, "split": "train", "files": [Path(p).name for p in args.data],
                                        "method": "mean posterior mean of the top quartile minus the bottom quartile"},
             "kl_note": spec.kl_line(tm.model.config)}
    out = ship(args.checkpoint, args.out, eval_result=res, extra_card=extra, extras=tm.extras)
    print(json.dumps({"out": str(out), "targets": extra["targets"]} | {k: v for k, v in res.items() if k != "kl_per_dim"},
                     indent=1))
    return 0


def _training_chords(tm) -> str:
    """How a model's own data is evaluated: with chords estimated for the segments without any
    when it was trained so (`explorer train --estimate-chords`, on its card), else as they are."""
    return "estimated" if str(tm.card.get("data", {}).get("chords", "")).startswith("estimated") else "as-is"


def _name_and_path(item: str) -> tuple[str, str]:
    """``NAME=FILE`` → (NAME, FILE); a bare FILE is named by its stem."""
    name, sep, path = item.partition("=")
    return (name, path) if sep else (Path(item).stem, item)


def _call(entry: str, argv: list) -> int:
    """Run ``"module:function"`` with ``argv``."""
    import importlib

    module, _, function = entry.partition(":")
    return int(getattr(importlib.import_module(module), function)(argv) or 0)


def _own_command_line(argv: list) -> int | None:
    """A model family whose spec names a trainer or evaluator (the performance-style model, ExtRes,
    MIDI-VAE: their data and options differ from the melody models') gets `explorer train NAME …`
    and `explorer eval <its checkpoint> …` (found by the model name the checkpoint records); None
    for every other command line."""
    if len(argv) < 2 or argv[0] not in ("train", "eval"):
        return None
    from explorer.models.registry import SPECS

    if argv[0] == "train" and argv[1] in SPECS and SPECS[argv[1]].trainer:
        return _call(SPECS[argv[1]].trainer, argv[2:])
    if argv[0] == "eval" and not argv[1].startswith("-"):
        from explorer.models.checkpoint import checkpoint_model

        model = checkpoint_model(argv[1])  # by the model a checkpoint records: families share a kind
        for spec in SPECS.values():
            if model is not None and spec.model.name == model and spec.evaluator:
                return _call(spec.evaluator, argv[1:])
    return None


class _Families:
    """The registered model families, read when first asked: the registry imports torch, which
    `explorer data` and `explorer render` do without."""

    def __contains__(self, name) -> bool:
        return name in self._specs()

    def __iter__(self):
        return iter(sorted(self._specs()))

    @staticmethod
    def _specs() -> dict:
        from explorer.models.registry import SPECS

        return SPECS


class _TrainHelp(argparse.HelpFormatter):
    """`explorer train --help` ends with a line per family (its options beyond the paper), read from
    the registry when the help is shown."""

    def format_help(self):
        for name, spec in sorted(_Families._specs().items()):
            options = f" (--set {', '.join(spec.train_options)})" if spec.train_options else ""
            self.add_text(f"{name}: {spec.help}{options}")
        return super().format_help()


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local processes, or Ray (needs pip install 'latent-explorer[scale]')")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="ray: the head of a running Ray cluster (`ray start --head`); default: a local Ray")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description="Latent Explorer: symbolic-music VAE latent spaces")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build and inspect segment datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="read a source and write a segment dataset (.npz) or a sharded store (a folder)")
    b.add_argument("source", help="nottingham | pop909 | midi | music21:<collection> (e.g. music21:bach)")
    b.add_argument("--path", help="the data folder (nottingham, pop909, midi) or a MIDI file (midi)")
    b.add_argument("--bars", type=int, default=2, help="bars per segment (default 2)")
    b.add_argument("--hop", type=int, default=None, help="bars between segment starts (default: --bars)")
    b.add_argument("--workers", type=int, default=None, help="processes or Ray workers reading files (0 = all "
                   "cores, or all CPUs of the Ray cluster; default 1 on the local engine, 0 on Ray)")
    b.add_argument("--limit", type=int, default=None, help="read only the first N files/tunes")
    b.add_argument("--melody-track", default=None, help="midi: the melody track (index or name)")
    b.add_argument("--expand-repeats", action="store_true",
                   help="music21 collections: write repeated strains out (more windows for --bars 16)")
    b.add_argument("--out", required=True, help="the dataset file to write (.npz), or else the store folder "
                   "(Parquet shards and a manifest; a rerun finishes an interrupted build)")
    _engine_options(b)
    b.add_argument("--shard-files", type=int, default=256, help="store: files per shard (default 256)")
    b.add_argument("--parser", choices=("pretty_midi", "symusic"), default="pretty_midi",
                   help="midi: the MIDI parser (default pretty_midi)")
    b.add_argument("--json", action="store_true", help="print a JSON summary")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_data_build)
    m = dsub.add_parser("merge", help="concatenate dataset files")
    m.add_argument("inputs", nargs="+")
    m.add_argument("--out", required=True)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_data_merge)
    i = dsub.add_parser("info", help="print what a dataset file or a store holds")
    i.add_argument("file")
    i.set_defaults(func=_cmd_data_info)
    d = dsub.add_parser("build-default", help="build the embedded music21 default dataset")
    d.add_argument("--out", default=None, help="default: assets/data/default.npz (default16.npz for --bars 16)")
    d.add_argument("--bars", type=int, default=2, help="bars per segment (2, or 16 for the 16-bar models)")
    d.add_argument("--workers", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_data_default)

    en = sub.add_parser("encode", help="write the latent means of every segment of a store under a checkpoint "
                        "(a rerun encodes only the shards that lack them)")
    en.add_argument("checkpoint", help="a shipped model's name or a .safetensors file")
    en.add_argument("--data", required=True, help="a store folder from `explorer data build … --out FOLDER`")
    _engine_options(en)
    en.add_argument("--workers", type=int, default=None, help="processes or Ray workers encoding (0 = all cores, "
                    "or all CPUs of the Ray cluster; default 1 on the local engine, 0 on Ray)")
    en.add_argument("--batch", type=int, default=512, help="segments per forward pass (default 512)")
    en.add_argument("--device", default="auto", help="auto | cpu | cuda (default: cuda when there)")
    en.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: 1 with several "
                    "workers, torch's own count in one local process)")
    en.add_argument("--key", default=None, help="the latents' name in the store (default: the checkpoint's name)")
    en.add_argument("--json", action="store_true", help="print a JSON summary")
    en.add_argument("--quiet", action="store_true", help="no progress bar")
    en.set_defaults(func=_cmd_encode)

    r = sub.add_parser("render", help="render a MIDI file to WAV with FluidSynth")
    r.add_argument("input")
    r.add_argument("output")
    r.add_argument("--program", type=int, default=None, help="GM program for every pitched track (0-127)")
    r.add_argument("--qpm", type=float, default=None, help="tempo in quarter notes per minute")
    r.add_argument("--soundfont", default=None, help="a .sf2 file (default: pretty_midi's TimGM6mb.sf2)")
    r.add_argument("--sample-rate", type=int, default=22050)
    r.set_defaults(func=_cmd_render)
    t = sub.add_parser("train", help="train a model (resumes from OUT/state.pt)", formatter_class=_TrainHelp)
    t.add_argument("model", choices=_Families(), metavar="MODEL", help="a model family (listed below)")
    t.add_argument("--data", nargs="+", required=True, help="dataset file(s) from `explorer data build`")
    t.add_argument("--out", required=True, help="run folder: state.pt, best.safetensors, summary.json")
    t.add_argument("--hidden", type=int, default=None, help="hidden size (default: the model's)")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--device", default="auto", help="auto | cpu | cuda")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--patience", type=int, default=6, help="epochs without a better validation before stopping")
    t.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this much training time")
    t.add_argument("--max-steps", type=int, default=None, help="stop (and save) after this many optimizer steps "
                   "(e.g. to compare two models at equal steps)")
    t.add_argument("--augment", type=int, default=6, help="random transposition of ±N semitones (0 = off)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--tf-k", type=float, default=None,
                   help="teacher forcing decays as k/(k+exp(step/k)); smaller k decays sooner; 0 = full teacher "
                        "forcing throughout, as magenta trains its 16-bar models (default: the model's)")
    t.add_argument("--beta", type=float, default=None, help="KL weight (default: the model's)")
    t.add_argument("--init", default=None, help="start from the weights of this checkpoint (same model and config), "
                   "e.g. a shipped one, to train it further")
    t.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="any other config field of the model, e.g. --set free_bits=256 (repeatable)")
    t.add_argument("--val-limit", type=int, default=1024, help="validation segments (a fixed random subset)")
    t.add_argument("--estimate-chords", action="store_true",
                   help="give segments without chords chords estimated from their notes (one triad per half bar), "
                        "as the app does for a melody without a chord track (chord-conditioned models: ec2vae)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    e.add_argument("checkpoint")
    e.add_argument("--data", nargs="+", required=True)
    e.add_argument("--split", default="test", choices=["train", "valid", "test", "all"])
    e.add_argument("--limit", type=int, default=4000, help="at most N segments (0 = all)")
    e.add_argument("--device", default="auto")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true")
    e.add_argument("--chords", choices=["as-is", "estimated"], default=None,
                   help="segments without chords: keep them so (as-is) or estimate chords from their notes; "
                        "default: as the model was trained (its card)")
    e.add_argument("--decode-precision", choices=["fp32", "bf16"], default="fp32",
                   help="the greedy decodes' products: fp32 (exact, default) or bf16 (faster batches on a CPU with "
                        "AVX-512 BF16 or AMX; 99.7-99.95%% of tokens as fp32's, docs/decode-speed.md)")
    e.set_defaults(func=_cmd_eval)

    sh = sub.add_parser("ship", help="evaluate a run's checkpoint on the test split and write it with its card")
    sh.add_argument("checkpoint")
    sh.add_argument("--data", nargs="+", required=True)
    sh.add_argument("--out", required=True, help="assets/checkpoints/<name>.safetensors")
    sh.add_argument("--limit", type=int, default=4000)
    sh.add_argument("--device", default="auto")
    sh.add_argument("--note", action="append", help="a line for the card's notes (repeatable; default: keep the "
                    "checkpoint's notes)")
    sh.add_argument("--unseen", nargs="+", default=[], metavar="NAME=FILE",
                    help="corpora left out of the model's training (dataset files), evaluated on all their segments "
                         "and shown beside the test split in the card, e.g. essen=data/essen.npz")
    sh.add_argument("--keep-vectors", action="store_true",
                    help="keep the checkpoint's stored attribute vectors instead of computing them again")
    sh.add_argument("--vector-limit", type=int, default=4000,
                    help="training segments the stored attribute vectors are computed from")
    sh.set_defaults(func=_cmd_ship)

    bn = sub.add_parser("bench", help="time the operations users wait for (p50/p95 in ms)")
    bn.add_argument("names", nargs="*", help="benchmarks to run (default: all): attributes, render, render-cached, "
                    "midi, encode, decode, decode-render, slider, tsne, map-open, decode-speed, midi-parse, bigmap")
    bn.add_argument("--json", action="store_true", help="(the output is always JSON)")
    bn.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                    help="decode-speed: the lower precision set beside fp32 (default bf16 where the CPU has it, "
                         "else fp32)")
    bn.set_defaults(func=_cmd_bench)

    pj = sub.add_parser("project", help="write the shipped models' PCA and t-SNE maps of the default data "
                        "(assets/projections), which the Latent map reads instead of computing them")
    pj.add_argument("models", nargs="*", help="shipped model names (default: all)")
    pj.set_defaults(func=_cmd_project)
    return p


def _one_line(exc: BaseException) -> str:
    """An exception as one line: its message (or its type when it has none), newlines folded."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + " …"


def main(argv=None) -> int:
    """Run a command; every failure ends with one ``error: …`` line on stderr and a non-zero exit
    code (2 for a file or value the command cannot use, 1 for anything unexpected; the traceback
    with ``LATENT_EXPLORER_DEBUG=1``)."""
    from explorer.compat import quiet_fluidsynth_import

    quiet_fluidsynth_import()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        own = _own_command_line(argv)
        if own is not None:
            return own
        args = make_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory (see the limits in docs/security.md)", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        from explorer.limits import LimitError

        code = 2 if isinstance(exc, (ValueError, KeyError, OSError, LimitError)) else 1
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
