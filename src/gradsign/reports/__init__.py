"""Reports: provenance of every output, and the self-contained HTML report of finished runs.

``provenance`` is imported by the workflows (it records what produced a summary);
``build_report`` reads output folders (evaluate, score, rank, search, predictors)
and writes one HTML page. Served lazily so that importing the package for
provenance does not load matplotlib or Jinja2.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "build_report": "gradsign.reports.build",
    "ReportResult": "gradsign.reports.build",
    "load_run": "gradsign.reports.loaders",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradsign.reports' has no attribute {name!r}")
