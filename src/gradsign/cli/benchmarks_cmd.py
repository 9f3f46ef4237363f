"""`gradsign benchmarks`: every registered benchmark, its space and datasets, what its data supports."""

from __future__ import annotations

from rich.table import Table

from gradsign.cli.common import console


def benchmarks() -> None:
    """List the benchmarks (built-in and plug-in): space, datasets, low-fidelity / reference scores / search."""
    from gradsign.benchmarks.registry import describe_benchmarks

    table = Table(title="benchmarks", title_justify="left")
    for col in ("name", "space", "datasets", "low-fidelity", "zero-cost sources", "search", "description"):
        table.add_column(col, overflow="fold")
    for row in describe_benchmarks():
        table.add_row(row["name"], row["space"], ", ".join(row["datasets"]),
                      "yes" if "lowfidelity" in row["provides"] else "no",
                      ", ".join(row["zerocost_sources"]) or "-",
                      "yes" if "objective" in row["provides"] else "no", row["description"])
    console.print(table)
    for row in describe_benchmarks():
        for message in row["lacking"]:
            console.print(message, highlight=False, markup=False, emoji=False)
