"""`gradsign search`: NAS with and without a proxy, simulated on a benchmark or training for real with your function.

Parses and displays :func:`gradsign.workflows.search.search`.
"""

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
    space: Annotated[str, typer.Option("--space", help="Search space: a benchmark (nb201, nb201_small) or, with "
                                       "--objective, any registered space (yours: registered by the --objective file, "
                                       "or by a plug-in: `gradsign --plugin my_space.py search --objective train.py:train`)."
                                       )] = "nb201",
    # (never "FILE.py:train:" in a help text: rich renders ":train:" as an emoji)
    objective: Annotated[Optional[str], typer.Option("--objective", help="Your training function FILE.py:train, "
                         "where train(arch) -> accuracy to maximise (a validation accuracy); its measured seconds are "
                         "charged to --budget (needed). Without it the benchmark's table is the objective.",
                         show_default=False)] = None,
    test: Annotated[Optional[str], typer.Option("--test", help="With --objective: FILE.py:test, test(arch) -> "
                    "accuracy reported for each run's pick (default: the observed accuracy).",
                    show_default=False)] = None,
    journal: Annotated[Optional[Path], typer.Option("--journal", help="SQLite file recording every training and "
                       "measured proxy score: the same command rerun after a kill resumes without retraining.",
                       show_default=False)] = None,
    proxy_batch: Annotated[str, typer.Option("--proxy-batch", help="With --objective and --proxy: the minibatch "
                           "the proxy scores space.build_network(arch) on: 'dataset' (--batch-size training images "
                           "of --dataset, drawn by --seed) or FILE.py:batch, a function returning (inputs, "
                           "targets).")] = "dataset",
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", help="With --objective and --proxy: the "
                           "classes of the networks scored (default with --proxy-batch dataset: the dataset's).",
                           show_default=False)] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    algo: Annotated[str, typer.Option("--algo", help="rs (random), rea, reinforce, bohb, or predictor (predictor-guided, BANANAS-style).")] = "rea",
    predictor: Annotated[Optional[str], typer.Option("--predictor", help="For --algo predictor: the predictor (see `gradsign predictors list`; default forest).")] = None,
    zc_source: Annotated[str, typer.Option("--zc-source", help="For --algo predictor: zero-cost features for every cell (auto, nb201-table, store, naslib, none; join with '+'; every cell must have them).")] = "nb201-table",
    zc_seconds: Annotated[Optional[float], typer.Option("--zc-seconds", help="For --algo predictor: seconds charged per cell's zero-cost features when the source records none.")] = None,
    proxy: Annotated[Optional[str], typer.Option("--proxy", help="Zero-cost proxy assisting the search.")] = None,
    candidates: Annotated[int, typer.Option("--candidates", help="K proposals per step; the best by the proxy is kept.")] = 10,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Seconds ('12000s': simulated on a benchmark, measured with --objective) or trained archs ('100evals'); default: the benchmark's.")] = None,
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
    """Run R seeded searches, plain and proxy-assisted, and report the final accuracy of each run's pick.

    On a benchmark the trainings are table lookups (proxy time charged, and not). With
    --objective FILE.py:train every candidate is trained by your function and its measured
    seconds (and the proxy's) are charged to --budget; --journal makes a killed search resumable.
    """
    from gradsign.errors import ConfigError
    from gradsign.search import format_table, format_transfer_table
    from gradsign.workflows.search import search as run_search

    if option and not proxy:
        raise ConfigError("--option sets a proxy's option: give --proxy")
    if objective is not None and option:
        raise ConfigError("--option applies to benchmark proxy scoring, not to --objective searches")
    benchmark_proxy = bool(proxy) and objective is None  # scored through the results store
    setup = _setup(space, dataset, proxy, batch_size, seed, "random", data_dir, engine,
                   threads=threads, device=device, option=option) if benchmark_proxy else None
    proxy_store = _store(store, no_store) if benchmark_proxy else None
    if journal is not None:
        set_interrupt_note(f"every finished training is in the journal {journal}: rerun the same command to resume "
                           "without retraining")
    elif objective is not None:
        set_interrupt_note("nothing is kept (give --journal to make a search resumable)")
    elif proxy_store is not None:
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
        backend=_backend(backend, workers, address), objective=objective, test=test, journal=journal,
        proxy_batch=proxy_batch if objective is not None else None, num_classes=num_classes,
    )
    console.print(format_table(report.summary["settings"]), highlight=False, markup=False)
    transfer = format_transfer_table(report.summary["settings"])
    if transfer:
        console.print("\nthe picked cells on every dataset (200-epoch test accuracy; the papers search on "
                      "CIFAR-10 and report these three columns):", highlight=False)
        console.print(transfer, highlight=False, markup=False)
    for note in report.summary["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)
    for label, notes in report.summary.get("setting_notes", {}).items():
        for note in notes:
            console.print(f"note ({label}): {note}", highlight=False, markup=False)
    s = report.summary
    if "proxy_cells_from_store" in s:
        console.print(f"proxy cells: {s['proxy_cells_from_store']} read from the store (every cell it holds for "
                      "the proxy, used or not), "
                      f"{s['proxy_cells_scored_this_invocation']} scored now, "
                      f"{s['proxy_nonfinite_cells_seen']} non-finite (ranked last)", highlight=False)
    elif s.get("proxy_nonfinite_cells_seen"):
        console.print(f"proxy cells: {s['proxy_nonfinite_cells_seen']} non-finite (ranked last)", highlight=False)
    if "journal" in s:
        j = s["journal"]
        console.print(f"journal {j['path']}: {j['trainings_done']} trainings done, {j['trainings_from_journal']} "
                      "taken from the journal", highlight=False)
    if s.get("removed_earlier_files"):
        err_console.print(f"note: --output held an earlier search's settings, removed so that the folder is this "
                          f"search's alone: {', '.join(s['removed_earlier_files'])}", highlight=False, markup=False)
    fallback = report.summary.get("output_fallback")
    if fallback:
        report_fallback(fallback["problem"], fallback["written_to"])
    for f in report.files:
        err_console.print(f"wrote {f}", highlight=False)
