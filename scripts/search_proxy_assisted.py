"""Proxy-assisted NAS on NB201, the GradSign paper's Table 5 protocol (an experiment script, not a test).

    .venv/bin/python scripts/search_proxy_assisted.py --proxies gradsign,synflow --runs 100 \\
        --store runs/store.sqlite --output results/search_proxy_assisted

Every setting searches on CIFAR-10 (NB201 protocol: 12-epoch ``cifar10-valid``
validation accuracy observed, its simulated training time paid, 12,000 s) and
reports the picked cell's 200-epoch test accuracy on CIFAR-10, CIFAR-100 and
ImageNet16-120, as the NB201 and GradSign papers' Table 5 do. Settings, with
the same seeds (run r of every setting uses (seed, r)):

* RS, REA, REINFORCE and BOHB without a proxy;
* each of them assisted by each proxy (K = 10 candidates, the best-scoring one
  trained; see docs/search.md), with the proxy's *measured* seconds per cell
  (from the results store) charged to the budget, and with nothing charged
  (the papers' setting);
* with ``--warmup-pool N``, also Abdelfattah et al.'s warm-up (N random cells
  ranked by the proxy seed the search; K = 1 afterwards), charged and free.

Proxy scores come from the results store (``--store``), keyed like
``gradsign evaluate`` (CIFAR-10 training minibatch, batch 64, seed 0): every
cell of the space must be there, or the script stops and prints the command
that scores the missing ones (``gradsign search --precompute ...``). One
exception: ``gradsign_mean`` (gradsign / number of Conv2d+Linear weights, the
variant the GradSign paper's search scripts load) is derived from the stored
gradsign scores unless the store has it for every cell; the table's notes say
so and how far it is from any gradsign_mean the store does hold.

Writes ``table.md`` (printed too): how each proxy ranks all cells (Spearman with
the observed 12-epoch and the reported 200-epoch accuracy), the accuracy table with
the NB201 paper's CIFAR-10 figures, the three-dataset table, and each assisted setting's gain
over the plain algorithm with a 95% Welch interval of the difference of means;
``summary.json`` (per setting: mean, std, 95% CI of the final test accuracy, the
same on every dataset the pick is reported on, trainings and seconds per run),
``trajectory_<algo>.png`` (mean incumbent accuracy vs budget: plain and each proxy
at K with its time charged; ``trajectory_<algo>_all.png``: every setting) and one
JSON per setting (runs without trajectories).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.errors import GradsignError
from gradsign.search import (format_gain, format_table, format_transfer_table, gain_over, nb201_oracle,
                             plot_trajectories, ranked_values, results_table, run_searches)
from gradsign.spaces import get_space
from gradsign.storage import ResultsStore
from gradsign.workflows.search import gradsign_mean_from_gradsign
from gradsign.workflows.search_store import benchmark_store_provider

ALGOS = ("random", "rea", "reinforce", "bohb")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def proxy_provider(proxy: str, store: ResultsStore, batch_size: int, seed: int) -> tuple[object, str | None]:
    """The search provider for ``proxy`` and, when its scores are derived, a note saying how.

    ``gradsign_mean`` (the variant the GradSign paper's searches load) is
    ``gradsign / n_weights``: unless the store has it for every cell, it is derived
    from the stored gradsign scores, and checked against every gradsign_mean the
    store does have.
    """
    if proxy != "gradsign_mean":
        return benchmark_store_provider(proxy, store, batch_size=batch_size, seed=seed), None
    stored = benchmark_store_provider(proxy, store, batch_size=batch_size, seed=seed, complete=False)
    if stored.n_preloaded == len(get_space("nb201")):
        return stored, None
    derived = gradsign_mean_from_gradsign(benchmark_store_provider("gradsign", store, batch_size=batch_size, seed=seed))
    worst, disagree = 0.0, 0
    for index, (value, _) in stored.stored().items():
        ours = derived.score(index)
        if np.isfinite(value) and np.isfinite(ours):
            worst = max(worst, abs(ours - value) / max(abs(value), 1e-300))
        elif np.isfinite(value) != np.isfinite(ours):
            disagree += 1
    if disagree:
        raise GradsignError(f"derived gradsign_mean is finite where the stored one is not (or the reverse) on "
                            f"{disagree} cells; score gradsign_mean itself")
    note = (f"gradsign_mean = stored gradsign / Conv2d+Linear weight count (the store has gradsign_mean itself for "
            f"{stored.n_preloaded:,} cells; largest relative difference from those: {worst:.1e}); its seconds are "
            "gradsign's (one computation gives both).")
    return derived, note


def gain_rows(results: list, confidence: float = 0.95) -> list[str]:
    """Each assisted setting minus its plain algorithm, per dataset: difference of means [Welch CI]."""
    plain = {r.algo: r for r in results if r.proxy is None}
    lines = ["| setting | " + " | ".join(f"gain on {d}" for d in DATASETS) + " |", "| --- |" + " ---: |" * len(DATASETS)]
    for res in results:
        if res.proxy is None:
            continue
        base = plain[res.algo]
        cells = [format_gain(gain_over([r.reported.get(d, np.nan) for r in res.runs],
                                       [r.reported.get(d, np.nan) for r in base.runs], confidence))
                 for d in DATASETS]
        lines.append(f"| {res.label} | " + " | ".join(cells) + " |")
    return lines


def ranking_rows(providers: list, oracle) -> list[str]:
    """How each proxy, as the searches use it (higher = preferred), ranks all cells against what the
    search observes (12-epoch validation accuracy) and what it reports (200-epoch test accuracy)."""
    lines = ["| proxy | Spearman vs 12-epoch valid (observed) | Spearman vs 200-epoch test (reported) | "
             "mean s/cell |", "| --- | ---: | ---: | ---: |"]
    for prov in providers:
        n = len(oracle.test)
        x = ranked_values(prov, range(n))
        sec = float(np.mean([prov.seconds(i) for i in range(n)]))
        obs = stats.spearmanr(x, oracle.signal, nan_policy="omit").statistic
        rep = stats.spearmanr(x, oracle.test, nan_policy="omit").statistic
        lines.append(f"| {prov.name} | {obs:.3f} | {rep:.3f} | {sec:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxies", default="gradsign,synflow")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="search seed (run r uses (seed, r))")
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--warmup-pool", type=int, default=0,
                    help="also run Abdelfattah et al.'s warm-up (rank this many random cells by the proxy first; "
                         "K = 1 afterwards), charged and free; 0: off")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=64, help="of the stored proxy scores")
    ap.add_argument("--score-seed", type=int, default=0, help="seed of the stored proxy scores")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--output", type=Path, default=Path("results/search_proxy_assisted"))
    args = ap.parse_args(argv)

    try:
        store = ResultsStore(args.store)
        derived = [proxy_provider(p.strip(), store, args.batch_size, args.score_seed)
                   for p in args.proxies.split(",") if p.strip()]
        providers = [provider for provider, _ in derived]
        table = NB201Table.load()
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    oracle = nb201_oracle(table, "cifar10")
    args.output.mkdir(parents=True, exist_ok=True)
    results = []
    for algo in [a.strip() for a in args.algos.split(",") if a.strip()]:
        per_algo = [run_searches(algo, oracle, runs=args.runs, seed=args.seed)]
        for prov in providers:
            for charge in (True, False):
                per_algo.append(run_searches(algo, oracle, prov, runs=args.runs, seed=args.seed,
                                             candidates=args.candidates, charge_proxy=charge))
            if args.warmup_pool > 0:
                for charge in (True, False):
                    per_algo.append(run_searches(algo, oracle, prov, runs=args.runs, seed=args.seed, candidates=1,
                                                 warmup_pool=args.warmup_pool, charge_proxy=charge))
        for res in per_algo:
            res.to_json(args.output / f"{res.label.replace(' ', '').replace(',', '_')}.json", trajectories=False)
            print(f"{res.label}: {res.summary()['mean']:.2f} (wall {res.wall_seconds:.0f} s)", flush=True)
        # The headline plot: the plain algorithm and each proxy at K candidates with its time
        # charged (the honest setting); every setting, free and warm-up included, in *_all.png.
        headline = [r for r in per_algo if r.proxy is None or (r.charge_proxy and not r.warmup_pool)]
        for name, curves in ((f"trajectory_{algo}.png", headline), (f"trajectory_{algo}_all.png", per_algo)):
            plot_trajectories(curves, args.output / name, reference=float(np.nanmax(oracle.test)),
                              title=f"{algo} on NB201 CIFAR-10 ({args.runs} runs): mean incumbent test accuracy")
        results += per_algo

    rows = results_table(results)
    summary = [{**row, "candidates": res.candidates, "charge_proxy": res.charge_proxy, "warmup_pool": res.warmup_pool}
               for res, row in zip(results, rows)]
    from gradsign.reports.provenance import collect, process_started

    (args.output / "summary.json").write_text(json.dumps(
        {"runs": args.runs, "seed": args.seed, "settings": summary,
         "provenance": collect(seeds=[args.seed], started=process_started())}, indent=1, allow_nan=False))
    seconds = {p.name: float(np.mean([p.seconds(i) for i in range(len(oracle.test))])) for p in providers}
    md = [
        f"Searches on CIFAR-10 (12,000 simulated s), {args.runs} runs per setting, seed {args.seed}; proxies from "
        f"{args.store} (CIFAR-10 minibatch, batch {args.batch_size}, seed {args.score_seed}), K = {args.candidates}; "
        "measured proxy seconds per cell (mean over the space): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()) + ".",
        "", f"### How each proxy ranks the {len(oracle.test):,} cells (as the searches use it)", "", *ranking_rows(providers, oracle),
        "", "### Final CIFAR-10 test accuracy (NB201 paper: 500 runs)", "", format_table(rows), "",
        "### The picked cells on the three datasets (mean ± std [95% CI])", "", format_transfer_table(rows), "",
        "### Gain over the same algorithm without a proxy (difference of means [95% Welch CI])", "",
        *gain_rows(results), "",
    ]
    md += note_lines(results, [n for _, n in derived if n])
    text = "\n".join(md)
    (args.output / "table.md").write_text(text + "\n")
    print(text)
    return 0


def note_lines(results: list, extra: list[str]) -> list[str]:
    """The table's notes: those every setting shares (and ``extra``), then each other note once, naming
    the settings it belongs to (e.g. "proxy seconds were NOT charged" only for the "free" settings)."""
    from gradsign.search.results import shared_notes

    common = shared_notes([list(r.notes) for r in results])
    own: dict[str, list[str]] = {}
    for r in results:
        for n in r.notes:
            if n not in common:
                own.setdefault(n, []).append(r.label)
    # the two groups the table's labels already mark, named as such; any other group by its labels
    groups = {"every setting with a proxy": {r.label for r in results if r.proxy},
              "every setting marked 'free'": {r.label for r in results if r.proxy and not r.charge_proxy}}

    def who(labels: list[str]) -> str:
        return next((name for name, members in groups.items() if set(labels) == members), ", ".join(labels))

    return ([f"* {n}" for n in sorted(set(common) | set(extra))]
            + [f"* {who(labels)}: {n}" for n, labels in sorted(own.items())])


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"# {time.perf_counter() - start:.0f} s", file=sys.stderr)
    sys.exit(code)
