"""Proxy-assisted search on the small real benchmark ``nb201_small`` (issue #25 item 3; an experiment script, not a test).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_real_benchmark.py --runs 100 \\
        --output results/real_benchmark/search

The benchmark (docs/real_benchmark.md) is NB201 cells trained for real on 2 CPU
cores; used here as a tabular objective (:meth:`NB201SmallBenchmark.objective
<gradsign.benchmarks.suite.nb201_small.NB201SmallBenchmark.objective>`): a search
observes the seed-1 run's final validation accuracy (1,000 held-out training
images), is charged that run's *measured* training seconds, and the arch it picks
is reported by its CIFAR-10 test accuracy averaged over the training seeds. The
searched space is the trained sample (a move off it lands on the nearest trained
cell). Budget: the benchmark's (400 s, about 20 trainings) unless ``--budget``.

Settings, with the same seeds (run r of every setting uses (seed, r)): RS, REA,
REINFORCE and BOHB, each plain and assisted by each proxy or ensemble (default
gradsign, synflow and ``recommended``, the library's recommended ensemble): K = 10
candidates per proposal, the best by the proxy trained, and every new candidate's
measured proxy seconds on the recipe's network (the benchmark's as-trained scores)
charged to the same budget.

The table grows while the benchmark is being trained: the script uses whatever
part of it exists (archs trained under every seed) and says how many archs that
was, with the recipe key and the table's sha256, in table.md and summary.json.

Writes into ``--output``: ``table.md`` (printed too: how each proxy ranks the
trained archs, the final test accuracy per setting with mean ± std and 95% CI,
trainings and proxy seconds per run, and the gain of each assisted setting over
its plain algorithm), ``summary.json`` (the same per setting, the archs count,
recipe key and the exact command), ``trajectory_<algo>.png`` (mean incumbent test
accuracy vs charged seconds, bootstrap 95% band of the mean) and one JSON per
setting (runs without trajectories). Deterministic: the same command on the same
table gives the same numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from gradsign.benchmarks.registry import get_benchmark
from gradsign.benchmarks.suite.nb201_small import SCORES_FILE, TABLE_FILE, benchmark_dir
from gradsign.errors import GradsignError
from gradsign.outputs import check_output_dir, json_safe
from gradsign.search import (Budget, format_gain, format_table, gain_over, plot_trajectories, ranked_values,
                             results_table, run_searches)

ALGOS = ("random", "rea", "reinforce", "bohb")
PROXIES = ("gradsign", "synflow", "recommended")
SCRIPT = "scripts/search_real_benchmark.py"


def ranking_rows(providers: list, objective) -> list[str]:
    """Each proxy against what the search observes (seed-1 validation) and what it reports (mean test)."""
    n = objective.num_archs
    lines = ["| proxy | Spearman vs seed-1 valid (observed) | Spearman vs mean test (reported) | mean s/arch |",
             "| --- | ---: | ---: | ---: |"]
    for prov in providers:
        x = ranked_values(prov, range(n))
        sec = float(np.mean([prov.seconds(i) for i in range(n)]))
        obs = stats.spearmanr(x, objective.signal, nan_policy="omit").statistic
        rep = stats.spearmanr(x, objective.test, nan_policy="omit").statistic
        lines.append(f"| {prov.name} | {obs:.3f} | {rep:.3f} | {sec:.3f} |")
    return lines


def gain_rows(results: list, confidence: float = 0.95) -> list[str]:
    """Each assisted setting minus its plain algorithm: difference of mean final test accuracy [Welch CI]."""
    plain = {r.algo: r for r in results if r.proxy is None}
    lines = ["| setting | gain over the plain algorithm [95% Welch CI] |", "| --- | ---: |"]
    for res in results:
        if res.proxy is not None and res.algo in plain:
            lines.append(f"| {res.label} | {format_gain(gain_over(res.tests(), plain[res.algo].tests(), confidence))} |")
    return lines


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def setting_file(label: str) -> str:
    return label.replace(" ", "").replace(",", "_") + ".json"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="search seed (run r uses (seed, r))")
    ap.add_argument("--candidates", type=int, default=10, help="K: proposals per step, the best by the proxy trained")
    ap.add_argument("--budget", default=None,
                    help="seconds per run ('400s' or 400) or trainings ('20evals'); default the benchmark's (400 s)")
    ap.add_argument("--proxies", default=",".join(PROXIES), help="proxies and ensembles (a+b or a named one)")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="folder holding the benchmark's table (default $GRADSIGN_REAL_BENCHMARK, else the checkout's)")
    ap.add_argument("--output", type=Path, default=Path("results/real_benchmark/search"))
    args = ap.parse_args(argv)
    started = time.time()

    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    try:
        check_output_dir(args.output)
        bench = get_benchmark("nb201_small")
        table = bench.table(args.data_dir)
        objective = bench.objective("cifar10", args.data_dir)
        budget = Budget.parse(args.budget, objective.default_budget)
        providers = [bench.proxy_provider(p.strip(), "cifar10", args.data_dir)
                     for p in args.proxies.split(",") if p.strip()]
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = benchmark_dir(args.data_dir)
    checkout = Path(__file__).resolve().parents[1]

    def shown(path: Path) -> str:  # relative to the checkout when inside it: no machine's paths in results
        path = path.resolve()
        return str(path.relative_to(checkout)) if path.is_relative_to(checkout) else str(path)

    source = {"table": shown(folder / TABLE_FILE), "table_sha256": sha256(folder / TABLE_FILE),
              "scores": shown(folder / SCORES_FILE), "scores_sha256": sha256(folder / SCORES_FILE),
              "archs": len(table.archs), "seeds": list(table.seeds), "runs_trained": table.n_runs,
              "recipe_key": table.recipe_key}
    budget_text = f"{budget.amount:,.0f} s" if budget.kind == "seconds" else f"{budget.amount:.0f} trainings"

    results = []
    for algo in algos:
        try:
            per_algo = [run_searches(algo, objective, runs=args.runs, seed=args.seed, budget=budget)]
            for prov in providers:
                per_algo.append(run_searches(algo, objective, prov, runs=args.runs, seed=args.seed, budget=budget,
                                             candidates=args.candidates, charge_proxy=True))
        except GradsignError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for res in per_algo:
            res.to_json(args.output / setting_file(res.label), trajectories=False)
            print(f"{res.label}: {res.summary()['mean']:.2f} (wall {res.wall_seconds:.0f} s)", flush=True)
        plot_trajectories(per_algo, args.output / f"trajectory_{algo}.png", reference=float(np.nanmax(objective.test)),
                          title=f"{algo} on nb201_small ({len(table.archs)} trained archs), {args.runs} runs")
        results += per_algo

    rows = results_table(results)
    command = " ".join([SCRIPT, *argv])
    from gradsign.reports.provenance import collect

    summary = {"benchmark": "nb201_small", "dataset": "cifar10", "command": command, **source,
               "runs": args.runs, "seed": args.seed, "candidates": args.candidates, "budget": budget.to_dict(),
               "settings": [{**row, "candidates": res.candidates, "charge_proxy": res.charge_proxy}
                            for res, row in zip(results, rows)],
               "provenance": collect(argv=[SCRIPT, *argv], data_files=[folder / TABLE_FILE, folder / SCORES_FILE],
                                     seeds=[args.seed], started=started)}
    (args.output / "summary.json").write_text(json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n")

    seconds = {p.name: float(np.mean([p.seconds(i) for i in range(objective.num_archs)])) for p in providers}
    mean_test = objective.test
    md = [
        f"Searches on nb201_small (CIFAR-10), {source['archs']} archs trained under seeds "
        f"{', '.join(map(str, table.seeds))} (recipe {table.recipe_key}, {table.n_runs} training runs in the table, "
        f"sha256 {source['table_sha256'][:12]}): {args.runs} runs per setting, seed {args.seed}, budget {budget_text} "
        f"per run (measured training seconds of the seed-1 run + charged proxy seconds), K = {args.candidates}.",
        f"Observed: seed-1 final validation accuracy; reported: CIFAR-10 test accuracy averaged over seeds (in the "
        f"sample: best {np.nanmax(mean_test):.2f}, median {np.nanmedian(mean_test):.2f}, mean training "
        f"{np.mean(objective.cost):.1f} s). Proxy seconds per arch (measured on the recipe's network, mean over the "
        "sample): " + ", ".join(f"{k} {v:.3f} s" for k, v in seconds.items()) + ".",
        "", f"Command: `OMP_NUM_THREADS=1 .venv/bin/python {command}`",
        "", "### How each proxy ranks the trained archs (as the searches use it)", "", *ranking_rows(providers, objective),
        "", "### Final test accuracy of the pick (mean ± std, 95% t interval)", "", format_table(rows), "",
        "### Gain over the same algorithm without a proxy (difference of means [95% Welch CI])", "",
        *gain_rows(results), "",
    ]
    notes = {n for r in results for n in r.notes}
    md += [f"* {n}" for n in sorted(notes)]
    text = "\n".join(md)
    (args.output / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"# {time.perf_counter() - start:.0f} s", file=sys.stderr)
    sys.exit(code)
