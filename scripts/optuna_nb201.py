"""TPE vs TPE + proxy screening on NAS-Bench-201 CIFAR-10 as an Optuna space (an experiment script, not a test).

    .venv/bin/gradsign store import results/nb201_cifar10_allcells_seed0_bs64_{gradsign,synflow,az_expressivity,meco,zen}.csv.gz \\
        --store runs/optuna.sqlite
    OMP_NUM_THREADS=1 .venv/bin/python scripts/optuna_nb201.py --runs 100 --store runs/optuna.sqlite \\
        --output results/optuna_nb201
    # the small real benchmark (docs/real_benchmark.md): K = 10, its 400 s budget, its own proxy scores
    OMP_NUM_THREADS=1 .venv/bin/python scripts/optuna_nb201.py --benchmark nb201_small --runs 100

The space: 6 categorical parameters (one per cell edge) over the 5 NB201 ops
(:func:`gradsign.integrations.optuna.nb201_search_space`). Each trial "trains" the
cell through NB201's tabular objective (:func:`gradsign.search.nb201_oracle`: the
12-epoch ``cifar10-valid`` validation accuracy is the trial's value, its simulated
training seconds are charged) and a study stops when the next charge does not fit
in the budget (12,000 simulated seconds, NB201's). The reported number is the
incumbent's 200-epoch CIFAR-10 test accuracy. Settings, with the same sampler
seeds (run r of every setting seeds TPE with ``run_seed(seed, r)``):

* ``optuna-tpe``: Optuna's TPESampler with its defaults;
* ``optuna-tpe+<proxy>(K=k, charged)``, for each proxy or ensemble, the same TPE wrapped in
  :class:`~gradsign.integrations.optuna.ProxyScreeningSampler`: each trial, K
  candidates from TPE, the best by the proxy is trained. No network is scored
  here: the scores and their measured seconds come from the results store
  (imported from the committed all-cell exports), and the seconds of every
  candidate new to a study are charged to its budget.

``--benchmark nb201_small``: the same studies on the small real benchmark (NB201
cells trained for real on 2 CPU cores, :mod:`gradsign.benchmarks.suite.nb201_small`)
through its tabular objective: the trial's value is the seed-1 run's final
validation accuracy, its measured training seconds are charged, the incumbent is
reported by its CIFAR-10 test accuracy averaged over seeds. The Optuna space is
still the 6 categorical NB201 edges, but only a sample of cells was trained: a
trial (or a screened candidate) outside the sample lands on the nearest trained
cell, the way the objective's space does (fewest edges different, ties broken by a
hash of the cell; :class:`~gradsign.search.tabular.TableSpace`, ``off_table="nearest"``),
and TPE is told that cell's accuracy for the parameters it proposed. Proxy scores
and their seconds come from the benchmark's as-trained scores
(``proxy_provider``), not the results store; defaults there: K = 10, proxies
gradsign and ``recommended``, the benchmark's budget (400 s), output
``results/real_benchmark/optuna``; the table and summary say how many trained
archs the benchmark had.

Writes ``table.md`` (printed too), ``summary.json``, ``trajectory.png`` (mean
incumbent test accuracy vs charged seconds, bootstrap 95% band) and one JSON
per setting (runs without trajectories).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.errors import GradsignError
from gradsign.benchmarks.registry import get_benchmark
from gradsign.integrations.optuna import (ProviderScorer, ProxyScreeningSampler, nb201_arch, nb201_index,
                                          nb201_search_space)
from gradsign.integrations.optuna.studies import run_optuna_searches
from gradsign.outputs import check_output_dir, json_safe
from gradsign.search import (ArrayProxyProvider, format_gain, format_table, gain_over, nb201_oracle,
                             plot_trajectories, results_table)
from gradsign.storage import ResultsStore
from gradsign.workflows.search_store import benchmark_store_provider

#: per benchmark: candidates K, proxies, budget (None: the objective's), output
DEFAULTS = {
    "nb201": {"k": 8, "proxies": "gradsign,synflow,gradsign+synflow,recommended", "budget": 12_000.0,
              "output": "results/optuna_nb201"},
    "nb201_small": {"k": 10, "proxies": "gradsign,recommended", "budget": None,
                    "output": "results/real_benchmark/optuna"},
}


def nb201_small_row(objective: Any) -> Callable[[Mapping[str, Any]], int]:
    """``params -> row`` of nb201_small's trained sample: the cell of ``params`` if it was trained, else the
    nearest trained cell, by the rule of the objective's own space (``TableSpace.from_choices``)."""
    from gradsign.spaces import get_space

    nb201 = get_space("nb201")

    def row(params: Mapping[str, Any]) -> int:
        return int(objective.space.from_choices(nb201.to_choices(nb201_arch(params))))

    return row


def gain_rows(results: list, confidence: float = 0.95) -> list[str]:
    """Each screened setting minus plain TPE: difference of mean final test accuracy [Welch CI]."""
    plain = next(r for r in results if r.proxy is None)
    lines = ["| setting | gain over TPE [95% Welch CI] |", "| --- | ---: |"]
    for res in results:
        if res.proxy is not None:
            lines.append(f"| {res.label} | {format_gain(gain_over(res.tests(), plain.tests(), confidence))} |")
    return lines


def budget_rows(results: list, budget: float, fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)) -> list[str]:
    """Mean incumbent test accuracy [bootstrap 95% band] after a fraction of the budget (charged seconds)."""
    grid = [f * budget for f in fractions]
    lines = ["| setting | " + " | ".join(f"{g:,.0f} s" for g in grid) + " |", "| --- |" + " ---: |" * len(grid)]
    for res in results:
        t = res.trajectory(grid=grid)
        cells = [f"{m:.2f} [{lo:.2f}, {hi:.2f}]" for m, lo, hi in zip(t["mean"], t["ci_low"], t["ci_high"])]
        lines.append(f"| {res.label} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", choices=sorted(DEFAULTS), default="nb201",
                    help="nb201: NB201's tables, proxies from --store; nb201_small: the small real benchmark")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="run r seeds TPE with run_seed(seed, r)")
    ap.add_argument("--k", type=int, default=None, help="candidates screened per trial (nb201: 8, nb201_small: 10)")
    ap.add_argument("--proxies", default=None,
                    help="proxies and ensembles (a+b, recommended) scored on every cell (nb201: by the store; "
                         "default gradsign,synflow,gradsign+synflow,recommended; nb201_small: default gradsign,recommended)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per study (nb201: 12,000 simulated, NB201's; nb201_small: the benchmark's, 400)")
    ap.add_argument("--store", type=Path, default=Path("runs/optuna.sqlite"), help="nb201 only")
    ap.add_argument("--batch-size", type=int, default=64, help="of the stored proxy scores (nb201 only)")
    ap.add_argument("--score-seed", type=int, default=0, help="seed of the stored proxy scores (nb201 only)")
    ap.add_argument("--output", type=Path, default=None,
                    help="nb201: results/optuna_nb201; nb201_small: results/real_benchmark/optuna")
    ap.add_argument("--no-control", dest="control", action="store_false",
                    help="leave out the uninformed-proxy control (random scores)")
    args = ap.parse_args(argv)
    defaults = DEFAULTS[args.benchmark]
    args.k = defaults["k"] if args.k is None else args.k
    args.proxies = defaults["proxies"] if args.proxies is None else args.proxies
    args.output = Path(defaults["output"]) if args.output is None else args.output
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial x 30,000 trials otherwise

    small = args.benchmark == "nb201_small"
    names = [p.strip() for p in args.proxies.split(",") if p.strip()]
    try:
        check_output_dir(args.output)
        if small:
            bench = get_benchmark("nb201_small")
            table = bench.table()
            oracle = bench.objective("cifar10")
            providers: list = [bench.proxy_provider(p, "cifar10") for p in names]
            # the trained sample's row of a trial: its cell, or the nearest trained one
            to_arch: Callable[[Mapping[str, Any]], Any] = nb201_small_row(oracle)
            key_of: Callable[[Mapping[str, Any]], Any] = to_arch
        else:
            store = ResultsStore(args.store, read_only=True)
            providers = [benchmark_store_provider(p, store, batch_size=args.batch_size, seed=args.score_seed) for p in names]
            oracle = nb201_oracle(NB201Table.load(), "cifar10")
            to_arch, key_of = nb201_arch, nb201_index
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.budget = (defaults["budget"] or oracle.default_budget) if args.budget is None else args.budget
    n_cells = oracle.num_archs  # NB201: all 15,625 cells; nb201_small: the trained ones
    space = nb201_search_space()
    controls = []
    if args.control:
        uninformed = np.random.default_rng([args.seed, n_cells]).random(n_cells)
        controls = [ArrayProxyProvider(uninformed, 0.0, name="random_scores")]
    tpe = {"n_startup_trials": 10, "n_ei_candidates": 24}  # Optuna's defaults, stated

    def plain(seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, **tpe)

    settings = [("optuna-tpe", None, plain)]
    for prov in [*providers, *controls]:
        scorer = ProviderScorer(prov, key_of)

        def screened(seed: int, scorer: ProviderScorer = scorer) -> optuna.samplers.BaseSampler:
            return ProxyScreeningSampler(plain(seed), search_space=space, k=args.k, scorer=scorer)

        settings.append(("optuna-tpe", prov.name, screened))

    results = []
    for algo, proxy, make_sampler in settings:
        res = run_optuna_searches(oracle, make_sampler, space, to_arch, runs=args.runs, seed=args.seed,
                                  budget=args.budget, algo=algo, proxy=proxy,
                                  candidates=args.k if proxy else 1, params={"sampler": "TPESampler", **tpe})
        res.to_json(args.output / f"{res.label.replace(' ', '').replace(',', '_')}.json", trajectories=False)
        print(f"{res.label}: {res.summary()['mean']:.2f} (wall {res.wall_seconds:.0f} s)", flush=True)
        results.append(res)

    title = (f"Optuna TPE on nb201_small ({n_cells} trained archs), {args.runs} runs" if small else
             f"Optuna TPE on NB201 CIFAR-10 ({args.runs} runs): mean incumbent test accuracy")
    plot_trajectories(results, args.output / "trajectory.png", reference=float(np.nanmax(oracle.test)), title=title)
    rows = results_table(results)
    from gradsign.reports.provenance import collect, process_started

    summary = {"runs": args.runs, "seed": args.seed, "k": args.k, "budget_seconds": args.budget, "tpe": tpe,
               "optuna": optuna.__version__, "settings": rows,
               "provenance": collect(seeds=[args.seed], started=process_started())}
    if small:
        command = " ".join(["scripts/optuna_nb201.py", *argv])
        summary = {"benchmark": "nb201_small", "dataset": "cifar10", "command": command, "archs": n_cells,
                   "seeds": list(table.seeds), "runs_trained": table.n_runs, "recipe_key": table.recipe_key,
                   "table_sha256": hashlib.sha256(Path(table.source).read_bytes()).hexdigest(), **summary}
        summary["provenance"] = collect(argv=["scripts/optuna_nb201.py", *argv], seeds=[args.seed],
                                        started=process_started())
    (args.output / "summary.json").write_text(json.dumps(json_safe(summary), indent=1, allow_nan=False))
    seconds = {p.name: float(np.mean([p.seconds(i) for i in range(n_cells)])) for p in providers}
    if small:
        head = [
            f"Optuna studies on nb201_small, the small real benchmark: {n_cells} NB201 cells trained under seeds "
            f"{', '.join(map(str, table.seeds))} (recipe {table.recipe_key}, {table.n_runs} training runs in the "
            f"table, sha256 {summary['table_sha256'][:12]}); {args.budget:,.0f} s each (the seed-1 run's measured "
            f"training seconds + proxy seconds charged), {args.runs} runs per setting, seed {args.seed}, "
            f"K = {args.k}; proxy scores and seconds from the benchmark's as-trained scores (measured on the "
            "recipe's network), mean per trained arch: " + ", ".join(f"{k} {v:.3f} s" for k, v in seconds.items())
            + ".",
            "The Optuna space is NB201's 6 categorical edges: a trial or candidate outside the trained sample "
            "lands on the nearest trained cell (fewest edges different, ties broken by a hash of the cell), as "
            "the objective's space does; TPE is told that cell's accuracy for the parameters it proposed. Trial "
            "value: seed-1 final validation accuracy; reported: CIFAR-10 test accuracy averaged over seeds "
            f"(best in the sample {np.nanmax(oracle.test):.2f}).",
            "", f"Command: `OMP_NUM_THREADS=1 .venv/bin/python {command}`",
        ]
    else:
        head = [
            f"Optuna studies on NB201 CIFAR-10 ({args.budget:,.0f} simulated s each: training + proxy seconds "
            f"charged), {args.runs} runs per setting, seed {args.seed}, K = {args.k}; proxy scores from {args.store} "
            f"(CIFAR-10 minibatch, batch {args.batch_size}, seed {args.score_seed}), measured seconds per cell (mean "
            "over the space): " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()) + ".",
        ]
    md = [
        *head,
        "", "### Final CIFAR-10 test accuracy of the incumbent", "", format_table(rows), "",
        "### Gain over plain TPE", "", *gain_rows(results), "",
        "### Mean incumbent test accuracy after part of the budget (charged seconds) [bootstrap 95% band]", "",
        *budget_rows(results, args.budget), "",
    ]
    md += [f"* {n}" for n in sorted({n for r in results for n in r.notes})]
    text = "\n".join(md)
    (args.output / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"# {time.perf_counter() - start:.0f} s", file=sys.stderr)
    sys.exit(code)
