"""How the report shows numbers: table cells (shown text + sort key), intervals, seconds, recorded values."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np


def number(v: Any) -> float | None:
    """``v`` as a finite float, or None (missing, not a number, NaN or infinite)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell(value: Any, digits: int = 3, *, text: str | None = None, sub: str | None = None) -> dict[str, Any]:
    """A table cell: what is shown (``sub``: a second, smaller line), and the number the column sorts by
    (None: blank, sorted last)."""
    v = number(value)
    if text is None:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            text = "–" if value is None else str(value)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            text = f"{int(value):,}"
        elif v is not None:
            text = f"{v:.{digits}f}" if abs(v) < 1e5 or v == 0 else f"{v:.3g}"
        else:
            text = str(value)
    return {"text": text, "sort": v, "sub": sub}


def text_cell(value: Any) -> dict[str, Any]:
    return {"text": "" if value is None else str(value), "sort": None, "sub": None}


def ci_text(value: Any, ci: Sequence[Any] | None, digits: int = 3) -> str:
    v = number(value)
    if v is None:
        return "–"
    lo, hi = (number(ci[0]), number(ci[1])) if ci is not None and len(ci) == 2 else (None, None)
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def seconds_text(v: Any) -> str | None:
    f = number(v)
    if f is None:
        return None
    return f"{f:.3f}" if f < 1 else f"{f:.2f}" if f < 100 else f"{f:,.0f}"




def shown(value: Any) -> str:
    """A recorded value as a person reads it: yes / no, lists comma-separated, numbers as they are."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    return str(value)
