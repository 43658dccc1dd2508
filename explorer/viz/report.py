"""Plotly figures and tables of a model card: the evaluation figures beside the
paper's, the per-dim KL, the training curves and the EC²-VAE group tests.

Everything here reads dicts as ``explorer eval`` / ``explorer ship`` and the
trainer write them (``card["eval"]``, ``card["kl_per_dim"]``, ``card["history"]``);
nothing is computed from a model, and a figure that is missing from the input is
left out, never filled in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

RECON = {"recon_accuracy_teacher_forced": "teacher-forced", "recon_accuracy_greedy": "greedy",
         "recon_accuracy_onset_pitch": "onset pitch (greedy)", "recon_accuracy_rhythm": "rhythm (greedy)"}
#: the rows of the figures table: dotted key into the eval dict → label
FIGURES = {
    **{k: f"reconstruction accuracy, {v}" for k, v in RECON.items()},
    "active_units": "active units (dims whose mean varies)",
    "interpretability.mean": "interpretability (mean R²)",
    "mig.mean": "MIG (mean)",
    "sap.mean": "SAP (mean)",
    "spearman.mean": "Spearman ρ of regularised dims (mean)",
    "transposition_test.ratio": "transposition test ‖Δz_p‖ / ‖Δz_r‖",
    "rhythm_test.ratio": "rhythm test ‖Δz_r‖ / ‖Δz_p‖",
}
ATTRIBUTE_METRICS = {"interpretability": "interpretability R²", "mig": "MIG", "sap": "SAP", "spearman": "Spearman ρ"}
#: history keys that are not loss terms
HISTORY_ACCURACY = {"val_acc_tf": "validation accuracy, teacher-forced", "val_acc_greedy": "validation accuracy, greedy"}
HISTORY_NOT_LOSS = {"epoch", "step", "seconds", "tf", *HISTORY_ACCURACY}
GROUP_COLORS = (("dz_p", "‖Δz_p‖ (pitch code)", "#1f77b4"), ("dz_r", "‖Δz_r‖ (rhythm code)", "#ff7f0e"))
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def lookup(ev: dict, key: str):
    """The number at ``key`` in an eval dict: ``"a.b"`` reads ``ev["a"]["b"]``, and a
    paper-style ``"a_b"`` falls back to ``ev["a"]["b"]``; None when absent."""
    v = ev
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v is None and "." not in key and "_" in key:
        head, tail = key.rsplit("_", 1)
        return lookup(ev, f"{head}.{tail}")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def figures_table(ev: dict, paper: dict | None = None, targets: dict | None = None) -> pd.DataFrame:
    """The card's figures beside the paper's and the targets.

    Parameters
    ----------
    ev : dict
        ``card["eval"]`` (or an ``evaluate`` result).
    paper : dict
        ``PAPER_FIGURES[model]``: numbers under keys such as ``interpretability_mean``
        fill the "paper" column; ``source`` and ``note`` are text and skipped.
    targets : dict
        Dotted key → the lowest value that meets the target (``models.card.TARGETS``).

    Returns
    -------
    DataFrame with columns figure, this model, paper, target (strings; "—" where
    there is none); one row per figure present in ``ev``.
    """
    paper_vals = {}
    for k, v in (paper or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            dotted = k if k in FIGURES else ".".join(k.rsplit("_", 1))
            paper_vals[dotted] = v
    rows = []
    for key, label in FIGURES.items():
        v = lookup(ev, key)
        if v is None:
            continue
        shown = f"{v} of {ev['latent_dims']}" if key == "active_units" and "latent_dims" in ev else _fmt(v)
        t = (targets or {}).get(key)
        rows.append({"figure": label, "this model": shown, "paper": _fmt(paper_vals.get(key)),
                     "target": "—" if t is None else f"≥ {t:g}"})
    return pd.DataFrame(rows, columns=["figure", "this model", "paper", "target"])


def target_status(lines) -> list[tuple[str, bool | None]]:
    """(line, met) of the card's target lines ("… — met" / "… — missed"); None when
    a line says neither."""
    out = []
    for line in lines or []:
        verdict = str(line).rsplit("—", 1)[-1].strip().lower()
        out.append((str(line), True if verdict == "met" else False if verdict == "missed" else None))
    return out


def _layout(fig: go.Figure, title: str, height: int, **kw) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=50, r=10, t=50, b=40), **kw)
    return fig


def reconstruction_figure(ev: dict, targets: dict | None = None, height: int = 320) -> go.Figure:
    """Bars of the four reconstruction accuracies (those present), a marker at each target."""
    keys = [k for k in RECON if lookup(ev, k) is not None]
    vals = [lookup(ev, k) for k in keys]
    fig = go.Figure(go.Bar(x=[RECON[k] for k in keys], y=vals, text=[f"{v:.3f}" for v in vals],
                           textposition="outside", name="measured", marker_color="#1f77b4"))
    tk = [k for k in keys if k in (targets or {})]
    if tk:
        fig.add_trace(go.Scatter(x=[RECON[k] for k in tk], y=[targets[k] for k in tk], mode="markers",
                                 marker=dict(symbol="line-ew-open", size=40, color="#d62728",
                                             line=dict(width=3, color="#d62728")),
                                 name="target"))
    return _layout(fig, "Reconstruction accuracy", height, yaxis=dict(range=[0, 1.08], title="accuracy"),
                   showlegend=bool(tk))


def attribute_figure(ev: dict, paper_mean: float | None = None, height: int = 340) -> go.Figure | None:
    """Grouped bars per attribute of interpretability R², MIG, SAP and Spearman ρ
    (those present); a dashed line at the paper's mean interpretability. None when
    the eval has no per-attribute figures."""
    fig = go.Figure()
    attrs = []
    for key, label in ATTRIBUTE_METRICS.items():
        block = ev.get(key)
        if not isinstance(block, dict):
            continue
        names = [a for a in block if a != "mean"]
        vals = [block[a]["r2"] if isinstance(block[a], dict) else block[a] for a in names]
        hover = [f"dim {block[a]['dim']}" if isinstance(block[a], dict) and "dim" in block[a] else "" for a in names]
        fig.add_trace(go.Bar(x=names, y=vals, name=label, hovertext=hover))
        attrs += [a for a in names if a not in attrs]
    if not attrs:
        return None
    if paper_mean is not None:
        fig.add_hline(y=paper_mean, line_dash="dash", line_color="#444",
                      annotation_text=f"paper: mean interpretability {paper_mean:g}")
    return _layout(fig, "Per attribute", height, barmode="group", yaxis=dict(title="score"))


def dim_labels(dims: int, groups: dict | None = None, regularized: dict | None = None) -> list[str]:
    """A label per latent dim: its group's name, ``"<attribute> (regularised)"``, or ``"free"``."""
    out = ["free"] * dims
    for name, (a, b) in (groups or {}).items():
        out[a:b] = [name] * (b - a)
    for attr, d in (regularized or {}).items():
        if 0 <= d < dims:
            out[d] = f"{attr} (regularised)"
    return out


def kl_figure(kl_per_dim, labels=None, height: int = 320) -> go.Figure:
    """KL(q(z_d|x) ‖ N(0, 1)) per dim in nats, sorted from largest; colour = the dim's label."""
    kl = [float(v) for v in kl_per_dim]
    labels = list(labels) if labels is not None else ["dim"] * len(kl)
    order = sorted(range(len(kl)), key=lambda d: -kl[d])
    fig = go.Figure()
    for i, lab in enumerate(dict.fromkeys(labels)):  # colours in dim order: pitch before rhythm
        ranks = [r for r, d in enumerate(order) if labels[d] == lab]
        fig.add_trace(go.Bar(x=ranks, y=[kl[order[r]] for r in ranks], name=lab, marker_color=PALETTE[i % len(PALETTE)],
                             hovertext=[f"dim {order[r]} ({lab}): {kl[order[r]]:.4f} nats" for r in ranks],
                             hoverinfo="text"))
    collapsed = sum(v < 0.01 for v in kl)
    return _layout(fig, f"KL per latent dim, sorted ({collapsed} of {len(kl)} below 0.01 nats)", height,
                   bargap=0, xaxis=dict(title="dims, largest KL first"), yaxis=dict(title="KL (nats)"),
                   showlegend=len(set(labels)) > 1)


def history_frame(history) -> pd.DataFrame:
    """The trainer's per-epoch records as a DataFrame indexed by step."""
    df = pd.DataFrame(list(history or []))
    if df.empty or "step" not in df:
        return pd.DataFrame()
    return df.sort_values("step").set_index("step")


def history_accuracy_figure(history, height: int = 320) -> go.Figure | None:
    """Validation accuracies (teacher-forced, greedy) and the teacher-forcing ratio vs step."""
    df = history_frame(history)
    cols = [c for c in HISTORY_ACCURACY if c in df]
    if not cols:
        return None
    fig = go.Figure([go.Scatter(x=df.index, y=df[c], mode="lines+markers", name=HISTORY_ACCURACY[c]) for c in cols])
    if "tf" in df:
        fig.add_trace(go.Scatter(x=df.index, y=df["tf"], mode="lines", line=dict(dash="dot", color="#888"),
                                 name="teacher-forcing ratio"))
    return _layout(fig, "Validation accuracy during training", height, xaxis=dict(title="step"),
                   yaxis=dict(title="accuracy", range=[0, 1.02]))


def history_loss_figure(history, height: int = 320) -> go.Figure | None:
    """Every loss term of the records vs step: ``val_nll`` on the validation set, the
    others on the last training batch of each epoch; a log axis when all are positive."""
    df = history_frame(history)
    cols = [c for c in df.columns if c not in HISTORY_NOT_LOSS and pd.api.types.is_numeric_dtype(df[c])]
    if not cols:
        return None
    fig = go.Figure([go.Scatter(x=df.index, y=df[c], mode="lines+markers", name=c) for c in cols])
    values = df[cols].to_numpy(float)
    values = values[np.isfinite(values)]
    positive = bool(len(values)) and bool((values > 0).all())
    yaxis = dict(title="value", type="linear")
    if positive:
        ticks = log_ticks(values.min(), values.max())
        yaxis = dict(title="value (log scale)", type="log",
                     **(dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks]) if ticks else {}))
    return _layout(fig, "Loss terms during training", height, xaxis=dict(title="step"), yaxis=yaxis)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over ``lo``..``hi`` (> 0) that read as plain numbers: 1, 2, 5 × 10^k
    (plotly's own label the 2s and 5s as bare digits: "5 2 10 5 2 1"); only the powers of ten over
    more than about four decades; every digit 1-6 and 8 over less than one. Empty when fewer than
    two would show: plotly's own ticks are readable over so narrow a range."""
    if not 0 < lo <= hi:
        raise ValueError(f"log ticks need 0 < lo <= hi, got {lo!r}, {hi!r}")
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))

    def within(mantissas) -> list[float]:
        ticks = (float(f"{m * 10.0 ** k:.12g}") for k in range(k0, k1 + 1) for m in mantissas)
        return [t for t in ticks if lo <= t <= hi]

    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 8)):
        ticks = within(mantissas)
        if len(ticks) > 12:
            return within((1,))
        if len(ticks) >= 3:
            return ticks
    return ticks if len(ticks) >= 2 else []


def group_test_figure(ev: dict, height: int = 320) -> go.Figure | None:
    """EC²-VAE's two tests as grouped bars of mean ‖Δz_p‖ and ‖Δz_r‖: transposed
    inputs (z_p should move) and changed rhythm (z_r should move). None when absent."""
    tests = {"transposition_test": "inputs transposed ±1..6 semitones", "rhythm_test": "rhythm changed, same pitches"}
    present = {k: v for k, v in tests.items() if isinstance(ev.get(k), dict)}
    if not present:
        return None
    names = [label + (f"<br>ratio {ev[k]['ratio']:g}" if ev[k].get("ratio") is not None else "")
             for k, label in present.items()]
    fig = go.Figure()
    for key, label, color in GROUP_COLORS:
        ys = [ev[k].get(key) for k in present]
        fig.add_trace(go.Bar(x=names, y=ys, name=label, marker_color=color,
                             text=["—" if y is None else f"{y:.3f}" for y in ys], textposition="outside"))
    return _layout(fig, "Disentanglement tests (mean over the evaluated segments)", height, barmode="group",
                   yaxis=dict(title="‖Δz‖"))


def shift_distance_figure(table: pd.DataFrame, selected: int | None = None, height: int = 260) -> go.Figure:
    """Grouped bars of ‖Δz_p‖ and ‖Δz_r‖ per transposition (the Analogy page's demo).

    Parameters
    ----------
    table : DataFrame
        Index: semitones; columns "pitch" and "rhythm" (``latent.analogy.transposition_distances``).
    selected : int
        The shift to outline.
    """
    fig = go.Figure()
    for (_, label, color), col in zip(GROUP_COLORS, ("pitch", "rhythm")):
        fig.add_trace(go.Bar(x=list(table.index), y=table[col].tolist(), name=label, marker_color=color,
                             marker_line_width=[3 if s == selected else 0 for s in table.index],
                             marker_line_color="#222"))
    return _layout(fig, "‖Δz‖ of each latent group, A against A transposed", height, barmode="group",
                   xaxis=dict(title="semitones", tickmode="linear", dtick=1), yaxis=dict(title="‖Δz‖"))
