"""Marks on a chart already in the browser, and a "Working…" badge while a rerun runs.

A fragment that reruns on a click (the Latent map's selection) draws :func:`chart_marks`: in
the browser it moves the named marker traces of the chart drawn with key ``chart`` (the rings of
the selected point and its neighbours) with ``Plotly.restyle``, so the chart itself, with its
10k points, is not sent again. ``watch`` names elements (a plotly chart, a slider) whose input
starts a rerun: from that input until this element is drawn again, a badge says the page is
working (the toolbar's own running indicator is hidden: ``toolbarMode = "minimal"``).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st
from plotly.utils import PlotlyJSONEncoder

_JS = Path(__file__).parent / "components" / "map_marks.js"
BUSY_ID = "explorer-busy"  # the badge's element id in the page


@functools.cache
def _component():
    """Registered on first use (not at import)."""
    return st.components.v2.component("explorer_map_marks", js=_JS.read_text(encoding="utf-8"),
                                      isolate_styles=False)


def chart_marks(*, key: str, chart: str = "", traces: dict | None = None, watch: tuple[str, ...] = (),
                label: str = "Working…"):
    """Set the traces of the chart keyed ``chart``: ``traces`` maps a trace's name to the trace (a
    plotly trace's JSON: its x and y replace those of the chart's trace of that name, which is
    added when missing); show ``label`` from an input on an element keyed in ``watch`` until this is drawn again."""
    runs = st.session_state.get(f"{key}_runs", 0) + 1  # new data each run: the browser side runs again
    st.session_state[f"{key}_runs"] = runs
    data = json.dumps({"chart": chart, "traces": traces or {}, "watch": list(watch), "label": label, "run": runs},
                      cls=PlotlyJSONEncoder)
    _component()(data=data, key=key, height="content")
