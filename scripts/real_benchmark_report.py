"""The small real benchmark's summary (issue #25): what was trained, its noise ceiling, every proxy against it.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/real_benchmark_report.py [--output results/real_benchmark] \
        [--extra meco+meco_opt+naswot,gradsign+grasp+naswot] [--resamples 1000]

Reads the registered benchmark ``nb201_small`` (the committed training export and the proxies scored on
the networks as trained: scripts/train_real_benchmark.py, scripts/score_real_benchmark.py) and writes
into --output:

* ``summary.md`` / ``summary.json``: archs x seeds trained, the recipe and its key, CPU-hours, the
  accuracy spread, the noise ceiling (seed 1 vs seed 2 Spearman / Kendall of the test and of the
  validation accuracy; the Spearman-Brown reliability of the two-seed mean the ground truth uses),
  and one row per proxy, ``az_nas``, ``recommended`` and the ``--extra`` ensembles: Spearman [95%
  bootstrap CI], Kendall, top-10% precision against the mean test accuracy, Spearman against the
  validation accuracy a search observes, the non-finite count and the median seconds per arch;
* ``noise_and_proxies.png``: seed 1 vs seed 2 test accuracy, and every row's Spearman with its CI
  next to the noise ceiling;
* ``learning_curves.png``: validation accuracy per epoch (median and 10-90% band over archs).

Every number is computed here from the two committed files; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rows(bench, table, zc, extra: list[str], resamples: int) -> list[dict]:
    from gradsign.evaluation.metrics import spearman, summarize_correlation
    from gradsign.proxies import get_proxy
    from gradsign.proxies.ensemble import rank_aggregate

    truth, val = table.mean_test(), table.mean_val()
    rows = []
    names = list(zc.names) + ["az_nas", "recommended"] + extra
    for name in names:
        spec = get_proxy(name)
        if getattr(spec, "is_ensemble", False):
            if any(m not in zc.names for m in spec.members):
                continue
            cols = [zc.names.index(m) for m in spec.members]
            values, nonfinite = rank_aggregate(zc.values[:, cols], [True] * len(cols), spec.aggregation)
            seconds = np.nansum(zc.seconds[:, cols], axis=1)
            label = f"{name} = {'+'.join(spec.members)}" if "+" not in name else name
        else:
            j = zc.names.index(name)
            values, seconds, label = zc.values[:, j], zc.seconds[:, j], name
            nonfinite = int((~np.isfinite(values)).sum())
        # Non-finite scores rank last (as an ensemble ranks them), not dropped.
        finite = np.isfinite(values)
        ranked = np.where(finite, values, values[finite].min() - 1.0 if finite.any() else 0.0)
        s = summarize_correlation(ranked, truth, n_resamples=resamples, seed=0)
        rows.append({"proxy": label, "ensemble": bool(getattr(spec, "is_ensemble", False)), "spearman": s.spearman,
                     "spearman_ci": list(s.spearman_ci), "kendall": s.kendall, "top10": s.top10_precision,
                     "spearman_val": spearman(ranked, val), "nonfinite": nonfinite,
                     "seconds_median": float(np.nanmedian(seconds))})
    rows.sort(key=lambda r: -(r["spearman"] if np.isfinite(r["spearman"]) else -9))
    return rows


def _fmt(x: float, nd: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _plot(table, rows, ceiling, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, max(4.5, 0.22 * len(rows) + 1)),
                               gridspec_kw={"width_ratios": [1, 1.3]})
    a.scatter(table.test[:, 0], table.test[:, 1], s=8, alpha=0.6)
    lo, hi = np.nanmin(table.test), np.nanmax(table.test)
    a.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    a.set_xlabel(f"test accuracy, seed {table.seeds[0]} (%)")
    a.set_ylabel(f"test accuracy, seed {table.seeds[1]} (%)")
    a.set_title(f"seed to seed: Spearman {ceiling['spearman']:.3f} ({ceiling['n_archs']} archs)")
    y = np.arange(len(rows))[::-1]
    rho = np.array([r["spearman"] for r in rows])
    ci = np.array([r["spearman_ci"] for r in rows], dtype=float)
    err = np.abs(np.vstack([rho - ci[:, 0], ci[:, 1] - rho]))
    colors = ["tab:orange" if r["ensemble"] else "tab:blue" for r in rows]
    b.barh(y, rho, xerr=np.nan_to_num(err), color=colors, alpha=0.8)
    b.axvline(ceiling["spearman"], color="k", ls="--", lw=1, label="seed-to-seed ceiling (one seed)")
    b.axvline(ceiling["two_seed_reliability"], color="k", ls=":", lw=1, label="reliability of the 2-seed mean")
    b.set_yticks(y, [r["proxy"].split(" = ")[0] for r in rows], fontsize=7)
    b.set_xlabel("Spearman vs mean test accuracy (95% bootstrap CI); orange: ensembles")
    b.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_curves(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = table.val_curve.reshape(-1, table.val_curve.shape[-1])
    epochs = np.arange(1, curves.shape[1] + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(epochs, np.percentile(curves, 10, axis=0), np.percentile(curves, 90, axis=0), alpha=0.3,
                    label="10-90% of runs")
    ax.plot(epochs, np.median(curves, axis=0), label="median run")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{len(table.archs)} archs x {len(table.seeds)} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", type=Path, default=ROOT / "results" / "real_benchmark")
    ap.add_argument("--extra", default="meco+meco_opt+naswot,gradsign+grasp+naswot",
                    help="more ensembles to report (comma list of a+b specs)")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args(argv)

    from gradsign.benchmarks.registry import get_benchmark
    from gradsign.errors import GradsignError
    from gradsign.outputs import check_output_dir

    try:
        check_output_dir(args.output)
        bench = get_benchmark("nb201_small")
        table = bench.table()
        zc = bench.zerocost("as-trained", "cifar10")
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ceiling = table.noise_ceiling("test")
    ceiling_val = table.noise_ceiling("val")
    r = ceiling["spearman"]
    ceiling["two_seed_reliability"] = 2 * r / (1 + r)  # Spearman-Brown: the ground truth averages two seeds
    extra = [e.strip() for e in args.extra.split(",") if e.strip()]
    rows = _rows(bench, table, zc, extra, args.resamples)
    mean_test = table.mean_test()
    # how early the first seed's validation accuracy ranks the archs as their final mean test accuracy does
    first_seed_val = np.asarray(table.val_curve)[:, 0, :]
    from gradsign.evaluation.metrics import spearman

    # the library's spearman: NaN without a warning when an epoch's accuracies are all equal (a toy table's)
    by_epoch = [spearman(first_seed_val[:, e], mean_test) for e in range(first_seed_val.shape[1])]
    command = "OMP_NUM_THREADS=1 .venv/bin/python scripts/real_benchmark_report.py " + " ".join(argv or sys.argv[1:])
    summary = {
        "benchmark": bench.name, "recipe_key": table.recipe_key, "recipe": table.recipe,
        "archs": len(table.archs), "seeds": list(table.seeds), "runs": table.n_runs,
        "cpu_hours": table.cpu_hours(), "seconds_per_run_median": float(np.nanmedian(table.seconds)),
        "mean_test": {"min": float(mean_test.min()), "median": float(np.median(mean_test)),
                      "max": float(mean_test.max()), "std": float(mean_test.std())},
        "noise_ceiling_test": ceiling, "noise_ceiling_val": ceiling_val, "proxies": rows,
        "val_spearman_by_epoch_seed1": by_epoch,
        "proxy_scores": {"file": Path(zc.source.split("(")[-1].rstrip(")")).name, "proxies": len(zc.names)},
        "command": command.strip(), "python": platform.python_version(),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    lines = [
        "# The small real benchmark: summary",
        "",
        f"`{summary['command']}` (regenerates this file, summary.json and the two plots from the committed table).",
        "",
        f"* **{len(table.archs)} archs x {len(table.seeds)} seeds** ({table.n_runs} runs; only archs trained under "
        f"every seed count) of recipe `{table.recipe_key}` (docs/real_benchmark.md); **{table.cpu_hours():.2f} "
        f"CPU-hours** (one thread per run, median {summary['seconds_per_run_median']:.1f} s per run on this 2-core "
        "machine, shared with other work while training).",
        f"* Mean test accuracy over the seeds: {mean_test.min():.2f} - {mean_test.max():.2f}% (median "
        f"{np.median(mean_test):.2f}, std {mean_test.std():.2f}).",
        f"* **Noise ceiling**: seed {table.seeds[0]} vs seed {table.seeds[1]} test accuracy Spearman "
        f"**{ceiling['spearman']:.3f}** (Kendall {ceiling['kendall']:.3f}, mean |difference| "
        f"{ceiling['mean_abs_diff']:.2f} points); validation accuracy (what a search observes, 1,000 images) "
        f"{ceiling_val['spearman']:.3f}. The ground truth averages the two seeds: its reliability by "
        f"Spearman-Brown is about {ceiling['two_seed_reliability']:.3f}, the most any predictor can reach against it.",
        f"* **Learning curves**: seed {table.seeds[0]}'s validation accuracy after epoch 1, 2, ... against the mean "
        "test accuracy, Spearman: " + ", ".join(f"{v:.2f}" for v in by_epoch) + " (the low fidelity is epoch "
        f"{bench.LOWFIDELITY_EPOCHS}).",
        "",
        "## Every proxy against it",
        "",
        "Scored on the networks as the recipe trains them (width 8, one cell per stage, a fixed batch of 64 of the "
        "recipe's 16x16 training images, seed 0). Spearman / Kendall / top-10% precision against the mean test "
        "accuracy; `rho val`: against the mean final validation accuracy. Non-finite scores rank last. Seconds: "
        "median per arch (an ensemble: the sum of its members', an upper bound).",
        "",
        "| proxy | Spearman [95% CI] | Kendall | top-10% | rho val | non-finite | s/arch |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lo, hi = row["spearman_ci"]
        lines.append(f"| {row['proxy']} | {_fmt(row['spearman'])} [{_fmt(lo)}, {_fmt(hi)}] | {_fmt(row['kendall'])} "
                     f"| {_fmt(row['top10'], 2)} | {_fmt(row['spearman_val'])} | {row['nonfinite']} | "
                     f"{_fmt(row['seconds_median'], 3)} |")
    (args.output / "summary.md").write_text("\n".join(lines) + "\n")
    _plot(table, rows, ceiling, args.output / "noise_and_proxies.png")
    _plot_curves(table, args.output / "learning_curves.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
