"""`gradsign search`: simulated NAS on NB201, with and without a proxy (parses and displays :func:`gradsign.workflows.search.search`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradsign.cli.common import (DataDirOption, DeviceOption, ThreadsOption, console, err_console,
                                 set_interrupt_note, report_fallback)
from gradsign.cli.scoring_cmds import (AddressOption, BackendOption, BatchOption, EngineOption, NoStoreOption,
                                       ProgressOption, ProxyOptionOption, StoreOption, WorkersOption, _backend,
                                       _setup, _store)


def search(
    space: Annotated[str, typer.Option("--space", help="Search space (nb201).")] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    algo: Annotated[str, typer.Option("--algo", help="rs (random), rea, reinforce, bohb, or predictor (predictor-guided, BANANAS-style).")] = "rea",
    predictor: Annotated[Optional[str], typer.Option("--predictor", help="For --algo predictor: the predictor (see `gradsign predictors list`; default forest).")] = None,
    zc_source: Annotated[str, typer.Option("--zc-source", help="For --algo predictor: zero-cost features for every cell (auto, nb201-table, store, naslib, none; join with '+'; every cell must have them).")] = "nb201-table",
    zc_seconds: Annotated[Optional[float], typer.Option("--zc-seconds", help="For --algo predictor: seconds charged per cell's zero-cost features when the source records none.")] = None,
    proxy: Annotated[Optional[str], typer.Option("--proxy", help="Zero-cost proxy assisting the search.")] = None,
    candidates: Annotated[int, typer.Option("--candidates", help="K proposals per step; the best by the proxy is kept.")] = 10,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Simulated seconds ('12000s') or trained archs ('100evals'); default: the benchmark's.")] = None,
    runs: Annotated[int, typer.Option("--runs", help="Independent searches.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the runs (run r uses (seed, r)) and of proxy scoring.")] = 0,
    warmup_pool: Annotated[int, typer.Option("--warmup-pool", help="Warm-up variant: rank this many random cells by the proxy first.")] = 0,
    precompute: Annotated[bool, typer.Option("--precompute", help="Score all cells with the proxy before searching.")] = False,
    backend: BackendOption = "inprocess",
    workers: WorkersOption = None,
    address: AddressOption = None,
    batch_size: BatchOption = 64,
    engine: EngineOption = "auto",
    store: StoreOption = None,
    no_store: NoStoreOption = False,
    output: Annotated[Optional[Path], typer.Option("--output", help="Directory for runs, summary.json and trajectory.png.")] = None,
    data_dir: DataDirOption = None,
    progress: ProgressOption = True,
    threads: ThreadsOption = None,
    device: DeviceOption = "cpu",
    option: ProxyOptionOption = None,
) -> None:
    """Run R simulated searches (proxy time charged, and not) and report final test accuracy."""
    from gradsign.errors import ConfigError
    from gradsign.search import format_table, format_transfer_table
    from gradsign.workflows.search import search as run_search

    if option and not proxy:
        raise ConfigError("--option sets a proxy's option: give --proxy")
    setup = _setup(space, dataset, proxy, batch_size, seed, "random", data_dir, engine,
                   threads=threads, device=device, option=option) if proxy else None
    proxy_store = _store(store, no_store) if proxy else None
    if proxy_store is not None:
        set_interrupt_note(f"the proxy scores computed so far are kept in the store {proxy_store.path} (a rerun "
                           "reuses them); the searches themselves are not saved and rerun from the start")
    else:
        set_interrupt_note("nothing is kept: the searches are not saved" +
                           (" and --no-store keeps no proxy scores" if proxy else ""))
    report = run_search(
        algo, space=space, dataset=dataset, proxy=proxy, candidates=candidates, budget=budget, runs=runs, seed=seed,
        setup=setup, store=proxy_store, output=output, warmup_pool=warmup_pool,
        precompute=precompute, progress=progress, data_dir=data_dir,
        predictor=predictor, zc_source=zc_source, zc_seconds=zc_seconds, store_path=store, batch_size=batch_size,
        backend=_backend(backend, workers, address),
    )
    console.print(format_table(report.summary["settings"]), highlight=False, markup=False)
    transfer = format_transfer_table(report.summary["settings"])
    if transfer:
        console.print("\nthe picked cells on every dataset (200-epoch test accuracy; the papers search on "
                      "CIFAR-10 and report these three columns):", highlight=False)
        console.print(transfer, highlight=False, markup=False)
    for note in report.summary["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)
    if proxy:
        s = report.summary
        console.print(f"proxy cells: {s['proxy_cells_from_store']} from the store, "
                      f"{s['proxy_cells_scored_this_invocation']} scored now, "
                      f"{s['proxy_nonfinite_cells_seen']} non-finite (ranked last)", highlight=False)
    fallback = report.summary.get("output_fallback")
    if fallback:
        report_fallback(fallback["problem"], fallback["written_to"])
    for f in report.files:
        err_console.print(f"wrote {f}", highlight=False)
