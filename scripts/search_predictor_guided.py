"""Predictor-guided search vs the plain and proxy-assisted searches on NB201 (an experiment script, not a test).

    .venv/bin/python scripts/search_predictor_guided.py --runs 100 --output results/search_predictor_guided

For each dataset (NB201 protocol: 12-epoch validation accuracy seen, its
simulated training time paid, 200-epoch test accuracy of the incumbent
reported; budgets 12,000 / 24,000 / 72,000 s as in the NB201 paper's scripts,
scaled for CIFAR-100 and ImageNet16-120, see docs/search.md) it runs, with the
same seeds (run r of every setting uses (seed, r)):

* the four plain algorithms: random, rea, reinforce, bohb;
* random and rea assisted by NASWOT (K = 10 candidates, best proxy kept),
  charged 1 s per scored cell -- the proxy-assisted searches;
* the predictor-guided search (``gradsign.search.predictor_guided``) with
  ``forest`` (one-hot only: no zero-cost features), ``omni`` (one-hot + NASWOT +
  parameter count, boosted trees) and ``zc:naswot`` (no model: mutations of the
  best cells ranked by NASWOT alone); zero-cost features charged 1 s per cell,
  and omni also with the features free.

Zero-cost features for every cell come from the NB201 table's reference
columns (NASWOT by its authors, parameter count), the only zero-cost scores
covering all 15,625 cells here; 1 s per cell is the cost docs/search.md uses
for the same scores. Writes one JSON per setting, ``table.md`` (and prints
it) and ``trajectory_<dataset>.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.predictors import FeatureProvider
from gradsign.predictors.features import nb201_reference_zerocost
from gradsign.search import (ArrayProxyProvider, format_table, get_search, nb201_oracle, plot_trajectories,
                             results_table, run_searches)

ZC_SECONDS = 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--datasets", default="cifar10,cifar100,ImageNet16-120")
    ap.add_argument("--output", type=Path, default=Path("results/search_predictor_guided"))
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)

    table = NB201Table.load()
    zc = nb201_reference_zerocost()
    naswot = np.asarray(table.column("naswot_score"), dtype=np.float64)
    # 341 cells have no input-output path (no NASWOT score): they rank last
    proxy = ArrayProxyProvider(np.where(np.isnan(naswot), -np.inf, naswot), seconds=ZC_SECONDS, name="naswot")
    md = [f"runs per setting: {args.runs}, seed {args.seed}; zero-cost features/proxy charged {ZC_SECONDS:g} s "
          "per cell unless marked free", ""]
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        oracle = nb201_oracle(table, dataset)
        fp = FeatureProvider("nb201", dataset, zerocost=zc)
        settings = []
        for algo in ("random", "rea", "reinforce", "bohb"):
            settings.append((algo, dict(algo=algo)))
        for algo in ("random", "rea"):
            settings.append((f"{algo}+naswot", dict(algo=algo, provider=proxy, candidates=10)))
        for pred in ("forest", "omni", "zc:naswot"):
            settings.append((f"predictor[{pred}]", dict(algo=get_search("predictor", features=fp, predictor=pred,
                                                                            zc_seconds=ZC_SECONDS))))
        settings.append(("predictor[omni] free", dict(algo=get_search("predictor", features=fp, predictor="omni",
                                                                       zc_seconds=ZC_SECONDS), charge_proxy=False)))
        results = []
        for name, kw in settings:
            start = time.perf_counter()
            algo = kw.pop("algo")
            res = run_searches(algo, oracle, runs=args.runs, seed=args.seed, **kw)
            results.append(res)
            res.to_json(args.output / f"{dataset}_{res.label.replace(' ', '').replace(',', '_')}.json", trajectories=False)
            print(f"{dataset} {res.label}: {res.summary()['mean']:.2f} ({time.perf_counter() - start:.0f} s)", flush=True)
        best = float(np.nanmax(oracle.test))
        plot_trajectories([r for r in results if r.algo in ("rea", "predictor") or r.proxy],
                          args.output / f"trajectory_{dataset}.png", reference=best,
                          title=f"NB201 {dataset}: mean incumbent test accuracy ({args.runs} runs)")
        md += [f"## {dataset} (best in space {best:.2f}; budget {oracle.default_budget:g} s)", "",
               format_table(results_table(results)), ""]
        for note in sorted({n for r in results for n in r.notes}):
            md.append(f"* {note}")
        md.append("")
    text = "\n".join(md)
    (args.output / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
