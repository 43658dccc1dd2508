"""What a click on a plotly chart hands back (``st.plotly_chart(on_select=…)``)."""
from __future__ import annotations

import numbers


def first_customdata(point: dict) -> float | None:
    """The first ``customdata`` value of a clicked point, in any form Streamlit delivers it: a
    list, a dict keyed ``"0"``, ``"1"``, … (how a one-column array arrives from the browser), or
    a bare number; None when the point has no numeric customdata (e.g. a marker without any)."""
    cd = point.get("customdata") if isinstance(point, dict) else None
    if isinstance(cd, dict):
        cd = cd.get("0", cd.get(0))
    elif isinstance(cd, (list, tuple)):
        cd = cd[0] if cd else None
    if isinstance(cd, bool) or not isinstance(cd, numbers.Real):
        return None
    return float(cd)


def clicked_rows(event_state) -> list[int]:
    """The integer rows (first customdata) of the points selected in a chart's session-state
    value ``{"selection": {"points": [...]}}``, in order; [] for no selection."""
    try:
        points = event_state["selection"]["points"]
    except (KeyError, TypeError):
        return []
    values = [first_customdata(p) for p in points]
    return [int(v) for v in values if v is not None]
