"""Model cards: the training card of a run plus measured eval figures, written
into the shipped checkpoint's metadata and beside it as Markdown."""
from __future__ import annotations

import json
from pathlib import Path

from explorer.models.checkpoint import load_checkpoint, save_checkpoint
from explorer.models.registry import TARGETS, UNSEEN_TARGETS

MAX_SHIPPED_MB = 25


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def card_markdown(name: str, card: dict) -> str:
    ev = card.get("eval", {})
    data = card.get("data", {})
    lines = [f"# {name}", "", f"Model: **{card.get('model')}** · config `{json.dumps(card.get('config', {}))}`", "",
             "## Data", f"- files: {', '.join(data.get('files', []))}", f"- sources: {', '.join(data.get('sources', []))}",
             f"- segments: {data.get('segments')}", f"- split: {data.get('split')}",
             f"- augmentation: {data.get('augmentation')}"]
    if data.get("chords"):  # trained with chords estimated for the segments without (explorer train --estimate-chords)
        lines.append(f"- chords: {data['chords']}")
    lines += ["", "## Training", f"- steps: {card.get('steps')}, epochs: {card.get('epochs')}, batch {card.get('batch')}, "
              f"lr {card.get('lr')}, seed {card.get('seed')}",
              f"- time: {card.get('train_seconds', 0) / 60:.0f} min on {card.get('hardware')}",
              f"- KL: {card.get('kl_note', '')}", "",
              f"## Evaluation (`explorer eval`, {ev.get('split')} split, {ev.get('segments')} segments)"]
    for k in ("recon_accuracy_teacher_forced", "recon_accuracy_greedy", "recon_accuracy_onset_pitch",
              "recon_accuracy_rhythm", "active_units"):
        if k in ev:
            lines.append(f"- {k}: {_fmt(ev[k])}")
    for k in ("interpretability", "mig", "sap", "spearman", "transposition_test", "rhythm_test"):
        if k in ev:
            v = ev[k]
            flat = {a: (b["r2"] if isinstance(b, dict) else b) for a, b in v.items()}
            lines.append(f"- {k}: " + ", ".join(f"{a} {_fmt(b)}" for a, b in flat.items()))
    if card.get("unseen"):
        rows = comparison_rows(card)
        cols = [c for c in rows[0] if c != "corpus"]
        lines += ["", "## Own test split and corpora it never saw (`explorer eval --split all` on each)",
                  "| corpus | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        lines += ["| " + " | ".join([r["corpus"]] + ["—" if r[c] is None else _fmt(r[c]) for c in cols]) + " |"
                  for r in rows]
    vec = ev.get("attribute_vectors")
    if vec:
        src = card.get("attribute_vectors_from", {})
        lines += ["", f"## Attribute vectors ({src.get('segments', '?')} training segments; effect of adding "
                  f"{vec['amount']:g} × vector to {vec['segments']} test melodies)",
                  "| attribute | change (units) | change / std | melodies that rose | other attributes, mean abs change / std "
                  "| moved most among the others |", "|---|---|---|---|---|---|"]
        for a, v in vec["per_attribute"].items():
            lines.append(f"| {a} | {v['delta']:+.4f} | {v['delta_std']:+.3f} | {v['increased']:.0%} | "
                         f"{v['others_abs_delta_std']:.3f} | {v['largest_other'][0]} ({v['largest_other'][1]:+.3f}) |")
    if card.get("targets"):
        lines += ["", "## Against the targets", *[f"- {t}" for t in card["targets"]]]
    if card.get("paper"):
        note = card["paper"].get("note")
        lines += ["", f"Paper: {card['paper'].get('source')}" + (f" — {note}" if note else "")]
    if card.get("notes"):
        lines += ["", "## Notes", *[f"- {n}" for n in card["notes"]]]
    return "\n".join(lines) + "\n"


def ship(run_checkpoint, out_path, *, eval_result: dict, extra_card: dict | None = None,
         extras: dict | None = None) -> Path:
    """Copy a run's best checkpoint to ``out_path`` with the eval figures in its card
    (and ``extras``, e.g. attribute vectors, instead of the run's), and write
    ``out_path.md``. Refuses files over the size limit."""
    model, meta, run_extras = load_checkpoint(run_checkpoint)
    extras = run_extras if extras is None else extras
    card = dict(meta.get("card", {}))
    card["eval"] = {k: v for k, v in eval_result.items() if k != "kl_per_dim"}
    card["kl_per_dim"] = eval_result.get("kl_per_dim")
    card |= extra_card or {}
    out = save_checkpoint(out_path, model, card=card, extras=extras)
    size_mb = out.stat().st_size / 1e6
    if size_mb > MAX_SHIPPED_MB:
        out.unlink()
        raise ValueError(f"{out.name} would be {size_mb:.1f} MB, over the {MAX_SHIPPED_MB} MB limit")
    out.with_suffix(".md").write_text(card_markdown(out.stem, card))
    return out


# the columns of the card's side-by-side table: (label, dotted key)
COMPARE_COLUMNS = [("greedy", "recon_accuracy_greedy"), ("teacher-forced", "recon_accuracy_teacher_forced"),
                   ("onset pitch", "recon_accuracy_onset_pitch"), ("rhythm", "recon_accuracy_rhythm"),
                   ("interpretability", "interpretability.mean"), ("transposition ratio", "transposition_test.ratio"),
                   ("rhythm-change ratio", "rhythm_test.ratio")]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part, {}) if isinstance(d, dict) else {}
    return d if isinstance(d, (int, float)) else None


def _lines(targets, ev: dict, where: str = "") -> list[str]:
    out = []
    for key, target in targets:
        v = _get(ev, key)
        if v is not None:
            out.append(f"{where}{key}: {v:.4g} (target ≥ {target:g}) — {'met' if v >= target else 'missed'}")
    return out


def target_lines(model: str, ev: dict, unseen: dict | None = None) -> list[str]:
    """'name: measured vs target — met/missed' for the targets of the model's spec (explorer.models.registry)
    on its own test split (``ev``) and on each corpus it never saw (``unseen``: ``{corpus: figures}``)."""
    out = _lines(TARGETS.get(model, ()), ev)
    for corpus, figs in (unseen or {}).items():
        out += _lines(UNSEEN_TARGETS.get(model, ()), figs, f"unseen {corpus}: ")
    return out


def missed_targets(card: dict) -> list[str]:
    """The lines of ``target_lines`` (today's targets, on the card's own-test and unseen-corpus
    figures) that say 'missed'; empty when all are met or none apply."""
    lines = target_lines(card.get("model", ""), card.get("eval", {}), card.get("unseen"))
    return [ln for ln in lines if ln.endswith("missed")]


def comparison_rows(card: dict) -> list[dict]:
    """One row per corpus — the model's own test split first, then each unseen corpus —
    with the figures of ``COMPARE_COLUMNS`` that the model has."""
    sets = [("own test split", card.get("eval", {}))] + [(f"{k} (never seen)", v) for k, v in
                                                          (card.get("unseen") or {}).items()]
    cols = [(label, key) for label, key in COMPARE_COLUMNS if any(_get(ev, key) is not None for _, ev in sets)]
    return [{"corpus": name, "segments": ev.get("segments")} | {label: _get(ev, key) for label, key in cols}
            for name, ev in sets]
