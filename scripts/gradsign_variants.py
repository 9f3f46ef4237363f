"""GradSign's two reductions and two batch sizes on NB201 CIFAR-10: do they rank cells alike?
(an experiment script, not a test)

    .venv/bin/python scripts/gradsign_variants.py --store runs/store.sqlite \\
        --output results/search_proxy_assisted/gradsign_variants.md

The GradSign paper's correlations use the sum over weights (its Algorithm 1;
``gradsign``); its search scripts load a file of the *mean* over weights at
batch 128 (``gradsign_mean``; docs/search.md). This script compares, on the NB201
cells the store has at both batch sizes (CIFAR-10 train minibatch, seed 0):

* Spearman between the variants and between the batch sizes, cell by cell;
* each variant's Spearman (95% paired-bootstrap CI) with what an NB201 search
  observes (``cifar10-valid`` 12-epoch validation accuracy) and reports
  (``cifar10`` 200-epoch test accuracy).

Where the store has no ``gradsign_mean`` for a cell it is derived from the
stored ``gradsign`` (gradsign / Conv2d+Linear weight count, exact unless a
per-sample gradient was NaN; ``count_nb201_prunable_weights``); the output says
how many were derived, and how far derived values are from stored ones.
Fill the batch-128 cells first, e.g.::

    gradsign evaluate --space nb201 --dataset cifar10 --proxies gradsign,gradsign_mean --batch-size 128 \\
        --sample 200 --seed 0 --backend process --workers 1 --store runs/store.sqlite --output runs/eval_c10_gs128
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from gradsign.benchmarks.nb201 import NB201Table
from gradsign.errors import GradsignError
from gradsign.evaluation.metrics import bootstrap_ci
from gradsign.spaces import count_nb201_prunable_weights, nb201_index_of
from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup


def variants(store: ResultsStore, batch_size: int, seed: int) -> tuple[dict[str, float], dict[str, float], str]:
    """gradsign and gradsign_mean at one batch size (the mean derived where not stored), and a note."""
    setup = ScoringSetup(space="nb201", dataset="cifar10", proxies=("gradsign", "gradsign_mean"),
                         batch_size=batch_size, seed=seed)
    keys = Scorer(setup, None).keys  # loads the minibatch once: the key records how it was sampled
    total, mean = ({r.arch: float(r.value) for r in store.iter_key(keys[p]) if r.status == "ok"}
                   for p in ("gradsign", "gradsign_mean"))
    worst = max((abs(total[a] / count_nb201_prunable_weights(a) - v) / abs(v) for a, v in mean.items()
                 if a in total and v != 0), default=0.0)
    derived = 0
    for arch, value in total.items():
        if arch not in mean:
            mean[arch] = value / count_nb201_prunable_weights(arch)
            derived += 1
    note = (f"batch {batch_size}: gradsign for {len(total):,} cells; gradsign_mean stored for "
            f"{len(mean) - derived:,}, derived for {derived:,} (derived vs stored, largest relative "
            f"difference {worst:.1e})")
    return total, mean, note


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--batch-sizes", default="64,128", help="two batch sizes to compare")
    ap.add_argument("--seed", type=int, default=0, help="minibatch seed of the stored scores")
    ap.add_argument("--output", type=Path, default=None, help="Markdown file to write (printed too)")
    args = ap.parse_args(argv)
    try:
        b1, b2 = (int(b) for b in args.batch_sizes.split(","))
        if not args.store.is_file():
            raise GradsignError(f"no results store at {args.store}")
        with ResultsStore(args.store) as store:
            s1, m1, note1 = variants(store, b1, args.seed)
            s2, m2, note2 = variants(store, b2, args.seed)
        table = NB201Table.load()
    except (GradsignError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cells = sorted(set(s1) & set(s2))
    if len(cells) < 10:
        print(f"error: only {len(cells)} cells have gradsign at both batch {b1} and {b2}; score more first "
              "(see this script's docstring)", file=sys.stderr)
        return 2
    idx = np.array([nb201_index_of(a) for a in cells])
    observed = np.asarray(table.column("cifar10-valid/valid_acc@12"), dtype=np.float64)[idx]
    reported = np.asarray(table.column("cifar10/test_acc@200"), dtype=np.float64)[idx]
    cols = {f"gradsign (sum), batch {b1}": s1, f"gradsign_mean, batch {b1}": m1,
            f"gradsign (sum), batch {b2}": s2, f"gradsign_mean, batch {b2}": m2}
    x = {name: np.array([d[a] for a in cells]) for name, d in cols.items()}

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return float(stats.spearmanr(a, b).statistic)

    names = list(x)
    md = [f"NB201 CIFAR-10, the {len(cells)} cells with GradSign at batch {b1} and {b2} (train minibatch, "
          f"seed {args.seed}). {note1}; {note2}.", "",
          "### Spearman between the variants, cell by cell", "",
          "| | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    md += [f"| {r} | " + " | ".join(f"{rho(x[r], x[c]):.3f}" for c in names) + " |" for r in names]
    md += ["", "### Spearman with accuracy [95% paired-bootstrap CI]", "",
           "| variant | 12-epoch valid (what a search observes) | 200-epoch test (what it reports) |",
           "| --- | --- | --- |"]
    def with_ci(a: np.ndarray, b: np.ndarray) -> str:
        lo, hi = bootstrap_ci(rho, a, b)
        return f"{rho(a, b):.3f} [{lo:.3f}, {hi:.3f}]"

    for name in names:
        md.append(f"| {name} | {with_ci(x[name], observed)} | {with_ci(x[name], reported)} |")
    text = "\n".join(md)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
