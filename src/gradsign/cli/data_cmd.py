"""`gradsign data`: what data was found, where, and how to get what is missing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gradsign.cli.common import DataDirOption, console, err_console
from gradsign.data.paths import (ENV_VAR, RESOURCES, locate, missing_members, quick_problem, resolve_data_dir,
                                 sha256_of)


def data(
    data_dir: DataDirOption = None,
    verify: Annotated[bool, typer.Option("--verify", help="Also check sha256 checksums of the shared files; exit "
                                         "status 1 if a found file is damaged, incomplete or has another checksum.")] = False,
) -> None:
    """List the image sets and benchmark tables found, and how to obtain missing ones.

    Found files get cheap checks (sizes, first and last bytes, zip records) and are listed
    "damaged" when those fail; --verify adds checksums and makes any failure the exit status.
    """
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
    failures: list[str] = []
    # Multi-line cells on a terminal; one line per resource in a file or pipe, so rows parse.
    nl = "\n" if console.is_terminal else "; "
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
                              escape(f"{res.description}{nl}expected: {expected}{nl}obtain: {res.how_to_obtain}"))
                continue
            status = "[green]found[/]"
            missing = missing_members(res.key, path) if res.is_dir else []
            problem = quick_problem(res.key, path)
            if missing:
                status = f"[red]incomplete[/] (missing {', '.join(missing)})"
                failures.append(f"{res.key} incomplete")
            if problem is not None:
                status = (status + "; " if missing else "") + f"[red]damaged[/]: {escape(problem)}"
                failures.append(f"{res.key} damaged")
            elif verify and res.sha256 and not missing:
                if sha256_of(path) == res.sha256:
                    status = "[green]found, checksum ok[/]"
                else:
                    status = "[red]found, CHECKSUM MISMATCH[/]"
                    failures.append(f"{res.key} checksum mismatch")
            n_found += 1
            table.add_row(res.key, status, escape(f"{res.description}{nl}{path}"))
        console.print(table)
    bad = f" ({len(failures)} of them damaged, incomplete or with another checksum)" if failures else ""
    console.print(f"{n_found} of {len(RESOURCES)} resources found{bad}.")
    if verify and failures:
        err_console.print(f"verification failed: {', '.join(failures)}", highlight=False, markup=False,
                          soft_wrap=True)
        raise typer.Exit(1)
