"""Export and import of stored scores (``gradsign store export`` / ``import``): the logic, checked up front.

The CLI only displays what these return: how many rows an export wrote and, when a filter matched
nothing, which filter and what the store holds instead; what an import did with each file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from gradsign.errors import StoreError
from gradsign.storage import ImportSummary, ResultsStore


def store_filter(space: str | None = None, dataset: str | None = None, proxy: str | None = None) -> dict[str, str]:
    """Key-column filters for the store, with the names as the store writes them (``c10`` -> ``cifar10``,
    ``NB201`` -> ``nb201``). A name no registered space or known dataset has (a plug-in's space that is
    not loaded, say) is kept as given: the store may still hold it."""
    from gradsign.benchmarks.datasets import canonical_dataset
    from gradsign.errors import GradsignError
    from gradsign.spaces import get_space

    where: dict[str, str] = {}
    if space is not None:
        try:
            where["space"] = get_space(space).name
        except GradsignError:
            where["space"] = space
    if dataset is not None:
        try:
            where["dataset"] = canonical_dataset(dataset)
        except GradsignError:
            where["dataset"] = dataset
    if proxy is not None:
        where["proxy"] = proxy
    return where


def unmatched_filters(store: ResultsStore, where: dict[str, str], shown: int = 20) -> list[str]:
    """Why ``where`` matched no row: each filter value the store has no row with (and what it has
    instead), or, when every value exists, that they never occur together. Empty when ``where`` is."""
    if not where:
        return []
    reasons = []
    for column, value in where.items():
        stored = store.distinct_values(column)
        if value not in stored:
            listed = ", ".join(map(str, stored[:shown])) + (f", ... ({len(stored)} in all)" if len(stored) > shown else "")
            reasons.append(f"no stored row has {column} {value!r}; stored: {listed or 'nothing'}")
    if not reasons:
        together = ", ".join(f"{c} {v!r}" for c, v in where.items())
        reasons.append(f"each filter matches stored rows, but no row has {together} together")
    return reasons


def import_exports(store_path: Path, files: Sequence[Path],
                   on_file: Callable[[Path, ImportSummary], None] | None = None) -> list[ImportSummary]:
    """Import ``files`` (``gradsign store export`` CSVs) into the store at ``store_path``, in order.

    Every file is read and checked before any is imported, so a bad file (the third of five) is
    refused with the store as it was, not with the first two imported. A store this call created is
    removed again if nothing was imported (no empty store left behind). ``on_file`` hears about each
    file as it is done (a long import shows progress).
    """
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        raise StoreError(f"no such file: {', '.join(missing)}")
    path = Path(store_path)
    for f in files:  # a first pass checks every file; one file's rows are held at a time (all-cells exports are large)
        ResultsStore.read_export(f)
    created = not path.exists()
    target = ResultsStore(path)
    done: list[ImportSummary] = []
    try:
        for f in files:
            target.import_rows(ResultsStore.read_export(f))
            done.append(target.last_import)
            if on_file is not None:
                on_file(Path(f), target.last_import)
    except BaseException:
        if created and target.count() == 0:
            target.close()
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    target.close()
    return done
