"""`gradsign report`: one self-contained HTML page from finished runs (parses and displays only)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gradsign.cli.common import err_console, report_fallback


def report(
    runs: Annotated[list[Path], typer.Argument(
        help="Output folders or files of `gradsign evaluate`, `gradsign score --format json`, `gradsign rank --format json`, `gradsign search` and `gradsign predictors evaluate`; "
             "any mix, in the order to show them.", metavar="RUN_DIR...", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write (*.html; not inside an input folder).")] = Path("report.html"),
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: the runs' kinds and count).")] = None,
) -> None:
    """Write one HTML page (figures and scripts inlined, no network) showing the given runs side by side."""
    from gradsign.reports import build_report

    command = shlex.join(["gradsign", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("gradsign") else None
    result = build_report(runs, output, title=title, command=command)
    for note in result.notes:
        err_console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    if result.fallback_problem is not None:
        report_fallback(result.fallback_problem, result.path)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(_count(result.runs).items()))
    err_console.print(f"wrote {result.path} ({result.bytes / 1e6:.2f} MB; {len(result.runs)} run{'s' if len(result.runs) != 1 else ''}: {kinds}; "
                      f"sections: {', '.join(result.sections)})", highlight=False, markup=False, soft_wrap=True)
    if result.without_provenance:
        err_console.print(f"{len(result.without_provenance)} run(s) predate provenance records (read as they are)",
                          highlight=False, markup=False)


def _count(runs: list[tuple[str, str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _, _ in runs:
        counts[kind] = counts.get(kind, 0) + 1
    return counts
