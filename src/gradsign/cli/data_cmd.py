"""`gradsign data`: what data was found, where, and how to get what is missing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gradsign.cli.common import DataDirOption, console
from gradsign.data.paths import ENV_VAR, RESOURCES, locate, missing_members, resolve_data_dir, sha256_of


def data(
    data_dir: DataDirOption = None,
    verify: Annotated[bool, typer.Option("--verify", help="Also check sha256 checksums of the shared files.")] = False,
) -> None:
    """List the image sets and benchmark tables found, and how to obtain missing ones."""
    ddir = resolve_data_dir(data_dir)
    if ddir is None:
        console.print(
            f"[bold red]no data directory[/]: pass --data-dir, set ${ENV_VAR}, or place ../shared/data "
            "beside the repository. Expected files:"
        )
    else:
        console.print(f"data directory: [bold]{ddir}[/]")
    groups = {"images": "Image sets", "nb201": "NAS-Bench-201 tables",
              "reference": "Reference proxy scores", "official-benchmark": "Official benchmark files (optional)"}
    n_found = 0
    for group, title in groups.items():
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("resource")
        table.add_column("status")
        table.add_column("path / how to obtain", overflow="fold")
        for res in (r for r in RESOURCES if r.group == group):
            path = locate(res.key, ddir)
            if path is None:
                expected = (ddir / res.candidates[0]) if ddir else res.candidates[0]
                table.add_row(res.key, "[yellow]missing[/]",
                              f"{res.description}\nexpected: {expected}\nobtain: {res.how_to_obtain}")
                continue
            status = "[green]found[/]"
            if res.is_dir:
                missing = missing_members(res.key, path)
                if missing:
                    status = f"[red]incomplete[/] (missing {', '.join(missing)})"
            elif verify and res.sha256:
                status = "[green]found, checksum ok[/]" if sha256_of(path) == res.sha256 \
                    else "[red]found, CHECKSUM MISMATCH[/]"
            n_found += 1
            table.add_row(res.key, status, f"{res.description}\n{path}")
        console.print(table)
    console.print(f"{n_found} of {len(RESOURCES)} resources found.")
