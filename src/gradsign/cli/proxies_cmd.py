"""`gradsign proxies`: every proxy with what it needs and which direction is better."""

from __future__ import annotations

from rich.table import Table

from gradsign.cli.common import console


def proxies() -> None:
    """List every zero-cost proxy: description, whether it needs data / labels, direction."""
    from gradsign.proxies.api import describe_proxies

    table = Table(title="zero-cost proxies", title_justify="left")
    for col in ("name", "description", "data", "labels", "better"):
        table.add_column(col, overflow="fold")
    for row in describe_proxies():
        table.add_row(row["name"], row["description"], "yes" if row["needs_data"] else "no",
                      "yes" if row["needs_labels"] else "no", row["direction"])
    console.print(table)
