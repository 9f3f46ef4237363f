"""`gradsign proxies`: every proxy with what it needs and which direction is better."""

from __future__ import annotations

from rich.table import Table

from gradsign.cli.common import console


def proxies() -> None:
    """List every zero-cost proxy (description, needs data / labels, direction) and the named ensembles."""
    from gradsign.proxies.api import describe_proxies

    table = Table(title="zero-cost proxies", title_justify="left")
    for col in ("name", "description", "data", "labels", "better"):
        table.add_column(col, overflow="fold")
    for row in describe_proxies():
        table.add_row(row["name"], row["description"], "yes" if row["needs_data"] else "no",
                      "yes" if row["needs_labels"] else "no", row["direction"])
    console.print(table)
    from gradsign.proxies.ensemble import NAMED_ENSEMBLES

    named = Table(title="named ensembles (any 'a+b' works too: sum of log(rank/N) over the candidates scored "
                        "together; meanrank(a+b): mean rank)", title_justify="left")
    for col in ("name", "members", "source"):
        named.add_column(col, overflow="fold")
    for name, (members, source) in NAMED_ENSEMBLES.items():
        named.add_row(name, members, source)
    console.print(named)
