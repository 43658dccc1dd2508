"""Home: what is loaded, the model card's figures, and what each page does."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.device import describe_device
from explorer.models.card_names import full_name, standing
from explorer.ui.page_table import pages_for, present_pages
from explorer.ui.sidebar import sidebar_ui

HEADLINE = ("recon_accuracy_greedy", "recon_accuracy_onset_pitch", "recon_accuracy_rhythm", "active_units")


def _card_summary(card: dict) -> list[str]:
    lines = []
    data = card.get("data", {})
    if data:
        segs = data.get("segments", {})
        lines.append(f"trained on {', '.join(data.get('sources', []))} "
                     f"({sum(segs.values()) if isinstance(segs, dict) else segs} segments, split by tune)")
    if card.get("steps"):
        lines.append(f"{card['steps']} steps, {card.get('train_seconds', 0) / 60:.0f} min on {card.get('hardware', '?')}")
    ev = card.get("eval", {})
    figs = [f"{k.replace('recon_accuracy_', 'recon ')} {ev[k]:.3f}" if isinstance(ev[k], float) else f"{k} {ev[k]}"
            for k in HEADLINE if k in ev]
    if "interpretability" in ev:
        figs.append(f"interpretability {ev['interpretability'].get('mean', 0):.3f}")
    if ev.get("attribute_vectors"):
        figs.append(f"{len(ev['attribute_vectors']['per_attribute'])} attribute vectors")
    if "transposition_test" in ev:
        figs.append(f"transposition ratio ‖Δz_p‖/‖Δz_r‖ {ev['transposition_test'].get('ratio', 0):.2f}")
    if figs:
        lines.append(f"{ev.get('split', 'test')} split: " + ", ".join(figs))
    elif card:
        lines.append("not evaluated yet (see the Model report page)")
    return lines


def home_page():
    st.title("Latent Explorer")
    st.write("See and hear the latent spaces of symbolic-music VAEs.")
    settings = sidebar_ui()
    if settings.dataset is not None:
        ds = settings.dataset
        c = ds.counts()
        st.markdown(f"**Data:** {settings.data_label} — {len(ds)} {ds.bars}-bar segments "
                    f"(train {c['train']}, valid {c['valid']}, test {c['test']}) from {len(ds.tune_id)} tunes.")
    elif settings.error:
        st.warning(settings.error)
    if settings.model is not None:
        tm = settings.model
        name = full_name(tm.card) if tm.card.get("model") else tm.name
        st.markdown(f"**Model:** {name} (`{settings.model_label}`) — {tm.name}, {tm.layout.dims}-dim latent"
                    + (f", groups {', '.join(tm.layout.groups)}" if tm.layout.groups else "")
                    + (f", regularised dims for {', '.join(tm.layout.regularized)}" if tm.layout.regularized else ""))
        s = standing(tm.card)
        for line in _card_summary(tm.card) + ([f"⚠ {s.sentence()} (the Model report lists every figure)"]
                                              if s.badge else []):
            st.markdown(f"- {line}")
        st.markdown(f"- pages for this model: {', '.join(p.title for p in pages_for(tm.name))}")
    elif settings.model_error:
        st.warning(f"Model: {settings.model_error}")
    else:
        st.markdown("**Model:** none loaded — choose one in the sidebar.")
    st.markdown(f"**Inference device:** {describe_device()}")
    st.markdown("**Audio:** " + ("FluidSynth, General-MIDI soundfont TimGM6mb" if settings.audio else "off"))
    st.subheader("Pages")
    for page in present_pages(_app_root()):
        link, what = st.columns([1, 3], vertical_alignment="center")  # a link's label does not wrap: the words beside it do
        link.page_link(page.file, label=page.title, icon=page.icon)
        what.markdown(page.what)


def _app_root() -> Path:
    """The folder of the app's main script (the page files' paths are relative to it)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return Path(ctx.main_script_path).resolve().parent if ctx and ctx.main_script_path else Path.cwd()
