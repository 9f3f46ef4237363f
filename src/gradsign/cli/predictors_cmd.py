"""`gradsign predictors`: list performance predictors and evaluate them (White et al.'s protocol)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import (DataDirOption, DeviceOption, console, err_console, report_fallback,
                                 set_interrupt_note)

app = typer.Typer(
    name="predictors",
    help="Performance predictors: model-based, zero-cost, low-fidelity and combined (White et al., NeurIPS 2021).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Performance predictors: model-based, zero-cost, low-fidelity and combined (White et al., NeurIPS 2021)."""


@app.command("list")
def list_predictors() -> None:
    """Registered predictors: family, what each needs, and what it is."""
    from gradsign.predictors import predictor_classes

    t = Table(title="predictors", title_justify="left")
    for col in ("name", "family", "needs", "uses if available", "description"):
        t.add_column(col)
    for name, cls in predictor_classes().items():
        label = name if cls.param is None else f"{name}:<{cls.param}>"
        t.add_row(label, cls.family, ", ".join(sorted(cls.needs)) or "-", ", ".join(sorted(cls.optional)) or "-",
                  cls.description)
    console.print(t)


@app.command("evaluate")
def evaluate(
    space: Annotated[str, typer.Option("--space", help="nb201, nb101 or darts.")] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", help="cifar10, cifar100 or ImageNet16-120 (NB201); cifar10 elsewhere.")] = "cifar10",
    train_sizes: Annotated[str, typer.Option("--train-sizes", help="Comma-separated training-set sizes (0 = label-free predictors only).")] = "0,10,20,50,100,200,500",
    test_size: Annotated[int, typer.Option("--test-size", help="Test cells per trial (reduced, with a note, if the pool is too small).")] = 1000,
    trials: Annotated[int, typer.Option("--trials", help="Independent random train/test draws.")] = 10,
    predictors: Annotated[Optional[str], typer.Option("--predictors", help="Comma-separated names ('zc:*' = every proxy), or 'all' (default); see `gradsign predictors list`.")] = None,
    zc_source: Annotated[str, typer.Option("--zc-source", help="Zero-cost features: auto, store, naslib, nb201-table or none; join with '+'.")] = "auto",
    zc_proxies: Annotated[Optional[str], typer.Option("--zc-proxies", help="Comma-separated subset of the source's proxies (default: all); NAME@SOURCE picks one joined source's column, e.g. naswot@nb201-table.")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Results store read (read-only) for --zc-source store (default: $GRADSIGN_STORE or the user data dir).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch size of the stored zero-cost scores.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the splits and predictors (and of the stored scores' setting).")] = 0,
    no_lowfidelity: Annotated[bool, typer.Option("--no-lowfidelity", help="Do not use the 12-epoch accuracy (NB201).")] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the CIs.")] = 2000,
    threads: Annotated[int, typer.Option("--threads", help="Threads for BLAS/torch in fits (default 1: the same numbers on every machine).")] = 1,
    output: Annotated[Optional[Path], typer.Option("--output", help="Directory for trials.csv, summary.csv, summary.json and the plot.")] = None,
    data_dir: DataDirOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress.")] = True,
    device: DeviceOption = "cpu",
) -> None:
    """Fit each predictor on random training sets, rank disjoint test sets; correlations with 95% CIs."""
    from gradsign.workflows.predictors.protocol import PredictorsInterrupted
    from gradsign.workflows.predictors.run import evaluate_predictors

    # Said when the signal arrives (main._interrupt), so it names both outcomes.
    set_interrupt_note(f"the trials finished so far are written to {output}, marked partial in summary.json "
                       "(nothing if none had finished); rerun the same command for all of them" if output is not None
                       else "nothing is kept (no --output); rerun the same command")
    try:
        ev = evaluate_predictors(
            space, dataset, predictors=predictors, train_sizes=train_sizes, test_size=test_size, trials=trials,
            seed=seed, zc_source=zc_source, zc_proxies=zc_proxies, store=store, batch_size=batch_size,
            lowfidelity=not no_lowfidelity, n_bootstrap=bootstrap, threads=threads, data_dir=data_dir,
            output=output, progress=progress, device=device,
        )
    except PredictorsInterrupted as stop:
        done = stop.partial.meta["partial"]
        if stop.partial.files:
            err_console.print(f"wrote the {done['trials_finished']} finished trials of {done['of']} to "
                              f"{stop.partial.files[0].parent} (partial)", highlight=False, markup=False, emoji=False)
        raise KeyboardInterrupt from None
    print_summary(ev)
    fallback = ev.meta.get("output_fallback")
    if fallback:
        report_fallback(fallback["problem"], fallback["written_to"])
    for f in ev.files:
        err_console.print(f"wrote {f}", highlight=False, markup=False, emoji=False)


def _cell(mean: float, lo: float, hi: float) -> str:
    if not math.isfinite(mean):
        return "-"
    if math.isfinite(lo):
        return f"{mean:.3f} [{lo:.2f},{hi:.2f}]"
    return f"{mean:.3f}"


def print_summary(ev) -> None:
    m, s = ev.meta, ev.summary
    from gradsign.workflows.predictors.report import where_label

    t = Table(title=(f"{where_label(m)}: Spearman (mean [95% CI]) by training size; "
                     f"{m['trials']} trials x {m['test_size']} test cells of {m['pool_size']}"), title_justify="left")
    sizes = sorted(set(s["train_size"]))
    t.add_column("predictor")
    t.add_column("family")
    for n in sizes:
        t.add_column(str(n), justify="right")
    t.add_column(f"fit s @{max(sizes)}", justify="right")
    for name in dict.fromkeys(s["predictor"]):
        g = s[s["predictor"] == name].set_index("train_size")
        row = [name, g["family"].iat[0]]
        for n in sizes:
            row.append(_cell(g.at[n, "spearman"], g.at[n, "spearman_lo"], g.at[n, "spearman_hi"]) if n in g.index else "")
        row.append(f"{g['fit_s'].iloc[-1]:.2f}")
        t.add_row(*row)
    console.print(t)  # not folded into 80 columns in a log: cli.common's console never wraps off a terminal
    console.print(f"target: {m['target']}", highlight=False, markup=False, emoji=False)
    console.print(f"features: {m['features']}", highlight=False, markup=False, emoji=False)
    console.print(f"CI: {m['ci']}", highlight=False, markup=False, emoji=False)
    h = m.get("headline")
    if h:
        parts = []
        for key, label in (("best_combined", "best combined"), ("best_single_zero_cost", "best single zero-cost"),
                           ("best_model_based_without_zero_cost", "best model-based (no zero-cost)")):
            b = h.get(key)
            if b:
                parts.append(f"{label} {b['predictor']} {b['spearman']:.3f} [{b['ci'][0]:.3f}, {b['ci'][1]:.3f}]")
        if parts:
            console.print(f"at {h['train_size']} training archs: " + "; ".join(parts), highlight=False, markup=False, emoji=False)
    for note in m["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False, emoji=False)
