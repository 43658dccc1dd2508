"""Page: the loaded model's card — data, training, evaluation beside the paper's
figures and the targets — or, for a run that was never shipped, how to evaluate
it and a button that evaluates it here."""
from __future__ import annotations

import shlex

import pandas as pd
import streamlit as st

from explorer.models.card import comparison_rows, target_lines
from explorer.models.card_names import full_name, standing
from explorer.models.registry import PAPER_FIGURES, TARGETS
from explorer.ui.keys import data_key, model_key
from explorer.ui.player import play_ui
from explorer.ui.sidebar import sidebar_ui
from explorer.viz.report import (attribute_figure, dim_labels, figures_table, group_test_figure,
                                 history_accuracy_figure, history_loss_figure, kl_figure, reconstruction_figure,
                                 target_status)

EVAL_LIMIT = 500
EVAL_BUTTON = f"Evaluate now on the current data (test split, ≤ {EVAL_LIMIT} segments)"
EVALUATED = "report_evaluated"  # session state: the (model, data) keys evaluated in this session


@st.cache_data(show_spinner=False, max_entries=8)
def _evaluate(model: str, data: str, counts: tuple, limit: int, _tm, _ds) -> dict:
    """``evaluate`` on the test split, cached by the model's and the data's fingerprints and the
    data's split sizes (the split goes by tune, which the data's fingerprint does not cover)."""
    from explorer.eval.run import evaluate

    return evaluate(_tm, _ds, split="test", limit=limit)


def _data_ui(data: dict):
    st.subheader("Data")
    if not data:
        st.caption("The card does not describe the training data.")
        return
    segs = data.get("segments")
    seg_text = ", ".join(f"{k} {v}" for k, v in segs.items()) + f" (total {sum(segs.values())})" \
        if isinstance(segs, dict) else str(segs)
    lines = [("files", ", ".join(data.get("files", [])) or "—"), ("sources", ", ".join(data.get("sources", [])) or "—"),
             ("segments", seg_text), ("split", data.get("split", "—")), ("augmentation", data.get("augmentation", "—"))]
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in lines))


def _training_ui(card: dict):
    st.subheader("Training")
    if "steps" not in card:
        st.caption("The card does not describe the training run.")
    else:
        minutes = card.get("train_seconds", 0) / 60
        lines = [f"**{card.get('steps')}** steps, **{card.get('epochs', '?')}** epochs, batch {card.get('batch', '?')}, "
                 f"learning rate {card.get('lr', '?')}, seed {card.get('seed', '?')}",
                 f"time: {minutes:.1f} min on {card.get('hardware', '?')}"]
        if card.get("kl_note"):
            lines.append(f"KL: {card['kl_note']}")
        best = card.get("best_val")
        if isinstance(best, dict) and "val_acc_greedy" in best:
            lines.append(f"best validation: epoch {best.get('epoch')}, step {best.get('step')}, greedy accuracy "
                         f"{best['val_acc_greedy']:.4f}, teacher-forced {best.get('val_acc_tf', float('nan')):.4f}")
        if card.get("config"):
            lines.append(f"config: `{card['config']}`")
        st.markdown("\n".join(f"- {x}" for x in lines))
    figs = [f for f in (history_accuracy_figure(card.get("history")), history_loss_figure(card.get("history"))) if f]
    if not figs:
        st.caption("No training history in the card.")
    for col, fig, k in zip(st.columns(len(figs)) if figs else [], figs, ("acc", "loss")):
        col.plotly_chart(fig, key=f"report_history_{k}", width="stretch")


def _not_evaluated_ui(tm, settings) -> dict | None:
    """Say the card has no evaluation, show the commands, offer the button; the
    evaluation result when there is one for this model and data."""
    path = str(getattr(tm, "path", "<checkpoint>.safetensors"))
    data_files = " ".join(tm.card.get("data", {}).get("files", [])) or "<data.npz>"
    st.info("This checkpoint has no evaluation in its card: it is a training run's checkpoint that was not "
            "shipped. Evaluate it from the command line (the data files are those `explorer data` wrote):")
    st.code(f"explorer ship {shlex.quote(path)} --data {data_files} --out shipped.safetensors --limit 4000\n"
            f"explorer eval {shlex.quote(path)} --data {data_files} --split test --limit 4000 --json", language="bash",
            wrap_lines=True)
    ds = settings.dataset
    if ds is None:
        st.caption("…or choose data in the sidebar to evaluate it here.")
        return None
    key = (model_key(tm), data_key(ds), tuple(ds.counts().items()))
    done = st.session_state.setdefault(EVALUATED, set())
    if key not in done:
        if not st.button(EVAL_BUTTON, key="report_evaluate"):
            return None
        failed = None
        with st.status(f"Evaluating {settings.model_label} on the test split of {settings.data_label}…",
                       expanded=False) as status:
            try:
                res = _evaluate(*key, EVAL_LIMIT, tm, ds)
            except ValueError as exc:  # e.g. an empty test split, melodies of another length
                failed = str(exc)
                status.update(label="Evaluation failed", state="error")
            else:
                status.update(label=f"Evaluated in {res.get('seconds', 0):.0f} s", state="complete")
        if failed:
            st.error(f"Cannot evaluate on this data: {failed}. Accepted: data whose test split holds segments of "
                     f"{tm.n_steps} steps, such as the embedded default corpus or a folder of several tunes "
                     "(the split is by tune).")
            return None
        done.add(key)
    res = _evaluate(*key, EVAL_LIMIT, tm, ds)
    trained_on = tm.card.get("data", {}).get("sources")
    st.caption(f"Measured here on the test split of {settings.data_label} ({res['segments']} segments)"
               + (f"; the model was trained on {', '.join(trained_on)}." if trained_on else "."))
    return res


def _eval_ui(tm, ev: dict, kl, targets_lines, paper: dict):
    targets = dict(TARGETS.get(tm.name, []))
    st.caption(f"{ev.get('split', 'test')} split, {ev.get('segments', '?')} segments"
               + (f", {ev['seconds']} s on {ev['device']}" if "seconds" in ev and "device" in ev else ""))
    left, right = st.columns([3, 2])
    with left:
        st.dataframe(figures_table(ev, paper, targets), hide_index=True, width="stretch")
    with right:
        if paper:
            st.markdown(f"**Paper:** {paper.get('source', '—')}" + (f" — {paper['note']}" if paper.get("note") else ""))
        status = target_status(targets_lines)
        if status:
            st.markdown("**Against the targets**")
            badge = {True: ":green-badge[met]", False: ":red-badge[missed]", None: ""}
            st.markdown("\n".join(f"- {badge[met]} {line}" for line, met in status))
    figs = [("recon", reconstruction_figure(ev, targets)),
            ("attrs", attribute_figure(ev, paper.get("interpretability_mean") if paper else None)),
            ("groups", group_test_figure(ev))]
    figs = [(k, f) for k, f in figs if f is not None]
    for row in range(0, len(figs), 2):
        for col, (k, fig) in zip(st.columns(2), figs[row:row + 2]):
            col.plotly_chart(fig, key=f"report_{k}", width="stretch")
    _vector_effects_ui(ev.get("attribute_vectors"))
    if kl:
        labels = dim_labels(len(kl), tm.layout.groups, tm.layout.regularized)
        st.plotly_chart(kl_figure(kl, labels), key="report_kl", width="stretch")
    else:
        st.caption("No KL per dim in the card.")


def _unseen_ui(card: dict):
    """The card's own test split beside the corpora the model never saw (same metrics)."""
    if not card.get("unseen"):
        st.caption("This card has no figures on corpora left out of the model's training "
                   "(`explorer ship --unseen NAME=FILE` adds them).")
        return
    st.markdown("**Own test split and music it never saw** — the same metrics on every segment of each corpus "
                "left out of its training")
    st.dataframe(pd.DataFrame(comparison_rows(card)), hide_index=True, width="stretch")


def _vector_effects_ui(vec: dict | None):
    """The stored attribute vectors' measured effect on decoded melodies (eval's ``attribute_vectors``)."""
    if not vec:
        return
    st.markdown(f"**Attribute vectors** — adding {vec['amount']:g} × the vector to {vec['segments']} test melodies "
                "(change in standard deviations of the attribute; a vector that works moves its own attribute "
                "far more than the others)")
    st.dataframe(pd.DataFrame([
        {"attribute": a, "own change / std": v["delta_std"], "melodies that rose": f"{v['increased']:.0%}",
         "others, mean |change| / std": v["others_abs_delta_std"],
         "moved most among the others": f"{v['largest_other'][0]} ({v['largest_other'][1]:+.2f})"}
        for a, v in vec["per_attribute"].items()]), hide_index=True, width="stretch")


def _prior_ui(tm, settings):
    if not st.toggle("Hear a prior sample of this model", key="report_prior"):
        return
    c1, c2 = st.columns(2)
    temp = c1.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="report_temp")
    seed = c2.number_input("Seed", 0, 10_000, 0, key="report_seed")
    play_ui(tm.sample(1, temperature=float(temp), seed=int(seed))[0], settings, key="report_prior_play",
            name=f"{settings.model_label}_prior_seed{int(seed)}")


def report_page():
    """Draw the Model report page for the model chosen in the sidebar."""
    st.title("Model report")
    settings = sidebar_ui()
    tm = settings.model
    if tm is None:
        st.info("Load a model in the sidebar's model picker (**Model**) to see its card.")
        return
    card = tm.card
    lay = tm.layout
    named = f"**{full_name(card)}** (`{settings.model_label}`)" if card.get("model") else f"**{settings.model_label}**"
    st.markdown(f"{named} — {tm.name}, {lay.dims}-dim latent"
                + (f"; groups {', '.join(f'{g} {a}–{b - 1}' for g, (a, b) in lay.groups.items())}" if lay.groups else "")
                + (f"; regularised dims {', '.join(f'{a} → {d}' for a, d in lay.regularized.items())}"
                   if lay.regularized else ""))
    if not card:
        st.warning("This checkpoint carries no model card (no data, training or evaluation figures).")
    elif standing(card).weak:
        st.warning(f"⚠ This model is {standing(card).sentence()}.")
    _data_ui(card.get("data", {}))
    _training_ui(card)
    st.subheader("Evaluation")
    paper = card.get("paper") or PAPER_FIGURES.get(tm.name, {})
    if isinstance(card.get("eval"), dict) and card["eval"]:
        ev, kl, lines = card["eval"], card.get("kl_per_dim"), target_lines(tm.name, card["eval"], card.get("unseen"))
    else:
        res = _not_evaluated_ui(tm, settings)
        if res is None:
            _prior_ui(tm, settings)
            return
        ev = {k: v for k, v in res.items() if k != "kl_per_dim"}
        kl, lines = res.get("kl_per_dim"), target_lines(tm.name, ev)
    _unseen_ui(card)
    _eval_ui(tm, ev, kl, lines, paper)
    if card.get("notes"):
        st.markdown("**Notes**\n" + "\n".join(f"- {n}" for n in card["notes"]))
    _prior_ui(tm, settings)

