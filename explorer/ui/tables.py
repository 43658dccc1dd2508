"""Small tables as Markdown: cheap to send and to draw, for readouts that change on every move
(a ``st.dataframe`` costs an Arrow table on the server and a canvas data grid in the browser)."""
from __future__ import annotations

from numbers import Number

MISSING = "–"


def _cell(v) -> str:
    if v is None:
        return MISSING
    if isinstance(v, Number) and not isinstance(v, bool):
        return f"{v:g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: dict[str, list]) -> str:
    """A GitHub-style Markdown table of ``columns`` (name → values, all of one length); numbers
    right-aligned and written with ``:g``, None as "–", pipes escaped."""
    names = list(columns)
    rows = list(zip(*(columns[n] for n in names)))
    if any(len(columns[n]) != len(rows) for n in names):
        raise ValueError(f"columns of unequal length: { {n: len(columns[n]) for n in names} }")
    numeric = [all(isinstance(v, Number) or v is None for v in columns[n]) for n in names]
    head = "| " + " | ".join(_cell(n) for n in names) + " |"
    rule = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])
