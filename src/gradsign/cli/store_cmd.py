"""`gradsign store`: inspect, export and import the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import console, err_console
from gradsign.cli.scoring_cmds import StoreOption

store_app = typer.Typer(help="Inspect, export and import the results store.", no_args_is_help=True)


def _open(store: Path | None, *, read_only: bool):
    """The store (default location unless --store); ``read_only`` for commands that only read it,
    which then never create folders or an empty database for a mistyped path."""
    from gradsign.errors import StoreError
    from gradsign.storage import ResultsStore
    from gradsign.workflows.scoring import default_store_path

    if store is None and read_only and not default_store_path().exists():
        import os

        where = ("$GRADSIGN_STORE" if os.environ.get("GRADSIGN_STORE") else "the default location")
        raise StoreError(f"no results store at {where} {default_store_path()} (nothing stored yet? "
                         "pass --store FILE" + ("" if os.environ.get("GRADSIGN_STORE") else " or set $GRADSIGN_STORE")
                         + ")")
    return ResultsStore(store if store is not None else default_store_path(), read_only=read_only)


@store_app.command("info")
def info(store: StoreOption = None) -> None:
    """Counts of stored scores per space, dataset, proxy and status."""
    s = _open(store, read_only=True)
    rows = s._conn.execute(
        "SELECT space, dataset, proxy, batch_size, seed, init, status, COUNT(*), AVG(seconds) FROM scores "
        "GROUP BY space, dataset, proxy, batch_size, seed, init, status ORDER BY 1, 2, 3, 4, 5, 6, 7"
    ).fetchall()
    t = Table(title=f"results store {s.path}", title_justify="left")
    # "init" shows the numerics tag too (pytorch-default@cpu-threads2, @cuda): rows computed
    # with other thread counts or devices are other scores, counted apart.
    for col in ("space", "dataset", "proxy", "batch", "seed", "init", "status", "cells", "mean s/cell"):
        t.add_column(col)
    for r in rows:
        t.add_row(*[str(v) for v in r[:8]], f"{r[8]:.3f}" if r[8] is not None else "-")
    console.print(t)


@store_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", help="CSV file to write (gzip-compressed if it ends in .gz).")],
    store: StoreOption = None,
    space: Annotated[Optional[str], typer.Option("--space", help="Only this search space (e.g. nb201).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only this dataset (e.g. cifar10).")] = None,
    proxy: Annotated[Optional[str], typer.Option("--proxy", help="Only this proxy (e.g. gradsign).")] = None,
) -> None:
    """Write stored scores (optionally filtered) to a portable CSV."""
    from gradsign.errors import ConfigError
    from gradsign.outputs import check_output_file
    from gradsign.workflows.scoring import store_filter

    where = store_filter(space, dataset, proxy)  # aliases (c10, NB201) as the store writes the names

    s = _open(store, read_only=True)  # before creating anything for the output
    check_output_file(output)  # a read-only folder or a file as parent: one line, nothing written
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        n = s.export_csv(output, where)
    except OSError as exc:  # the store is untouched: the export can simply be rerun elsewhere
        raise ConfigError(f"--output {output}: {exc.strerror or exc}; the store is unchanged, export again "
                          "to another path") from None
    err_console.print(f"wrote {n} rows to {output}", highlight=False)
    if n == 0 and where:  # most often a typo: say which filter matched nothing and what is stored
        named = False
        for column, value in where.items():
            stored = s.distinct_values(column)
            if value not in stored:
                named = True
                shown = ", ".join(map(str, stored[:20])) + (f", ... ({len(stored)} in all)" if len(stored) > 20 else "")
                err_console.print(f"no stored row has {column} {value!r}; stored: {shown or 'nothing'}",
                                  highlight=False)
        if not named:
            together = ", ".join(f"{c} {v!r}" for c, v in where.items())
            err_console.print(f"each filter matches stored rows, but no row has {together} together", highlight=False)


@store_app.command("import")
def import_(
    csv_files: Annotated[list[Path], typer.Argument(
        help="CSVs (or .csv.gz) written by `gradsign store export`, imported in this order.")],
    store: StoreOption = None,
) -> None:
    """Add the scores of exported CSVs to the store (scores already there, or from an earlier file, are kept and
    any disagreement counted; a stored failure is replaced by the file's score)."""
    from gradsign.errors import StoreError

    # Check every file before importing any, so a typo in the last name does not leave a half import.
    missing = [str(f) for f in csv_files if not f.is_file()]
    if missing:
        raise StoreError(f"no such file: {', '.join(missing)}")
    from gradsign.workflows.scoring import default_store_path

    path = store if store is not None else default_store_path()
    created = not path.exists()
    target = _open(store, read_only=False)
    try:
        _import_all(target, csv_files)
    except BaseException:
        # A file refused before anything was imported leaves no empty store behind that was not there before.
        if created and target.count() == 0:
            target.close()
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise


def _import_all(target, csv_files: list[Path]) -> None:
    for csv_file in csv_files:
        n = target.import_csv(csv_file)
        done = target.last_import
        extra = []
        if done.replaced_failures:
            extra.append(f"{done.replaced_failures} stored failures replaced by its scores")
        if done.already_stored:
            extra.append(f"{done.already_stored} already stored, kept"
                         + (f" ({done.disagreeing} of them with another value in the file)" if done.disagreeing else ""))
        err_console.print(f"added {n} rows from {csv_file}" + (f"; {'; '.join(extra)}" if extra else ""),
                          highlight=False)
        if done.disagreeing:
            err_console.print(f"[yellow]warning[/]: {csv_file} gives {done.disagreeing} stored scores another value "
                              "under the same key; the store's were kept (compare them with "
                              "scripts/compare_score_exports.py)", highlight=False)
