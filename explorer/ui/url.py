"""The page's URL query parameters, written in one message and only when they change.

Every ``st.query_params[k] = v`` or ``del`` sends the browser a message, and the browser
rewrites the address (``history.pushState``) for each: ≈ 4 ms apiece, ten of them on every slider
move of the Attribute sliders page (docs/benchmarks.md).
"""
from __future__ import annotations

from typing import Callable

import streamlit as st


def write_query(values: dict[str, str], drop: Callable[[str], bool] = lambda k: False) -> bool:
    """Set the parameters ``values`` and remove the others for which ``drop(key)`` is true, in one
    message; nothing is sent when the URL would not change. Returns whether it changed."""
    qp = st.query_params
    now = qp.to_dict()
    new = {k: v for k, v in now.items() if k in values or not drop(k)} | values
    if new == now:
        return False
    qp.from_dict(new)
    return True
