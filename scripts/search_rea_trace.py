"""What proxy-assisted REA spends its trainings on, run by run, on NB201 CIFAR-10 (an experiment script).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_rea_trace.py --store runs/allcells.sqlite \\
        --proxies gradsign,synflow,recommended --runs 500 \\
        --output results/search_proxy_assisted_recommended/rea_trace.md

Replays the REA settings of ``scripts/search_proxy_assisted.py`` (same seeds, K candidates,
the oracle's budget, proxy time charged, the stored scores of the same batch size and seed: the
same runs, whose mean final test accuracy the report prints for comparison with that script's
table.md) with every training recorded, and reports per setting: trainings per run, distinct
cells trained, the share of children (trainings after the initial population) that retrain a
cell the run had already trained (REA's aging population re-proposes a parent's mutants, and a
proxy keeps preferring the same one; a retraining is paid again), the mean 12-epoch accuracy of
the children, how many runs end at one of the cells with the best 12-epoch accuracy, and the
cells trained most often across runs; then how each proxy ranks the one-edge neighbours of the
cell the assisted runs trained most.
Scores come from the results store, as the searches read them (every cell must be there).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.errors import GradsignError
from gradsign.search import nb201_oracle, ranked_values
from gradsign.search.runner import run_search
from gradsign.spaces.nb201 import nb201_arch_at, nb201_index_of
from gradsign.outputs import write_text_safely
from gradsign.storage import ResultsStore
from gradsign.workflows.search_store import benchmark_store_provider

PLAIN = "rea"


#: "Runs ending at a best cell": the run's answer is one of this many cells with the best 12-epoch accuracy.
BEST_CELLS = 2


def neighbours(cell: int) -> list[int]:
    """The benchmark indices of ``cell``'s one-edge neighbours."""
    return [nb201_index_of(a) for a in nb201_arch_at(cell).neighbours()]


def retrained_children(events: list) -> tuple[list[int], int, int]:
    """(every trained cell in order, the initial population's size, how many children retrain a cell
    trained before them).

    Children are the trainings after the initial population, which REA records as its first
    ``population`` event once that population is trained.
    """
    cells, population = [], None
    for event in events:
        if event[0] == "train":
            cells.append(int(event[1]))
        elif event[0] == "population" and population is None:
            population = len(cells)
    population = len(cells) if population is None else population
    seen, again = set(cells[:population]), 0
    for cell in cells[population:]:
        again += cell in seen
        seen.add(cell)
    return cells, population, again


def trace_setting(oracle, provider, runs: int, seed: int, candidates: int) -> dict:
    """Replay ``runs`` REA runs (``provider`` None: plain REA) and summarise what they trained."""
    per_run = {"trainings": [], "distinct": [], "retrained": [], "child_signal": [], "test": []}
    ends_best, trained = 0, Counter()
    best = set(np.argsort(-np.asarray(oracle.signal), kind="stable")[:BEST_CELLS].tolist())
    for r in range(runs):
        run = run_search("rea", oracle, provider, seed=seed, run=r,
                         candidates=candidates if provider is not None else None, record_events=True)
        cells, population, again = retrained_children(run.events)
        children = cells[population:]
        per_run["trainings"].append(len(cells))
        per_run["distinct"].append(len(set(cells)))
        per_run["retrained"].append(again / max(1, len(children)))
        per_run["child_signal"].append(float(np.mean([oracle.signal[c] for c in children])) if children else np.nan)
        per_run["test"].append(run.test)
        ends_best += int(run.incumbent) in best
        trained.update(cells)
    return {"per_run": {k: np.asarray(v, dtype=np.float64) for k, v in per_run.items()},
            "ends_best": ends_best, "trained": trained, "runs": runs}


def report(settings: dict[str, dict], oracle, most: int, providers: dict | None = None) -> str:
    """The markdown report; ``providers`` (name -> provider, the assisted settings' proxies) adds the
    neighbourhood table of the cell their runs trained most."""
    rows = ["| setting | final test (mean) | trainings / run | distinct cells / run | children that retrain a cell "
            "the run already trained (mean over runs) | mean 12-epoch accuracy of the children | runs ending at a "
            f"best-{BEST_CELLS} cell (12-epoch) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in settings.items():
        p = s["per_run"]
        rows.append(f"| {name} | {p['test'].mean():.2f} | {p['trainings'].mean():.1f} | {p['distinct'].mean():.1f} | "
                    f"{100 * p['retrained'].mean():.0f}% | {np.nanmean(p['child_signal']):.2f} | "
                    f"{s['ends_best']} of {s['runs']} |")
    rows += ["", f"The {most} cells each setting trained most often (trainings per run; 12-epoch / 200-epoch "
             "accuracy):", ""]
    named = set()
    for name, s in settings.items():
        tops = s["trained"].most_common(most)
        named.update(c for c, _ in tops)
        rows.append(f"* {name}: " + "; ".join(
            f"{c} ({n / s['runs']:.2f}; {oracle.signal[c]:.2f} / {oracle.test[c]:.2f})" for c, n in tops))
    if providers:
        assisted = {name: s for name, s in settings.items() if name != PLAIN}
        more, cells = attractor_rows(assisted, providers, oracle)
        rows += ["", *more]
        named.update(cells)
    rows += ["", "Cells:", ""] + [f"* {c}: `{nb201_arch_at(c)}`" for c in sorted(named)]
    return "\n".join(rows)


def attractor_rows(assisted: dict[str, dict], providers: dict, oracle) -> tuple[list[str], set[int]]:
    """The cell the proxy-assisted settings trained most (the hub), and how each proxy ranks its
    one-edge neighbours all together (an ensemble: its rank aggregate over them; ranked among a
    subset of K drawn mutants, an ensemble can order them differently): where it puts the neighbour
    with the best 12-epoch accuracy, and among how many neighbours' full mutant sets it ranks the
    hub first. Also returns the cells the rows name."""
    counts = Counter()
    for s in assisted.values():
        counts.update(s["trained"])
    hub = counts.most_common(1)[0][0]
    around = neighbours(hub)
    best = max(around, key=lambda c: oracle.signal[c])
    n = len(around)
    named = {hub, best}
    rows = [f"Cell {hub} was trained most often by the proxy-assisted settings (12-epoch {oracle.signal[hub]:.2f}); "
            f"its best neighbour by 12-epoch accuracy is {best} ({oracle.signal[best]:.2f}). How each proxy ranks "
            f"the {n} neighbours, all together:", "",
            f"| proxy | rank of {best} (of {n}) | its first three (12-epoch accuracy) | neighbours of {hub} among all "
            f"of whose mutants it ranks {hub} first |", "| --- | ---: | --- | ---: |"]

    def first(provider, cells: list[int]) -> int:
        return cells[int(np.argmax(ranked_values(provider, cells)))]

    for name, provider in providers.items():
        order = np.argsort(-ranked_values(provider, around), kind="stable")
        ranked = [around[i] for i in order]
        named.update(ranked[:3])
        pulled = sum(first(provider, neighbours(c)) == hub for c in around)
        rows.append(f"| {name} | {ranked.index(best) + 1} | "
                    + ", ".join(f"{c} ({oracle.signal[c]:.2f})" for c in ranked[:3]) + f" | {pulled} of {n} |")
    return rows, named


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--proxies", default="gradsign,synflow,recommended")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="search seed (run r uses (seed, r)), as search_proxy_assisted")
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64, help="of the stored proxy scores")
    ap.add_argument("--score-seed", type=int, default=0, help="seed of the stored proxy scores")
    ap.add_argument("--most", type=int, default=4, help="how many most-trained cells to list per setting")
    ap.add_argument("--output", type=Path, help="also write the report here (markdown)")
    args = ap.parse_args(argv)
    try:
        for flag, value, least in (("--runs", args.runs, 1), ("--candidates", args.candidates, 1),
                                   ("--most", args.most, 1), ("--seed", args.seed, 0)):
            if value < least:
                raise GradsignError(f"{flag} must be at least {least}, got {value}")
        if args.output is not None:
            from gradsign.outputs import check_output_file

            check_output_file(args.output)
        with ResultsStore(args.store, read_only=True) as store:
            providers = {p.strip(): benchmark_store_provider(p.strip(), store, batch_size=args.batch_size,
                                                             seed=args.score_seed)
                         for p in args.proxies.split(",") if p.strip()}
        oracle = nb201_oracle(NB201Table.load(), "cifar10")
        settings = {PLAIN: trace_setting(oracle, None, args.runs, args.seed, args.candidates)}
        for name, provider in providers.items():
            settings[f"{PLAIN}+{name} (K={args.candidates}, charged)"] = trace_setting(
                oracle, provider, args.runs, args.seed, args.candidates)
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = (f"REA on NB201 CIFAR-10, {args.runs} runs per setting, seed {args.seed}, {oracle.default_budget:,.0f} "
            f"simulated s, proxy time charged; proxy scores from {args.store} (batch {args.batch_size}, seed "
            f"{args.score_seed}).\n\n" + report(settings, oracle, args.most, providers))
    print(text)
    if args.output is not None:
        written, problem = write_text_safely(args.output, text + "\n")
        if problem:
            print(f"warning: {problem}; the report is in {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
