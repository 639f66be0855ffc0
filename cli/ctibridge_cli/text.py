"""How the CLI prints for people (``--json`` prints the data itself): aligned tables and key/value lists."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """``rows`` as columns under upper-case headers (``columns``: which and in what order; default, the
    first row's keys); ``(none)`` for no rows."""
    if not rows:
        return "(none)"
    names = list(columns or rows[0])
    cells = [[_cell(row.get(c)) for c in names] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(names)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(names, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def pairs(data: Mapping[str, Any]) -> str:
    """One ``key  value`` line per item, keys aligned; lists and objects as JSON."""
    width = max((len(k) for k in data), default=0)
    return "\n".join(
        f"{k.ljust(width)}  {json.dumps(v) if isinstance(v, list | dict) else _cell(v)}"
        for k, v in data.items()
    )
