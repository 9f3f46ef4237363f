"""How much a proxy's correlation with accuracy moves with the seed (a script, not a test).

    .venv/bin/python scripts/proxy_seed_spread.py --proxy grasp --seeds 0,1,2,3,4 --sample 1000 \\
        --store runs/full.sqlite --backend process --workers 2 --output results/seed_spread_nb201_cifar10_grasp

A data-dependent proxy is computed on ONE minibatch and ONE random initialization per cell,
and every cell of a run shares the minibatch (as in the literature's runs). The bootstrap
interval of ``gradsign evaluate`` resamples cells, so it says nothing about how the figure
would move had another minibatch and initialization been drawn -- which is what separates
one published run from another. This script scores the SAME cells (drawn exactly as
``gradsign evaluate --sample N --seed SAMPLE_SEED`` draws them) under several seeds (the seed
sets the minibatch and the initialization, as ``--seed`` does everywhere), through the
results store (so it resumes, and reuses what ``evaluate`` already computed), and reports per
seed: Spearman's rho with the benchmark accuracy and its bootstrap interval over cells; then
the mean, standard deviation and range over seeds, and the seed-to-seed agreement of the
scores themselves (Spearman between the score vectors of two seeds, cell by cell).

Writes OUTPUT/spread.md (the tables), spread.json, scores.csv (arch, then one column per
seed: our computed scores, no benchmark accuracy) and spread.png (rho per seed with its
interval; the literature figure as a line where there is one).
"""

from __future__ import annotations

import argparse
import itertools
import json
import textwrap
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gradsign.errors import GradsignError
from gradsign.evaluation import spearman, summarize_correlation
from gradsign.evaluation.literature import LITERATURE_SOURCE, literature_spearman
from gradsign.execution import get_backend
from gradsign.proxies import get_proxy
from gradsign.spaces import get_space
from gradsign.storage import ResultsStore
from gradsign.workflows.evaluate import draw_archs
from gradsign.workflows.ground_truth import ground_truth
from gradsign.workflows.scoring import Scorer, ScoringSetup


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' (inclusive) -> distinct non-negative ints, in the order given."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(part)]
        except ValueError:
            raise SystemExit(f"error: --seeds: {part!r} is not a seed or a range like 0-4") from None
        seeds.extend(v for v in values if v not in seeds)
    if len(seeds) < 2 or min(seeds) < 0:
        raise SystemExit("error: --seeds needs at least two distinct non-negative seeds")
    return seeds


def spread(scores: pd.DataFrame, accuracy: np.ndarray, *, higher_is_better: bool, n_bootstrap: int) -> dict:
    """Per-seed correlation summaries, their spread, and seed-to-seed agreement of the scores.

    ``scores``: one column per seed (cells as rows, aligned with ``accuracy``).
    """
    per_seed = []
    for seed in scores.columns:
        s = summarize_correlation(scores[seed].to_numpy(np.float64), accuracy, higher_is_better=higher_is_better,
                                  n_resamples=n_bootstrap, seed=0)
        per_seed.append({"seed": int(seed), "spearman": s.spearman, "spearman_ci": list(s.spearman_ci),
                         "kendall": s.kendall, "top10_precision": s.top10_precision, "nan": s.n_nan})
    rhos = np.array([r["spearman"] for r in per_seed])
    # spearman() leaves out the cells where either seed's score is not finite
    pairs = [spearman(scores[a], scores[b]) for a, b in itertools.combinations(scores.columns, 2)]
    return {
        "cells": int(len(scores)),
        "per_seed": per_seed,
        "spearman_mean": float(rhos.mean()),
        "spearman_sd": float(rhos.std(ddof=1)),
        "spearman_min": float(rhos.min()),
        "spearman_max": float(rhos.max()),
        "score_agreement_mean": float(np.mean(pairs)),
        "score_agreement_min": float(np.min(pairs)),
    }


def format_markdown(result: dict, title: str, literature: float | None) -> str:
    lines = [f"# {title}", "",
             "| seed | Spearman [95% CI over cells] | Kendall | top-10% | NaN |", "|---|---|---|---|---|"]
    for r in result["per_seed"]:
        lo, hi = r["spearman_ci"]
        lines.append(f"| {r['seed']} | {r['spearman']:.3f} [{lo:.3f}, {hi:.3f}] | {r['kendall']:.3f} "
                     f"| {r['top10_precision']:.2f} | {r['nan']} |")
    lines += ["",
              f"Over {len(result['per_seed'])} seeds on the same {result['cells']} cells: Spearman mean "
              f"{result['spearman_mean']:.3f}, sd {result['spearman_sd']:.3f}, range "
              f"[{result['spearman_min']:.3f}, {result['spearman_max']:.3f}]"
              + (f"; literature {literature:.2f}." if literature is not None else "."),
              f"Seed-to-seed agreement of the scores (Spearman between two seeds' scores, cell by cell): "
              f"mean {result['score_agreement_mean']:.3f}, lowest {result['score_agreement_min']:.3f}."]
    return "\n".join(lines) + "\n"


def plot(result: dict, title: str, literature: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = [r["seed"] for r in result["per_seed"]]
    rho = np.array([r["spearman"] for r in result["per_seed"]])
    ci = np.array([r["spearman_ci"] for r in result["per_seed"]])
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.errorbar(range(len(seeds)), rho, yerr=[rho - ci[:, 0], ci[:, 1] - rho], fmt="o", capsize=4,
                label="ours, one seed (95% CI over cells)")
    ax.axhline(result["spearman_mean"], color="C0", lw=0.8, ls=":", label="mean over seeds")
    if literature is not None:
        ax.axhline(literature, color="C3", lw=1, ls="--", label=f"literature ({literature:.2f})")
    ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
    ax.set_xlabel("seed (minibatch and initialization)")
    ax.set_ylabel("Spearman rho with accuracy")
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--seeds", default="0-4", help="e.g. 0,1,2 or 0-4 (at least two)")
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--sample", type=int, default=1000, help="cells, drawn as `gradsign evaluate --sample N` draws")
    ap.add_argument("--sample-seed", type=int, default=0, help="the evaluate --seed whose cells to use")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--store", type=Path, required=True, help="results store (resumable; reuses stored scores)")
    ap.add_argument("--backend", default="inprocess")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    try:
        spec = get_proxy(args.proxy)
        truth = ground_truth(args.space, args.dataset, "test", args.data_dir)
        space = get_space(args.space)
        archs = [space.to_string(a) for a in draw_archs(space, args.sample, args.sample_seed, truth.archs)]
        backend = get_backend(args.backend, args.workers)
        columns = {}
        with ResultsStore(args.store) as store:
            for seed in seeds:
                setup = ScoringSetup(space=args.space, dataset=args.dataset, proxies=(args.proxy,),
                                     batch_size=args.batch_size, seed=seed, data_dir=args.data_dir)
                table = Scorer(setup, store).score_archs(archs, progress=not args.no_progress,
                                                         description=f"{args.proxy} seed {seed}", backend=backend)
                columns[seed] = table.scores[args.proxy]
        accuracy = truth.accuracy(archs)
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores = pd.DataFrame(columns, index=archs)
    result = spread(scores, accuracy, higher_is_better=spec.higher_is_better, n_bootstrap=args.bootstrap)
    literature = literature_spearman(args.proxy, args.dataset) if args.space == "nb201" else None
    title = (f"{args.proxy} on {args.space} / {args.dataset}: {len(archs)} cells (evaluate --sample {args.sample} "
             f"--seed {args.sample_seed}), batch {args.batch_size}, seeds {', '.join(map(str, seeds))}")
    result.update(proxy=args.proxy, space=args.space, dataset=args.dataset, batch_size=args.batch_size,
                  sample=args.sample, sample_seed=args.sample_seed, target=truth.description,
                  literature=literature, literature_source=LITERATURE_SOURCE if literature is not None else None)
    args.output.mkdir(parents=True, exist_ok=True)
    text = format_markdown(result, title, literature)
    (args.output / "spread.md").write_text(text)
    (args.output / "spread.json").write_text(json.dumps(result, indent=2) + "\n")
    scores.rename(columns=lambda s: f"seed{s}").rename_axis("arch").to_csv(args.output / "scores.csv")
    plot(result, title, literature, args.output / "spread.png")
    print(text)
    print(f"wrote {args.output}/spread.md, spread.json, scores.csv, spread.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
