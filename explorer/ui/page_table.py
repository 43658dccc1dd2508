"""The app's pages, in menu order: the one table that app.py's navigation and Home's list read.

A page's ``url`` is its id: the model families' specs (:mod:`explorer.models.registry`, field
``pages``) name the pages that apply to them by it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st


@dataclass(frozen=True)
class AppPage:
    """One page: its file (relative to app.py), menu title and icon, URL path (its id) and,
    for Home, what it does in one line."""

    file: str
    title: str
    icon: str
    url: str
    what: str


PAGES = (
    AppPage("pages/segment_player.py", "Segment player", ":material/music_note:", "segment_player",
            "pick a melody segment of the data, see its piano roll, hear it, download MIDI and WAV"),
    AppPage("pages/latent_map.py", "Latent map", ":material/scatter_plot:", "latent_map",
            "PCA / t-SNE of the data's latent codes coloured by attributes; click a point to hear it, "
            "its reconstruction and its neighbours; place your own MIDI on the map"),
    AppPage("pages/attribute_sliders.py", "Attribute sliders", ":material/tune:", "attribute_sliders",
            "move regularised dimensions and attribute vectors and hear the melody change; "
            "target vs measured attribute, the controllability curve"),
    AppPage("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation",
            "a timeline from melody A to B (lerp/slerp, one latent group only), and a 4-corner palette"),
    AppPage("pages/analogy.py", "Analogy", ":material/swap_horiz:", "analogy",
            "EC²-VAE: pitch of one melody with the rhythm of another, under chords you choose"),
    AppPage("pages/performance_style.py", "Performance style", ":material/piano:", "performance_style",
            "a piano score played in many styles by a VirtuosoNet-like CVAE: sampled, encoded "
            "from a performance, emotion presets; tempo and velocity curves against deadpan"),
    AppPage("pages/concept.py", "Concept", ":material/category:", "concept",
            "ExtRes: keep a melody's concept (rhythm, contour, …) and hear N variations of everything else; "
            "one melody's concept with another's residual"),
    AppPage("pages/style_transfer.py", "Style transfer", ":material/compare_arrows:", "style_transfer",
            "MIDI-VAE: a multi-track piece moved to another style (Bach ↔ Mozart, classic ↔ pop) by swapping "
            "the style dims of z; each voice heard on its instrument with its velocities"),
    AppPage("pages/compare.py", "Compare models", ":material/difference:", "compare",
            "one melody through two models at once: reconstructions, the same interpolation and attribute-vector "
            "shift with audio and measured figures, and both cards' headline figures"),
    AppPage("pages/model_report.py", "Model report", ":material/monitoring:", "model_report",
            "the loaded model's card: data, training, evaluation beside the paper's figures"),
)


def present_pages(root: Path) -> list[AppPage]:
    """The pages whose file exists under ``root`` (the app's folder), in menu order."""
    return [p for p in PAGES if (root / p.file).exists()]


def navigation(root: Path, home) -> list[st.Page]:
    """What ``st.navigation`` takes: Home (the function ``home``, the default page), then every
    page whose file exists under ``root``."""
    return [st.Page(home, title="Home", icon=":material/home:", default=True)] + [
        st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url) for p in present_pages(root)]


def pages_for(family: str) -> list[AppPage]:
    """The pages that apply to a model of ``family``, as its registry spec lists them, in menu
    order; KeyError (from the registry) for an unknown family."""
    from explorer.models.registry import spec_of

    ids = set(spec_of(family).pages)
    return [p for p in PAGES if p.url in ids]
