"""Marks over a chart already in the browser, and a "Working…" badge while a rerun runs.

A fragment that reruns on a click (the Latent map's selection) or a slider move draws
:func:`chart_marks`: in the browser it draws the given traces' points (the rings of the selected
point and its neighbours; a line where a slider stands on its curve) as a small SVG overlay on
the chart drawn with key ``chart``, placed by the chart's own axes and drawn again after every
redraw of it, so the chart itself (10k points on the map) is neither sent nor redrawn. ``watch``
names elements (a plotly chart, a slider) whose input starts a rerun: from that input until this
element is drawn again, a badge says the page is working (the toolbar's own running indicator is
hidden: ``toolbarMode = "minimal"``).
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
    """Draw ``traces`` over the chart keyed ``chart``: a name → a plotly trace's JSON (its x, y,
    mode — "markers" are drawn as open rings of ``marker.size`` and ``marker.color``, "lines" as a
    line of ``line.color``/``width``/``dash`` — replacing what that name drew before); show
    ``label`` from an input on an element keyed in ``watch`` until this is drawn again."""
    runs = st.session_state.get(f"{key}_runs", 0) + 1  # new data each run: the browser side runs again
    st.session_state[f"{key}_runs"] = runs
    data = json.dumps({"chart": chart, "traces": traces or {}, "watch": list(watch), "label": label, "run": runs},
                      cls=PlotlyJSONEncoder)
    _component()(data=data, key=key, height="content")
