"""Small run outputs for the report tests, written into a temporary folder (no benchmark data needed).

The committed results under ``results/`` and ``docs/predictors/`` are older
outputs (no provenance, no per-cell accuracy in scores.csv, searches saved
without trajectories); these synthetic ones have everything a current run
writes, so both paths of every loader are exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gradsign.evaluation import summarize_correlation
from gradsign.reports.provenance import collect

REPO = Path(__file__).resolve().parents[1]
COMMITTED_EVALUATE = REPO / "results" / "eval_nb101"
COMMITTED_RANK = REPO / "results" / "rank_zoo"
COMMITTED_PREDICTORS = REPO / "docs" / "predictors" / "nb201_c10_naslib.csv"


def evaluate_run(folder: Path, *, n: int = 60, seed: int = 0, batch_size: int = 64, dataset: str = "cifar10",
                 data_file: Path | None = None) -> Path:
    """An evaluate output: summary.json (with provenance) and scores.csv with the accuracy column."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(60, 94, size=n)
    scores = {"good": acc + rng.normal(0, 4, size=n), "weak": acc + rng.normal(0, 25, size=n),
              "noise": rng.normal(size=n)}
    scores["noise"][:3] = np.nan  # cells a proxy could not score
    proxies = {}
    for name, values in scores.items():
        s = summarize_correlation(values, acc, n_resamples=50, seed=seed)
        proxies[name] = {"spearman": s.spearman, "spearman_ci": list(s.spearman_ci), "kendall": s.kendall,
                         "kendall_ci": list(s.kendall_ci), "top10_precision": s.top10_precision,
                         "seconds_per_arch": float(rng.uniform(0.001, 2)), "n_nan": int(s.n_nan), "n_failed": 0,
                         "failures_by_reason": {}, "higher_is_better": True, "literature_spearman": None}
    summary = {"space": "nb201", "dataset": dataset, "target": "test", "target_description": "synthetic accuracy",
               "n_archs": n, "seed": seed, "batch_size": batch_size, "sampling": "random",
               "data": f"{dataset} synthetic minibatch", "noise_ceiling": None, "proxies": proxies,
               "provenance": collect(["gradsign", "evaluate", "--seed", str(seed)],
                                     [data_file] if data_file is not None else [], [seed], None, device="cpu",
                                     threads=1)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    frame = pd.DataFrame({"arch": [f"cell{i}" for i in range(n)], "accuracy": acc, **scores})
    frame.to_csv(folder / "scores.csv", index=False)
    return folder


def search_run(folder: Path) -> Path:
    """Search results documents with trajectories (two settings on a toy benchmark)."""
    from gradsign.search import run_searches

    from search_fakes import toy_oracle

    oracle = toy_oracle(budget=300.0)
    folder.mkdir(parents=True, exist_ok=True)
    for algo in ("random", "rea"):
        run_searches(algo, oracle, runs=6, seed=0).to_json(folder / f"runs_{algo}.json")
    return folder
