"""Is the few-shot rule's one-standard-error step what keeps it short of the targets? A leave-one-benchmark-out check.

The few-shot rule (``gradsign.fewshot_ensemble``, docs/ensembles.md) departs from the zero-shot
prior only as far as leave-one-out CV on the k labelled cells clearly supports: it takes the
largest ridge penalty whose CV error is within one standard error of the smallest. That factor
was frozen before the study. This script asks whether another factor (``--factors``, default
1, 0.5 and 0, the last taking the CV minimum) would do better, choosing it the way the zero-shot
combination is chosen: for each benchmark of the leave-one-benchmark-out set, the factor with
the best mean Spearman (over every k and draw) on the *other* benchmarks, reported on it. The
draws, test cells and priors are those of ``scripts/select_ensemble.py`` (the priors read from
its ``summary.json``), so the factor-1 rows reproduce its few-shot table.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/fewshot_rule_variants.py

writes ``results/ensemble_selection/fewshot_rule_variants.md`` and ``.json`` (about 3 minutes on
one core).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import select_ensemble as selection  # noqa: E402  (the benchmark set and loaders of the main study)

from gradsign.errors import GradsignError  # noqa: E402
from gradsign.evaluation.ensemble_selection import fewshot_study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_factors(text: str) -> list[float]:
    try:
        factors = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise SystemExit(f"--factors: not a list of numbers: {text!r}") from None
    if not factors or any(not np.isfinite(f) or f < 0 for f in factors) or len(set(factors)) != len(factors):
        raise SystemExit(f"--factors: distinct finite numbers >= 0 needed, got {text!r}")
    return factors


def lobo_choice(means: pd.DataFrame, lobo: list[str]) -> dict[str, float]:
    """For each LOBO benchmark, the factor with the best mean over the other LOBO benchmarks (ties: larger factor)."""
    if len(lobo) < 2:
        raise SystemExit(f"leave-one-benchmark-out needs at least 2 benchmarks, got {len(lobo)}: {', '.join(lobo)}")
    out = {}
    for left in lobo:
        others = means.loc[[b for b in lobo if b != left]].mean(axis=0)
        best = others.max()
        out[left] = max(f for f in others.index if others[f] >= best - 1e-12)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--factors", default="1,0.5,0", help="standard-error factors to compare (1 = the frozen rule)")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--summary", default=str(ROOT / "results" / "ensemble_selection" / "summary.json"),
                    help="select_ensemble.py's summary (gives each benchmark's prior)")
    ap.add_argument("--output", default=str(ROOT / "results" / "ensemble_selection" / "fewshot_rule_variants"))
    args = ap.parse_args(argv)
    factors = parse_factors(args.factors)
    if args.trials < 10:
        ap.error("--trials: at least 10 draws per k")
    out = Path(args.output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        priors = json.loads(Path(args.summary).read_text())["fewshot"]["priors"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.summary}: no few-shot priors ({exc}); run scripts/select_ensemble.py first",
              file=sys.stderr)
        return 2
    rows = []
    sources = []
    try:
        for src in selection.BENCHMARKS:
            why = selection.available(src) or (None if src.name in priors else
                                               f"{src.name} left out: no few-shot prior in {args.summary}")
            if why:
                print(why, flush=True)  # a fold fewer: said, never silent
                continue
            bench, _, _ = selection.load_benchmark(src)
            sources.append(src)
            for factor in factors:
                t0 = time.time()
                study = fewshot_study(bench, priors[src.name], selection.FEWSHOT_SIZES, test_size=src.fewshot_test,
                                      trials=args.trials, seed=args.seed, se_factor=factor)
                rows += [{**r, "factor": factor} for r in study if r["rule"] == "fewshot"]
                print(f"{src.name}: factor {factor:g}, {args.trials} draws x {len(selection.FEWSHOT_SIZES)} k "
                      f"({time.time() - t0:.0f} s)", flush=True)
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame = pd.DataFrame(rows)
    lobo = [s.name for s in sources if s.role == "lobo"]
    means = frame.groupby(["benchmark", "factor"])["spearman"].mean().unstack("factor")
    chosen = lobo_choice(means, lobo)
    at = frame.groupby(["benchmark", "k", "factor"])["spearman"].mean()
    kept = frame.groupby(["benchmark", "k", "factor"])["used_default"].mean()

    names = [s.name for s in sources]
    lines = ["# Few-shot rule: how far from the prior may it go? (leave-one-benchmark-out)\n",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python scripts/fewshot_rule_variants.py --factors {args.factors} "
             f"--trials {args.trials} --seed {args.seed}`\n",
             "The rule takes the largest ridge penalty whose leave-one-out error is within *factor* standard errors "
             "of the smallest (1: the frozen one-standard-error rule; 0: the CV minimum). Draws, test cells and "
             "priors as in `summary.md`'s few-shot study. Spearman on the test cells, mean over "
             f"{args.trials} draws; in brackets the share of draws that kept the prior.\n"]
    for k in selection.FEWSHOT_SIZES:
        lines.append(f"\n## k = {k}\n")
        lines.append("| benchmark | " + " | ".join(f"factor {f:g}" for f in factors) + " |")
        lines.append("|---|" + "---|" * len(factors))
        for b in names:
            cells = [f"{at[(b, k, f)]:.3f} ({kept[(b, k, f)]:.0%})" for f in factors]
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines.append("\n## The factor chosen without the benchmark\n")
    lines.append("Mean Spearman over every k and draw, per factor; the chosen factor is the best on the *other* "
                 "benchmarks of the leave-one-benchmark-out set; its k = 20 result beside the frozen rule's.\n")
    lines.append("| benchmark | " + " | ".join(f"mean, factor {f:g}" for f in factors)
                 + " | chosen without it | k = 20, chosen | k = 20, frozen (1) |")
    lines.append("|---|" + "---|" * (len(factors) + 3))
    for b in lobo:
        c = chosen[b]
        frozen = at.get((b, 20, 1.0), np.nan)
        lines.append(f"| {b} | " + " | ".join(f"{means.loc[b, f]:.3f}" for f in factors)
                     + f" | {c:g} | {at[(b, 20, c)]:.3f} | {frozen:.3f} |")
    doc = {"command": "scripts/fewshot_rule_variants.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "factors": factors, "trials": args.trials, "seed": args.seed, "priors": {b: priors[b] for b in names},
           "lobo": lobo, "chosen_without": chosen,
           "mean_over_k": {b: {f"{f:g}": float(means.loc[b, f]) for f in factors} for b in names},
           "by_k": {b: {str(k): {f"{f:g}": float(at[(b, k, f)]) for f in factors} for k in selection.FEWSHOT_SIZES}
                    for b in names}}
    md, js = out.with_suffix(".md"), out.with_suffix(".json")
    for path, text in ((md, "\n".join(lines) + "\n"), (js, json.dumps(doc, indent=1) + "\n")):
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text)
        tmp.replace(path)
    print("\n".join(lines))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
