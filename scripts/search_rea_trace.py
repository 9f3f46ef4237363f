"""What proxy-assisted REA spends its trainings on, run by run, on NB201 CIFAR-10 (an experiment script).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_rea_trace.py --store runs/allcells.sqlite \\
        --proxies gradsign,synflow,recommended --runs 500 \\
        --output results/search_proxy_assisted_recommended/rea_trace.md

Replays the REA settings of ``scripts/search_proxy_assisted.py`` (same seeds, K candidates,
12,000 simulated s, proxy time charged: the runs are the same runs, which the report checks
by printing their final test accuracy) with every training recorded, and reports per setting:
trainings per run, distinct cells trained, the share of trainings that retrain a cell the run
had already trained (REA's aging population re-proposes a parent's mutants, and a proxy always
prefers the same one), the mean 12-epoch accuracy of the children, how many runs end at one of
the two cells with the best 12-epoch accuracy, and the cells trained most often across runs; then
how each proxy ranks the neighbours of the cell the assisted runs trained most.
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
from gradsign.storage import ResultsStore
from gradsign.workflows.search_store import benchmark_store_provider


def trace_setting(oracle, provider, runs: int, seed: int, candidates: int) -> dict:
    """Replay ``runs`` REA runs (``provider`` None: plain REA) and summarise what they trained."""
    per_run = {"trainings": [], "distinct": [], "retrained": [], "child_signal": [], "test": []}
    ends_top2, trained = 0, Counter()
    top2 = set(np.argsort(-np.asarray(oracle.signal), kind="stable")[:2].tolist())
    for r in range(runs):
        run = run_search("rea", oracle, provider, seed=seed, run=r,
                         candidates=candidates if provider is not None else None, record_events=True)
        cells = [int(e[1]) for e in run.events if e[0] == "train"]
        population = 10  # REA's initial population (NB201 settings), trained before any child
        seen, again = set(cells[:population]), 0
        for cell in cells[population:]:
            again += cell in seen
            seen.add(cell)
        children = cells[population:]
        per_run["trainings"].append(len(cells))
        per_run["distinct"].append(len(set(cells)))
        per_run["retrained"].append(again / max(1, len(children)))
        per_run["child_signal"].append(float(np.mean([oracle.signal[c] for c in children])) if children else np.nan)
        per_run["test"].append(run.test)
        ends_top2 += int(run.incumbent) in top2
        trained.update(cells)
    return {"per_run": {k: np.asarray(v, dtype=np.float64) for k, v in per_run.items()},
            "ends_top2": ends_top2, "trained": trained, "runs": runs}


def report(settings: dict[str, dict], oracle, most: int, providers: dict | None = None) -> str:
    rows = ["| setting | final test (mean) | trainings / run | distinct cells / run | trainings that retrain a cell "
            "already trained | mean 12-epoch accuracy of the children | runs ending at a best-2 cell (12-epoch) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in settings.items():
        p = s["per_run"]
        rows.append(f"| {name} | {p['test'].mean():.2f} | {p['trainings'].mean():.1f} | {p['distinct'].mean():.1f} | "
                    f"{100 * p['retrained'].mean():.0f}% | {np.nanmean(p['child_signal']):.2f} | "
                    f"{s['ends_top2']} of {s['runs']} |")
    rows += ["", f"The {most} cells each setting trained most often (trainings per run; 12-epoch / 200-epoch "
             "accuracy):", ""]
    named = set()
    for name, s in settings.items():
        tops = s["trained"].most_common(most)
        named.update(c for c, _ in tops)
        rows.append(f"* {name}: " + "; ".join(
            f"{c} ({n / s['runs']:.2f}; {oracle.signal[c]:.2f} / {oracle.test[c]:.2f})" for c, n in tops))
    if providers:
        more, cells = attractor_rows(settings, providers, oracle)
        rows += ["", *more]
        named.update(cells)
    rows += ["", "Cells:", ""] + [f"* {c}: `{nb201_arch_at(c)}`" for c in sorted(named)]
    return "\n".join(rows)


def attractor_rows(settings: dict[str, dict], providers: dict, oracle) -> tuple[list[str], set[int]]:
    """Where the proxy-assisted runs go next from the cell they trained most: how each proxy ranks
    that cell's 24 one-edge neighbours (an ensemble: its rank aggregate over them), and where it
    puts the neighbour with the best 12-epoch accuracy. Also returns the cells the rows name."""
    assisted = Counter()
    for name, s in settings.items():
        if name != "rea":
            assisted.update(s["trained"])
    hub = assisted.most_common(1)[0][0]
    neighbours = [nb201_index_of(a) for a in nb201_arch_at(hub).neighbours()]
    best = max(neighbours, key=lambda c: oracle.signal[c])
    named = {hub, best}
    rows = [f"From cell {hub} (trained most often by the proxy-assisted settings; 12-epoch {oracle.signal[hub]:.2f}), "
            f"its best neighbour by 12-epoch accuracy is {best} ({oracle.signal[best]:.2f}). How each proxy ranks "
            "the 24 neighbours:", "",
            f"| proxy | rank of {best} (of 24) | its first three (12-epoch accuracy) | neighbours of {hub} among whose "
            f"24 mutants it ranks {hub} first |", "| --- | ---: | --- | ---: |"]

    def first(provider, cells: list[int]) -> int:
        return cells[int(np.argmax(ranked_values(provider, cells)))]

    for name, provider in providers.items():
        order = np.argsort(-ranked_values(provider, neighbours), kind="stable")
        ranked = [neighbours[i] for i in order]
        named.update(ranked[:3])
        pulled = sum(first(provider, [nb201_index_of(a) for a in nb201_arch_at(c).neighbours()]) == hub
                     for c in neighbours)
        rows.append(f"| {name} | {ranked.index(best) + 1} | "
                    + ", ".join(f"{c} ({oracle.signal[c]:.2f})" for c in ranked[:3]) + f" | {pulled} of 24 |")
    return rows, named


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--proxies", default="gradsign,synflow,recommended")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="search seed (run r uses (seed, r)), as search_proxy_assisted")
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--most", type=int, default=4, help="how many most-trained cells to list per setting")
    ap.add_argument("--output", type=Path, help="also write the report here (markdown)")
    args = ap.parse_args(argv)
    try:
        for flag, value in (("--runs", args.runs), ("--candidates", args.candidates), ("--most", args.most)):
            if value < 1:
                raise GradsignError(f"{flag} must be at least 1, got {value}")
        if args.output is not None:
            from gradsign.outputs import check_output_file

            check_output_file(args.output)
        with ResultsStore(args.store, read_only=True) as store:
            providers = {p.strip(): benchmark_store_provider(p.strip(), store)
                         for p in args.proxies.split(",") if p.strip()}
        oracle = nb201_oracle(NB201Table.load(), "cifar10")
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = {"rea": trace_setting(oracle, None, args.runs, args.seed, args.candidates)}
    for name, provider in providers.items():
        settings[f"rea+{name} (K={args.candidates}, charged)"] = trace_setting(
            oracle, provider, args.runs, args.seed, args.candidates)
    text = (f"REA on NB201 CIFAR-10, {args.runs} runs per setting, seed {args.seed}, 12,000 simulated s, proxy time "
            f"charged; proxy scores from {args.store}.\n\n" + report(settings, oracle, args.most, providers))
    if args.output is not None:
        args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
