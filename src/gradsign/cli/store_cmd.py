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
        "SELECT space, dataset, proxy, proxy_version, options, batch_size, seed, init, status, COUNT(*), AVG(seconds) "
        "FROM scores GROUP BY space, dataset, proxy, proxy_version, options, batch_size, seed, init, status "
        "ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
    ).fetchall()
    t = Table(title=f"results store {s.path}", title_justify="left")
    # "init" shows the numerics tag too (pytorch-default@cpu-threads2, @cuda): rows computed
    # with other thread counts or devices are other scores, counted apart; so are other proxy
    # versions and --option values ("-": the defaults).
    for col in ("space", "dataset", "proxy", "version", "options", "batch", "seed", "init", "status", "cells",
                "mean s/cell"):
        t.add_column(col)
    for r in rows:
        cells = [str(v) for v in r[:10]]
        cells[4] = "-" if r[4] in ("{}", "", None) else cells[4]
        t.add_row(*cells, f"{r[10]:.3f}" if r[10] is not None else "-")
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
    from gradsign.workflows.store_exchange import store_filter, unmatched_filters

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
    if n == 0:  # most often a typo: say which filter matched nothing and what is stored
        for reason in unmatched_filters(s, where):
            err_console.print(reason, highlight=False)


@store_app.command("import")
def import_(
    csv_files: Annotated[list[Path], typer.Argument(
        help="CSVs (or .csv.gz) written by `gradsign store export`, imported in this order.")],
    store: StoreOption = None,
) -> None:
    """Add the scores of exported CSVs to the store (scores already there, or from an earlier file, are kept and
    any disagreement counted; a stored failure is replaced by the file's score)."""
    from gradsign.workflows.scoring import default_store_path
    from gradsign.workflows.store_exchange import import_exports

    import_exports(store if store is not None else default_store_path(), csv_files, on_file=_show_import)


def _show_import(csv_file: Path, done) -> None:
    extra = []
    if done.replaced_failures:
        extra.append(f"{done.replaced_failures} stored failures replaced by its scores")
    if done.already_stored:
        extra.append(f"{done.already_stored} already stored, kept"
                     + (f" ({done.disagreeing} of them with another value in the file)" if done.disagreeing else ""))
    err_console.print(f"added {done.added} rows from {csv_file}" + (f"; {'; '.join(extra)}" if extra else ""),
                      highlight=False)
    if done.disagreeing:
        err_console.print(f"[yellow]warning[/]: {csv_file} gives {done.disagreeing} stored scores another value "
                          "under the same key; the store's were kept (compare them with "
                          "scripts/compare_score_exports.py)", highlight=False)
    if done.disagreeing_in_file:
        err_console.print(f"[yellow]warning[/]: {csv_file} gives {done.disagreeing_in_file} key(s) two different "
                          "scores; the first of each was imported", highlight=False)
