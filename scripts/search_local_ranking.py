"""How proxies rank cells *locally* on NB201: among a cell and its one-edge neighbours (an experiment script).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_local_ranking.py --store runs/allcells.sqlite \\
        --results results/search_proxy_assisted_recommended --setting "rea+recommended(K=10_charged)" \\
        --output results/search_proxy_assisted_recommended/local_ranking.md

A mutation-based search (REA) compares the proxy scores of a parent's mutants, not
of the whole space, so a proxy's space-wide Spearman can overstate how well it
steers such a search. For ``--cells`` random cells (seeded), this script ranks each
cell together with its 24 one-edge neighbours by every proxy (an ensemble: its rank
aggregate over those 25 cells, as a search step would) and reports the mean
Spearman with the 12-epoch ``cifar10-valid`` accuracy the search observes and with
the 200-epoch test accuracy it reports. Then what a proxy-filtered REA step does near the top
(``--parents`` best cells by 12-epoch accuracy, ``--draws`` sets of ``--candidates`` random
one-edge mutants each: how the mutant each proxy picks compares with its parent and with the
best of the set). Then, for the cells most runs of
``--setting`` (a per-setting JSON of ``scripts/search_proxy_assisted.py``) ended
at, and the two best cells of the space, where each proxy ranks the cell in its own
neighbourhood and which neighbour it prefers. Scores come from the results store,
as the searches read them (every cell must be there).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.errors import GradsignError
from gradsign.search import nb201_oracle, ranked_values
from gradsign.spaces.nb201 import nb201_arch_at, nb201_index_of
from gradsign.storage import ResultsStore
from gradsign.workflows.search_store import benchmark_store_provider


def neighbourhood(index: int) -> np.ndarray:
    """``index`` first, then its 24 one-edge neighbours (benchmark indices)."""
    return np.array([index] + [nb201_index_of(a) for a in nb201_arch_at(index).neighbours()])


def mutant_pick_rows(providers: list, oracle, parents: int, draws: int, k: int, seed: int) -> list[str]:
    """What a proxy-filtered REA step does near the top: for each of the ``parents`` best cells by
    12-epoch accuracy, ``draws`` sets of ``k`` one-edge mutants drawn uniformly with replacement (as
    REA's mutation does); each proxy picks the mutant it ranks first within the set (an ensemble:
    its rank aggregate over the set). Reported: the picked mutant's 12-epoch accuracy relative to
    the parent's, how often it beats the parent, and how often it is the set's best."""
    rng = np.random.default_rng(seed)
    tops = np.argsort(-oracle.signal)[:parents]
    picks = {p.name: [] for p in providers}
    random_gain, random_beat, best_gain, beat_any = [], [], [], []
    for parent in tops:
        nb = neighbourhood(int(parent))[1:]
        for _ in range(draws):
            cand = nb[rng.integers(0, len(nb), size=k)]
            sig = oracle.signal[cand] - oracle.signal[parent]
            random_gain.append(float(sig.mean()))
            random_beat.append(float((sig > 0).mean()))
            best_gain.append(float(sig.max()))
            beat_any.append(bool(sig.max() > 0))
            for prov in providers:
                chosen = int(np.argmax(ranked_values(prov, cand)))
                picks[prov.name].append((float(sig[chosen]), bool(sig[chosen] > 0), bool(sig[chosen] == sig.max())))
    lines = ["", f"Picking one of K = {k} mutants of good parents: the {parents} best cells by 12-epoch accuracy, "
             f"{draws} draws of K one-edge mutants each (seed {seed}). Pick's 12-epoch accuracy minus the parent's "
             f"(mean), share of picks better than the parent, share of picks that are the best of their K:", "",
             "| pick by | mean change of 12-epoch accuracy | better than the parent | best of the K |",
             "| --- | ---: | ---: | ---: |",
             f"| a random mutant | {np.mean(random_gain):+.2f} | {np.mean(random_beat):.3f} | - |",
             f"| the best mutant (hindsight) | {np.mean(best_gain):+.2f} | {np.mean(beat_any):.3f} | 1.000 |"]
    for name, rows in picks.items():
        gain, beats, best = (np.array(col) for col in zip(*rows))
        lines.append(f"| {name} | {gain.mean():+.2f} | {beats.mean():.3f} | {best.mean():.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--proxies", default="gradsign,synflow,recommended")
    ap.add_argument("--cells", type=int, default=400, help="random cells whose neighbourhoods are ranked")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", type=Path, help="a scripts/search_proxy_assisted.py output folder")
    ap.add_argument("--setting", help="the setting (JSON file stem) whose most frequent final cells are examined")
    ap.add_argument("--top", type=int, default=5, help="how many of those cells")
    ap.add_argument("--parents", type=int, default=200,
                    help="the best cells by 12-epoch accuracy used as parents in the mutant-pick table")
    ap.add_argument("--draws", type=int, default=50, help="sets of mutants drawn per parent")
    ap.add_argument("--candidates", type=int, default=10, help="mutants per set (a search step's K)")
    ap.add_argument("--output", type=Path, help="also write the report here (markdown)")
    args = ap.parse_args(argv)
    try:
        for flag, value, most in (("--cells", args.cells, 15_625), ("--parents", args.parents, 15_625),
                                  ("--draws", args.draws, None), ("--candidates", args.candidates, 24)):
            if value < 1 or (most is not None and value > most):
                raise GradsignError(f"{flag} must be between 1 and {most:,}, got {value}" if most
                                    else f"{flag} must be at least 1, got {value}")
        if args.output is not None:
            from gradsign.outputs import check_output_file

            check_output_file(args.output)
        runs = None
        if args.setting:
            if args.results is None:
                raise GradsignError("--setting needs --results")
            path = args.results / f"{args.setting}.json"
            if not path.is_file():
                raise GradsignError(f"--setting: {path} does not exist")
            try:
                runs = json.loads(path.read_text())["runs"]
                [int(r["incumbent"]) for r in runs]
            except (ValueError, KeyError, TypeError) as exc:
                raise GradsignError(f"--setting: {path} is not a search results file with runs and their "
                                    f"incumbents ({type(exc).__name__}: {exc})") from None
        with ResultsStore(args.store, read_only=True) as store:
            providers = [benchmark_store_provider(p.strip(), store) for p in args.proxies.split(",") if p.strip()]
        oracle = nb201_oracle(NB201Table.load(), "cifar10")
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    cells = rng.choice(len(oracle.test), size=args.cells, replace=False)
    local = {p.name: ([], []) for p in providers}
    for cell in cells:
        nb = neighbourhood(int(cell))
        for prov in providers:
            values = ranked_values(prov, nb)
            local[prov.name][0].append(stats.spearmanr(values, oracle.signal[nb], nan_policy="omit").statistic)
            local[prov.name][1].append(stats.spearmanr(values, oracle.test[nb], nan_policy="omit").statistic)
    lines = [f"Local ranking on NB201 CIFAR-10: {args.cells} random cells (seed {args.seed}), each ranked with its 24 "
             f"one-edge neighbours; proxies from {args.store}. Space-wide: every cell ranked at once (an ensemble's rank aggregate over "
             "the space; a non-finite score ranks last).", "",
             "| proxy | space-wide rho / tau vs 200-epoch test (all 15,625 cells) | mean local rho vs 12-epoch valid "
             "(observed) | mean local rho vs 200-epoch test |", "| --- | ---: | ---: | ---: |"]
    everything = np.arange(len(oracle.test))
    for prov in providers:
        values = ranked_values(prov, everything)
        rho = stats.spearmanr(values, oracle.test, nan_policy="omit").statistic
        tau = stats.kendalltau(values, oracle.test, nan_policy="omit").statistic
        obs, test = (float(np.nanmean(v)) for v in local[prov.name])
        lines.append(f"| {prov.name} | {rho:.4f} / {tau:.4f} | {obs:.3f} | {test:.3f} |")

    lines += mutant_pick_rows(providers, oracle, args.parents, args.draws, args.candidates, args.seed)

    best = [int(i) for i in np.argsort(-oracle.test)[:2]]
    examined = list(best)
    if runs is not None:
        ends = Counter(int(r["incumbent"]) for r in runs)
        lines += ["", f"Final cells of `{args.setting}` ({len(runs)} runs), most frequent first:", ""]
        lines += [f"* cell {i}: {n} runs" for i, n in ends.most_common(args.top)]
        examined += [i for i, _ in ends.most_common(args.top) if i not in examined]
    lines += ["", "Each examined cell (by benchmark index) in its own neighbourhood (rank 1 = preferred of 25; test / "
              "valid = 200-epoch test and 12-epoch valid accuracy), and the neighbour each proxy prefers:", "",
              "| cell | test / valid | rank by test | rank by valid | " + " | ".join(
                  f"rank by {p.name} | {p.name}'s top neighbour (test / valid)" for p in providers) + " |",
              "| --- | ---: | ---: | ---: |" + " ---: | --- |" * len(providers)]
    named = []
    for cell in examined:
        nb = neighbourhood(cell)
        row = [str(cell), f"{oracle.test[cell]:.2f} / {oracle.signal[cell]:.2f}",
               f"{stats.rankdata(-oracle.test[nb])[0]:.0f}", f"{stats.rankdata(-oracle.signal[nb])[0]:.0f}"]
        named.append(cell)
        for prov in providers:
            values = ranked_values(prov, nb)
            top = int(nb[1 + np.argmax(values[1:])])  # the cell itself (position 0) is no neighbour
            named.append(top)
            row += [f"{stats.rankdata(-values)[0]:.0f}", f"{top} ({oracle.test[top]:.2f} / {oracle.signal[top]:.2f})"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Cells:", ""] + [f"* {i}: `{nb201_arch_at(i).to_string()}`" for i in sorted(set(named))]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output is not None:
        from gradsign.outputs import write_text_safely

        written, problem = write_text_safely(args.output, text)  # its folder is made
        if problem:
            print(f"warning: {problem}; the report is in {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
