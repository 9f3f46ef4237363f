"""`gradsign score` and `gradsign evaluate`."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import (DataDirOption, DeviceOption, ThreadsOption, console, err_console,
                                 set_interrupt_note, store_interrupt_note, report_fallback)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[Optional[OutputFormat], typer.Option(
    "--format", help="Output format (default: from the --output file's extension, .csv or .json, else table).",
    show_default=False)]


def output_format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    """``--format`` as given, else the one ``--output``'s extension names (``x.csv`` gets CSV, not a table)."""
    if output is not None and output.suffix.lower() == ".gz":
        from gradsign.errors import ConfigError

        raise ConfigError(f"--output {output}: this command writes plain text; name the file without .gz "
                          "(and compress it afterwards if you like)")
    ext = output.suffix.lower() if output is not None else ""
    named = {".csv": OutputFormat.csv, ".json": OutputFormat.json}.get(ext)
    if fmt is not None and named is not None and fmt is not named:
        from gradsign.errors import ConfigError

        raise ConfigError(f"--format {fmt.value} but --output {output} is named {ext}: give one of the two")
    if fmt is None and named is None and ext not in ("", ".txt", ".md", ".log", ".out"):
        from gradsign.errors import ConfigError

        # e.g. x.xlsx or x.tsv: a plain-text table under that name would be a surprise, found only later
        raise ConfigError(f"--output {output}: name it .csv, .json or .txt (the plain-text table), "
                          "or say which with --format")
    return fmt if fmt is not None else (named or OutputFormat.table)


SpaceOption = Annotated[str, typer.Option("--space", help="Search space: nb201 (NAS-Bench-201), nb101 (NAS-Bench-101) or darts (DARTS / NAS-Bench-301).")]
DatasetOption = Annotated[str, typer.Option("--dataset", help="cifar10, cifar100 or ImageNet16-120.")]
ProxiesOption = Annotated[str, typer.Option("--proxies", help="Comma-separated proxy names, or 'all' (see `gradsign proxies`).")]
BatchOption = Annotated[int, typer.Option("--batch-size", help="Minibatch size for data-dependent proxies.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the minibatch, the network initialization and the arch sample.")]
SamplingOption = Annotated[str, typer.Option("--sampling", help="Minibatch sampling: random, or grasp (k images per class).")]
StoreOption = Annotated[
    Optional[Path],
    typer.Option("--store", help="SQLite results store (default: $GRADSIGN_STORE or the user data dir)."),
]
NoStoreOption = Annotated[bool, typer.Option("--no-store", help="Compute everything; read and write no store.")]
RetryFailedOption = Annotated[bool, typer.Option(
    "--retry-failed", help="Retry every cell the store holds as failed (by default a failed cell is retried until "
    "it has failed twice, then reported as failed).")]
ProxyOptionOption = Annotated[Optional[list[str]], typer.Option(
    "--option", help="A proxy's option, PROXY.KEY=VALUE (repeatable), e.g. fisher.broadcast=false, "
    "gradsign.chunk_size=16; the value must fit the option's type (true/false, a number); part of the store key.",
    show_default=False)]
EngineOption = Annotated[str, typer.Option("--engine", help="GradSign engine: auto, fast, func or reference.")]
ProgressOption = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar with ETA.")]
BackendOption = Annotated[str, typer.Option("--backend", help="Where cells are scored: inprocess, process (a local pool) or ray.")]
WorkersOption = Annotated[Optional[int], typer.Option("--workers", help="Worker processes for --backend process/ray (default: CPU count).")]
AddressOption = Annotated[Optional[str], typer.Option("--address", help="Ray cluster address (auto or HOST:PORT); default: a local Ray.")]


def _backend(backend: str, workers: int | None, address: str | None = None):
    from gradsign.workflows.scoring import scoring_backend

    return scoring_backend(backend, workers, address)


def _setup(space, dataset, proxies, batch_size, seed, sampling, data_dir, engine, *, threads=None, device="cpu",
           option=None):
    from gradsign.workflows.scoring import scoring_setup

    return scoring_setup(space, dataset, proxies, batch_size=batch_size, seed=seed, sampling=sampling,
                         options=option, engine=engine, data_dir=data_dir, threads=threads, device=device)


def _store(store: Path | None, no_store: bool, read_only: bool = False):
    from gradsign.storage import ResultsStore
    from gradsign.workflows.scoring import default_store_path

    if no_store:
        return None
    return ResultsStore(store if store is not None else default_store_path(), read_only=read_only)


def _write_output(output: Path, text: str) -> None:
    """Write a command's result file; if that fails at the end, to a fallback file the message names."""
    from gradsign.outputs import write_text_safely

    where, problem = write_text_safely(output, text)
    if problem is None:
        err_console.print(f"wrote {where}", highlight=False, markup=False)
    else:
        report_fallback(problem, where)


def report_failures(failed: dict[str, int], examples: dict[str, str], n_cells: int, stored: bool,
                    exit_now: bool = True) -> list[str]:
    """Print each proxy's failed cells with one of its errors; the proxies that failed on every cell.

    Those make the command exit with status 1 (after its output is written: the other proxies'
    scores are kept), so that a script can tell a run that computed nothing for a proxy.
    """
    if not failed:
        return []
    parts = [f"{name} {n} of {n_cells}" + (f" ({examples[name]})" if examples.get(name) else "")
             for name, n in failed.items()]
    err_console.print(f"failed cells: {'; '.join(parts)} [{failed_cells_remedy(stored)}]",
                      highlight=False, markup=False, emoji=False, soft_wrap=True)
    every = [name for name, n in failed.items() if n >= n_cells > 0]
    if every:
        err_console.print(f"error: {', '.join(every)} failed on every cell", highlight=False, markup=False,
                          emoji=False)
        if exit_now:
            raise typer.Exit(1)
    return every


def failed_cells_remedy(stored: bool) -> str:
    """What a rerun does about failed cells, truly (see ``DEFAULT_MAX_ATTEMPTS``)."""
    from gradsign.workflows.scoring import DEFAULT_MAX_ATTEMPTS

    if not stored:
        return "no store: a rerun tries them again"
    return (f"recorded in the store with their errors: a rerun retries a cell until it has failed "
            f"{DEFAULT_MAX_ATTEMPTS} times, --retry-failed retries every one")


def _fmt(v: float) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.6g}"


def score(
    space: SpaceOption = "nb201",
    dataset: DatasetOption = "cifar10",
    arch: Annotated[Optional[list[str]], typer.Option("--arch", help="Arch string (repeatable).")] = None,
    index: Annotated[Optional[list[int]], typer.Option("--index", help="Benchmark index (repeatable).")] = None,
    archs_file: Annotated[Optional[Path], typer.Option("--archs-file", help="File with one arch string per line.")] = None,
    sample: Annotated[Optional[int], typer.Option("--sample", help="Score N archs drawn with --seed.")] = None,
    proxies: ProxiesOption = "gradsign",
    batch_size: BatchOption = 64,
    seed: SeedOption = 0,
    sampling: SamplingOption = "random",
    fmt: FormatOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Write the result to this file (.csv, .json, "
                                                   "or .txt for the table; the extension chooses the format).")] = None,
    store: StoreOption = None,
    no_store: NoStoreOption = False,
    engine: EngineOption = "auto",
    backend: BackendOption = "inprocess",
    workers: WorkersOption = None,
    address: AddressOption = None,
    data_dir: DataDirOption = None,
    progress: ProgressOption = True,
    threads: ThreadsOption = None,
    device: DeviceOption = "cpu",
    option: ProxyOptionOption = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="With --archs-file: score the valid lines and list the refused ones (default: stop at the first).")] = False,
    retry_failed: RetryFailedOption = False,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="CSV arch,accuracy of trained archs of this space, or the SQLite journal of a `gradsign search --journal` (the archs it trained, the accuracy it observed): the few-shot rule weights the proxies' members on them (prior: the first ensemble of --proxies, else 'recommended') and adds a 'fewshot' column (docs/ensembles.md).")] = None,
) -> None:
    """Score architectures with zero-cost proxies (stored scores are reused).

    A cell a proxy cannot score is recorded as failed with its error; the command exits with status 1
    when some proxy failed on every cell (after writing its output).
    """
    from gradsign.outputs import OutputError, check_output_file, refuse_input_as_output
    from gradsign.workflows.score import score_archs

    if output is not None:
        check_output_file(output)
        refuse_input_as_output(output, {"--archs-file": archs_file, "--labels": labels})
    fmt = output_format(fmt, output)
    scorer_store = _store(store, no_store)
    if output is not None and scorer_store is not None and scorer_store.is_own_file(output):
        raise OutputError(f"--output {output} is the results store (--store {scorer_store.path}): writing the "
                          "table there would destroy every stored score; give the output another name")
    set_interrupt_note(store_interrupt_note(scorer_store))
    result = score_archs(
        space, dataset, proxies, archs=arch or (), indices=index or (), archs_file=archs_file, sample=sample,
        skip_invalid=skip_invalid, labels=labels, batch_size=batch_size, seed=seed, sampling=sampling,
        options=option, engine=engine, store=scorer_store, backend=_backend(backend, workers, address),
        data_dir=data_dir, threads=threads, device=device, progress=progress, retry_failed=retry_failed,
        note=lambda m: err_console.print(m, highlight=False, markup=False, soft_wrap=True))
    if result.fewshot is not None:
        for warning in result.fewshot.warnings:
            err_console.print(f"warning: --labels {labels}: {warning}", highlight=False, markup=False, soft_wrap=True)
        err_console.print(f"few-shot: {result.fewshot.reason}; 'fewshot' = {result.fewshot.name}, over the "
                          "candidates and the labelled archs ranked together (so not the same numbers as a "
                          "column of that name)", highlight=False, markup=False)
    if fmt is OutputFormat.csv:
        text = result.to_csv()
    elif fmt is OutputFormat.json:
        text = result.to_json()
    else:
        text = result.frame.to_string(index=False) + "\n"
        if output is None:
            console.print(_score_table(result))
            console.print(f"data: {result.data}", highlight=False)
    if output is not None:
        _write_output(output, text)
    elif fmt is not OutputFormat.table:
        typer.echo(text, nl=False)
    if result.used_store:  # on stderr: stdout stays the table / CSV / JSON alone
        err_console.print(f"computed this run: {result.n_computed} (arch, proxy) scores; the rest came from the store",
                          highlight=False, markup=False)
    report_failures(result.failed, result.failure_examples, len(result.frame), scorer_store is not None)


def _score_table(result) -> Table:
    t = Table(title=f"{result.space} / {result.dataset} (batch {result.batch_size}, seed {result.seed})",
              title_justify="left")
    for col in result.frame.columns:
        t.add_column(str(col), overflow="fold")
    for row in result.frame.itertuples(index=False):
        t.add_row(*[_fmt(v) if isinstance(v, float) else str(v) for v in row])
    return t

def evaluate(
    space: SpaceOption = "nb201",
    dataset: DatasetOption = "cifar10",
    proxies: ProxiesOption = "all",
    sample: Annotated[str, typer.Option("--sample", help="Number of archs to draw, or 'all'.")] = "1000",
    seed: SeedOption = 0,
    target: Annotated[str, typer.Option("--target", help="Accuracy to correlate with: test or valid.")] = "test",
    batch_size: BatchOption = 64,
    repeats: Annotated[int, typer.Option("--repeats", help="Kendall protocol: R independent draws of N archs.")] = 1,
    sampling: SamplingOption = "random",
    store: StoreOption = None,
    no_store: NoStoreOption = False,
    output: Annotated[Optional[Path], typer.Option("--output", help="Directory for summary.json, scores.csv, plots.")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the CIs.")] = 1000,
    engine: EngineOption = "auto",
    backend: BackendOption = "inprocess",
    workers: WorkersOption = None,
    address: AddressOption = None,
    stored_only: Annotated[bool, typer.Option("--stored-only", help="Report from the store only: the drawn cells already fully scored, computing nothing (an interim report while the run is unfinished).")] = False,
    retry_failed: RetryFailedOption = False,
    data_dir: DataDirOption = None,
    progress: ProgressOption = True,
    threads: ThreadsOption = None,
    device: DeviceOption = "cpu",
    option: ProxyOptionOption = None,
) -> None:
    """Correlate proxy scores with trained accuracy on a benchmark, with bootstrap CIs.

    Exits with status 1 when some proxy failed on every cell (after writing its outputs).
    """
    from gradsign.workflows.evaluate import evaluate as evaluate_proxies
    from gradsign.workflows.scoring import default_store_path

    store_path = None if no_store else (store if store is not None else default_store_path())
    set_interrupt_note("nothing is computed with --stored-only" if stored_only else store_interrupt_note(store_path))
    result = evaluate_proxies(
        space, dataset, proxies, sample=sample, seed=seed, target=target, batch_size=batch_size, repeats=repeats,
        sampling=sampling, options=option, engine=engine, store=store_path, stored_only=stored_only,
        n_bootstrap=bootstrap, backend=backend, workers=workers, address=address, output=output, data_dir=data_dir,
        threads=threads, device=device, progress=progress, retry_failed=retry_failed,
        note=lambda m: err_console.print(f"note: {m}", highlight=False, markup=False))
    every_cell_failed = print_evaluate_summary(result.summary)
    fallback = result.summary.get("output_fallback")
    if fallback:
        report_fallback(fallback["problem"], fallback["written_to"])
    for f in result.files:
        err_console.print(f"wrote {f}", highlight=False)
    if every_cell_failed:
        raise typer.Exit(1)


def print_evaluate_summary(s: dict) -> list[str]:
    """Print an evaluation's summary; returns the proxies that failed on every cell (see report_failures)."""
    t = Table(title=(f"{s['space']} / {s['dataset']}: {s['n_archs']} archs, target {s['target']} "
                     f"(batch {s['batch_size']}, seed {s['seed']})"), title_justify="left")
    for col in ("proxy", "Spearman [95% CI]", "Kendall [95% CI]", "top-10%", "lit. |rho|", "NaN", "failed", "s/arch"):
        t.add_column(col, justify="right" if col != "proxy" else "left")
    has_rep = any("kendall_repeats" in p for p in s["proxies"].values())
    if has_rep:
        t.add_column("tau over repeats", justify="right")
    for name, p in s["proxies"].items():
        row = [
            name,
            f"{p['spearman']:.3f} [{p['spearman_ci'][0]:.3f}, {p['spearman_ci'][1]:.3f}]",
            f"{p['kendall']:.3f} [{p['kendall_ci'][0]:.3f}, {p['kendall_ci'][1]:.3f}]",
            f"{p['top10_precision']:.2f}",
            f"{p['literature_spearman']:.2f}" if p["literature_spearman"] is not None else "-",
            str(p["n_nan"]) if "n_member_nonfinite" not in p else f"{p['n_member_nonfinite']}*",
            str(p["n_failed"]),
            f"{p['seconds_per_arch']:.3f}" if p["seconds_per_arch"] is not None else "-",
        ]
        if has_rep:
            r = p.get("kendall_repeats")
            row.append(f"{r['mean']:.3f} ± {r['std']:.3f} (R={r['repeats']})" if r else "-")
        t.add_row(*row)
    console.print(t)
    if any("n_member_nonfinite" in p for p in s["proxies"].values()):
        console.print("* ensembles (a+b: sum of log(rank/N) of the members over these cells; meanrank(a+b): mean "
                      "rank/N): cells where a member's score is NaN/inf, ranked last by that member", highlight=False)
    nc = s.get("noise_ceiling")
    if nc:
        console.print(f"noise ceiling ({nc['what']}): Spearman {nc['spearman']:.3f}, Kendall {nc['kendall']:.3f} "
                      f"over {nc['n_archs']} archs", highlight=False)
    console.print(f"target: {s['target_description']}", highlight=False)
    console.print(f"data: {s['data']}", highlight=False)
    if s.get("literature_source"):
        console.print(f"literature: {s['literature_source']}", highlight=False)
    if s.get("store") is None and "store" in s:
        console.print(f"computed this run: {s['n_computed_this_run']} (arch, proxy) scores (no store)", highlight=False)
    else:
        console.print(f"computed this run: {s['n_computed_this_run']} (arch, proxy) scores; the rest came from the "
                      "store", highlight=False)
    failed = {name: p["n_failed"] for name, p in s["proxies"].items() if p.get("n_failed")}
    examples = {name: p.get("failure_example") or "" for name, p in s["proxies"].items()}
    every_cell_failed = report_failures(failed, examples, s["n_archs"], s.get("store") is not None, exit_now=False)
    if s.get("stored_only"):
        so = s["stored_only"]
        if so["kept"] < so["drawn"]:
            console.print(f"INTERIM (--stored-only): {so['kept']} of {so['drawn']} drawn cells were fully scored and "
                          "are reported; the run is not finished", highlight=False)
        else:
            # every drawn cell is in the store: this report is the finished run's, only recomputed from the store
            console.print(f"complete (--stored-only): all {so['drawn']} drawn cells were fully scored in the store",
                          highlight=False)
    return every_cell_failed
