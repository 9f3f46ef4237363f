"""Choose the recommended proxy ensemble by leave-one-benchmark-out, and study the few-shot rule (issue #22 item 3).

Reads the committed per-benchmark scores (``results/eval_*/scores.csv``), the modern proxies'
store exports that exist (``results/modern_proxies/<space>_<dataset>_seed0_bs64_<proxy>.csv.gz``)
and the library's ground truth; computes nothing on networks. Then:

1. **Leave-one-benchmark-out** over the ``lobo`` benchmarks of :data:`BENCHMARKS`: for each, the
   combination chosen on the others' selection cells (:mod:`gradsign.evaluation.ensemble_selection`)
   and its rho on the left-out benchmark's evaluation cells, next to the hindsight best there.
2. **The recommendation**: chosen on every ``lobo`` benchmark's selection cells; reported on
   NB201 CIFAR-10's held-out half, CIFAR-100 and ImageNet16-120.
3. **Few-shot**: k = 5, 10, 20, 50 labelled cells drawn as ``gradsign predictors evaluate`` draws
   them (same pool order, seed, test size, trials), the few-shot rule with the fold's zero-shot
   choice as prior, against the predictors fitted on the same splits with the same zero-cost features.

Writes ``--output`` (default results/ensemble_selection/): summary.json, summary.md,
rho_table.csv.gz (every candidate on every part), fewshot_trials.csv, fewshot_summary.csv,
fewshot_vs_k.png.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/select_ensemble.py [--trials 20] [--no-predictors]

Adding a benchmark (e.g. a real-training benchmark) is one line in :data:`BENCHMARKS`; the
recommendation is then re-derived by rerunning this script.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gradsign.evaluation.ensemble_selection import (  # noqa: E402
    Benchmark,
    Combination,
    final_choice,
    fewshot_study,
    leave_one_benchmark_out,
    prepare_study,
    selection_split,
)


@dataclass(frozen=True)
class Source:
    """Where one benchmark's scores are. ``role``: lobo (chooses and is reported on) or report (reported only)."""

    name: str
    space: str
    dataset: str
    scores: tuple[str, ...]  # committed scores.csv files (joined on arch)
    role: str = "lobo"
    selection_fraction: float | None = None  # a seeded part of the cells chooses, the rest is held out
    fewshot_test: int = 500  # test cells per few-shot trial
    prior_from: str | None = None  # report benchmarks: whose LOBO fold gives the few-shot prior
    zerocost: str | None = None  # the benchmark's own zero-cost source gives the scores (instead of scores.csv files)
    min_archs: int = 0  # joins only once its benchmark has this many archs (a table still being regenerated)


#: The benchmark set. One line per benchmark; a real-training benchmark joins with role="lobo".
BENCHMARKS = [
    Source("nb201-c10", "nb201", "cifar10", ("results/eval_nb201_cifar10/scores.csv",
                                             "results/eval_nb201_cifar10_later/scores.csv"),
           selection_fraction=0.5, fewshot_test=500),
    Source("nb101", "nb101", "cifar10", ("results/eval_nb101/scores.csv",), fewshot_test=150),
    Source("darts", "darts", "cifar10", ("results/eval_darts/scores.csv",), fewshot_test=500),
    Source("nb201-c100", "nb201", "cifar100", ("results/eval_nb201_cifar100/scores.csv",), role="report",
           fewshot_test=250, prior_from="nb201-c10"),
    Source("nb201-in16", "nb201", "ImageNet16-120", ("results/eval_nb201_ImageNet16-120/scores.csv",),
           role="report", fewshot_test=250, prior_from="nb201-c10"),
    # The small real benchmark (issue #25): 500 NB201 cells trained on CPU, proxies scored on the networks as
    # trained. It joins the LOBO set once all 500 archs have both seeds; until then it is left out with a note.
    Source("nb201-small", "nb201_small", "cifar10", (), zerocost="as-trained", min_archs=500, fewshot_test=250),
]
SPLIT_SEED = 0
#: Store exports read besides the scores.csv files: the modern proxies' (scripts/run_modern_proxies.sh) and
#: the ones computed for this report (naswot, zico, zen on NB201 CIFAR-100 / ImageNet16-120; docs/ensembles.md).
EXPORT_DIRS = ("results/modern_proxies", "results/ensemble_selection")
FEWSHOT_SIZES = (5, 10, 20, 50)
PREDICTORS = "linear,forest,boosting,gp,bananas,gcn,omni,omni-linear,zc-ensemble"


def export_paths(src: Source) -> list[str]:
    return sorted(p for d in EXPORT_DIRS
                  for p in glob.glob(str(ROOT / d / f"{src.space}_{src.dataset}_seed0_bs64_*.csv.gz")))


def read_modern(src: Source, archs: list[str], notes: list[str], scores_have: set[str] = frozenset()
                ) -> dict[str, np.ndarray]:
    """The modern proxies' exports for this benchmark, on its cells (a proxy covering only some is left out)."""
    from gradsign.storage.exports import read_score_export

    out: dict[str, np.ndarray] = {}
    row = {a: i for i, a in enumerate(archs)}
    for path in export_paths(src):
        f = read_score_export(path)
        f = f[(f["batch_size"] == 64) & (f["seed"] == 0) & (f["options"] == "{}")]
        for proxy, g in f.groupby("proxy"):
            v = np.full(len(archs), np.nan)
            seen = np.zeros(len(archs), dtype=bool)
            for a, val, status in zip(g["arch"], g["value"], g["status"]):
                i = row.get(a)
                if i is None:
                    continue
                v[i] = {"inf": math.inf, "-inf": -math.inf}.get(status, val if status == "ok" else math.nan)
                seen[i] = True
            if str(proxy) in scores_have:
                continue  # the scores.csv files have it already
            if seen.all():
                out[str(proxy)] = v
            else:
                notes.append(f"{src.name}: {proxy} export {Path(path).name} covers {int(seen.sum())} of {len(archs)} "
                             "cells; left out")
    return out


def available(src: Source) -> str | None:
    """None when ``src`` can join, else why not (a benchmark still short of ``min_archs``)."""
    if not src.min_archs:
        return None
    from gradsign.benchmarks.registry import get_benchmark
    from gradsign.errors import GradsignError

    try:
        n = len(get_benchmark(src.space).ground_truth(src.dataset).archs)
    except GradsignError as exc:
        return f"{src.name} left out: {exc}"
    return None if n >= src.min_archs else f"{src.name} left out: {n} of the {src.min_archs} archs it needs so far"


def load_zerocost_benchmark(src: Source) -> tuple[Benchmark, dict[str, float], str]:
    """A benchmark whose scores come from its own zero-cost source (scores as each proxy defines them)."""
    from gradsign.benchmarks.registry import get_benchmark
    from gradsign.proxies import get_proxy

    bench = get_benchmark(src.space)
    zc = bench.zerocost(src.zerocost, src.dataset)
    truth = bench.ground_truth(src.dataset, "test")
    # The table is oriented higher = better; the selection reads scores as the proxies define them.
    scores = {name: zc.values[:, j] * (1.0 if get_proxy(name).higher_is_better else -1.0)
              for j, name in enumerate(zc.names)}
    seconds = {name: float(np.nanmedian(zc.seconds[:, j])) for j, name in enumerate(zc.names)}
    acc = truth.accuracy(zc.archs)
    selection = selection_split(zc.archs, src.selection_fraction, SPLIT_SEED) if src.selection_fraction else None
    return Benchmark(src.name, list(zc.archs), acc, scores, role=src.role, selection=selection), seconds, \
        truth.description


def load_benchmark(src: Source) -> tuple[Benchmark, dict[str, float], str]:
    from gradsign.workflows.ground_truth import ground_truth

    if src.zerocost:
        return load_zerocost_benchmark(src)
    frame = None
    for f in src.scores:
        d = pd.read_csv(ROOT / f, dtype={"arch": str}).drop(columns=["index"], errors="ignore")
        frame = d if frame is None else frame.merge(d[["arch"] + [c for c in d.columns if c not in frame.columns]],
                                                    on="arch", how="inner", validate="one_to_one")
    archs = list(frame["arch"])
    scores = {c: frame[c].to_numpy(dtype=np.float64) for c in frame.columns if c != "arch"}
    notes: list[str] = []
    modern = read_modern(src, archs, notes, set(scores))
    scores.update(modern)
    truth = ground_truth(src.space, src.dataset, "test")
    acc = truth.accuracy(archs)
    selection = selection_split(archs, src.selection_fraction, SPLIT_SEED) if src.selection_fraction else None
    bench = Benchmark(src.name, archs, acc, scores, role=src.role, selection=selection, notes=notes)
    # Seconds per cell (informational): the evaluate summaries, the exports' mean seconds.
    seconds: dict[str, float] = {}
    for f in src.scores:
        js = ROOT / Path(f).parent / "summary.json"
        if js.exists():
            import json

            for p, s in json.loads(js.read_text())["proxies"].items():
                if s.get("seconds_per_arch") is not None:
                    seconds.setdefault(p, float(s["seconds_per_arch"]))
    for path in export_paths(src):
        from gradsign.storage.exports import read_score_export

        f = read_score_export(path)
        for p, g in f.groupby("proxy"):
            seconds[str(p)] = float(g["seconds"].mean())
    return bench, seconds, truth.description


def fmt(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def predictor_trials(src: Source, bench: Benchmark, sizes, test_size: int, trials: int, seed: int,
                     predictors: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``gradsign predictors``' protocol on this benchmark's cells with its zero-cost scores as features."""
    from gradsign.predictors import FeatureProvider, ZeroCostTable, nb201_lowfidelity
    from gradsign.proxies import get_proxy
    from gradsign.workflows.predictors import Problem, evaluate_predictors

    names = tuple(sorted(bench.scores))
    values = np.column_stack([bench.scores[n] * (1 if get_proxy(n).higher_is_better else -1) for n in names])
    zc = ZeroCostTable(list(bench.archs), names, values, None, f"committed scores of {bench.name}",
                       {n: get_proxy(n).needs_data for n in names})
    from gradsign.benchmarks.registry import get_benchmark

    registered = get_benchmark(src.space)  # nb201_small: a benchmark of NB201 cells with its own low fidelity
    if src.space == "nb201":
        lf, lf_name = nb201_lowfidelity(src.dataset), "12-epoch"
    elif registered.supports("lowfidelity"):
        lf, lf_name = registered.lowfidelity(src.dataset), "low-fidelity"
    else:
        lf, lf_name = None, ""
    fp = FeatureProvider(registered.space, src.dataset, zerocost=zc, lowfidelity=lf)
    acc_of = dict(zip(bench.archs, bench.accuracy))
    problem = Problem(fp, lambda archs: np.array([acc_of[a] for a in archs]), list(bench.archs),
                      f"{bench.name} ground truth")
    names_p = predictors + (",lowfidelity" if lf is not None else "")
    ev = evaluate_predictors(problem, names_p, train_sizes=list(sizes), test_size=test_size, trials=trials,
                             seed=seed, threads=1)
    if ev.meta["pool_size"] != len(bench.archs) or ev.meta["test_size"] != test_size:
        raise RuntimeError(f"{bench.name}: predictors' pool/test {ev.meta['pool_size']}/{ev.meta['test_size']} "
                           f"differ from the few-shot study's {len(bench.archs)}/{test_size}")
    frames = [ev.trials]
    if lf is not None:
        # omni / omni-linear also read the low-fidelity accuracy of every cell (NB201: 12 epochs of training per
        # cell); without it they see what the few-shot rule sees (zero-cost scores) plus the encoding.
        fp0 = FeatureProvider(registered.space, src.dataset, zerocost=zc)
        ev0 = evaluate_predictors(Problem(fp0, problem.accuracy, list(bench.archs), problem.target),
                                  "omni,omni-linear", train_sizes=list(sizes), test_size=test_size, trials=trials,
                                  seed=seed, threads=1)
        frames.append(ev0.trials.assign(predictor=ev0.trials["predictor"] + f" (no {lf_name})"))
    t = pd.concat(frames, ignore_index=True)
    t = t[t["train_size"].isin(sizes)].rename(columns={"predictor": "rule", "train_size": "k"})
    t["benchmark"] = bench.name
    return t[["benchmark", "rule", "family", "k", "trial", "n_test", "spearman"]], ev.meta


def summarise(trials: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    from gradsign.workflows.predictors import bootstrap_mean_ci

    rows = []
    for (b, rule, k), g in trials.groupby(["benchmark", "rule", "k"], sort=False):
        v = g["spearman"].to_numpy(dtype=float)
        v = np.where(np.isfinite(v), v, 0.0)  # a constant ranking counts as 0, as in the predictors' protocol
        lo, hi = bootstrap_mean_ci(v, n_resamples=n_boot, seed=0)
        rows.append({"benchmark": b, "rule": rule, "k": int(k), "trials": len(g), "spearman": float(v.mean()),
                     "lo": lo, "hi": hi,
                     "share_default": float(g["used_default"].mean()) if "used_default" in g and
                     g["used_default"].notna().all() else math.nan})
    return pd.DataFrame(rows)


def plot(summary: pd.DataFrame, path: Path, order: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = [b for b in order if b in set(summary["benchmark"])]
    ncols = min(3, len(benches))
    nrows = (len(benches) + ncols) // ncols  # one spare panel holds the legend
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.4 * nrows), dpi=110, squeeze=False)
    flat = list(axes.flat)
    rules = list(dict.fromkeys(summary["rule"]))
    cmap = plt.get_cmap("tab20")
    for ax, b in zip(flat, benches):
        s = summary[summary["benchmark"] == b]
        ks = sorted(set(s["k"]))
        for i, r in enumerate(rules):
            g = s[s["rule"] == r].sort_values("k")
            if g.empty:
                continue
            ours = r in ("fewshot", "zero-shot default", "best single on labels")
            style = dict(color=cmap(i % 20), lw=2.6 if r == "fewshot" else (1.8 if ours else 1.0),
                         ls="-" if r == "fewshot" else ("--" if ours else ":"), marker="o" if ours else ".")
            x = [ks.index(k) for k in g["k"]]
            ax.plot(x, g["spearman"], label=r, **style)
            ax.fill_between(x, g["lo"], g["hi"], color=style["color"], alpha=0.15 if ours else 0.06, lw=0)
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_xlabel("k labelled architectures")
        ax.set_title(b)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("Spearman rho on the test cells")
    handles, labels = flat[0].get_legend_handles_labels()
    for ax in flat[len(benches):]:
        ax.axis("off")
    flat[-1].legend(handles, labels, loc="center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("Few-shot rule (thick) vs zero-shot default, best single proxy on the labels and the predictors "
                 "at the same k, same splits; band: 95% bootstrap CI of the mean over trials", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", default=str(ROOT / "results" / "ensemble_selection"))
    ap.add_argument("--max-members", type=int, default=3)
    ap.add_argument("--trials", type=int, default=20, help="few-shot draws per k (>= 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-predictors", action="store_true", help="skip the predictors' few-shot comparison")
    ap.add_argument("--no-fewshot", action="store_true")
    ap.add_argument("--predictors", default=PREDICTORS)
    ap.add_argument("--lobo", default=None,
                    help="comma-separated benchmarks forming the LOBO set (default: those with role lobo in "
                         "BENCHMARKS); the others are reported only")
    args = ap.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    sources, skipped = [], []
    for src in BENCHMARKS:
        why = available(src)
        (skipped.append(why) if why else sources.append(src))
    if args.lobo:
        from dataclasses import replace

        wanted = [n.strip() for n in args.lobo.split(",") if n.strip()]
        unknown = set(wanted) - {s.name for s in sources}
        if unknown:
            ap.error(f"--lobo: unknown benchmark(s) {', '.join(sorted(unknown))}")
        sources = [replace(s, role="lobo" if s.name in wanted else "report",
                           prior_from=None if s.name in wanted else s.prior_from) for s in sources]
    benches, seconds, targets, notes = [], {}, {}, list(skipped)
    for src in sources:
        b, sec, desc = load_benchmark(src)
        benches.append(b)
        seconds[b.name], targets[b.name] = sec, desc
        notes.extend(b.notes)
    by_name = {b.name: b for b in benches}
    srcs = {s.name: s for s in sources}
    print("benchmarks:")
    for b in benches:
        sel = "" if b.selection is None else \
            f" ({int(b.selection.sum())} choose / {int((~b.selection).sum())} held out)"
        print(f"  {b.name:11s} {b.role:6s} {len(b.archs):5d} cells{sel}; {len(b.proxies)} proxies: "
              f"{', '.join(sorted(b.proxies))}")
    for n in notes:
        print("  note:", n)

    study = prepare_study(benches, max_members=args.max_members)
    folds = leave_one_benchmark_out(study)
    final, excluded = final_choice(study)

    # ---- tables
    lines = []
    lines.append("Leave-one-benchmark-out (rho = Spearman on the left-out benchmark's evaluation cells):\n")
    head = ("| left out | chosen on the others | rho there | best single candidate there (hindsight) | gap | "
            "best combination there (hindsight) | best single of all proxies scored there | gap |")
    lines += [head, "|---|---|---|---|---|---|---|---|"]
    for f in folds:
        lines.append(f"| {f.left_out} ({f.eval_part}) | `{f.choice.combination.name}` | {fmt(f.rho)} | "
                     f"`{f.best_single[0]}` {fmt(f.best_single[1])} | {f.rho - f.best_single[1]:+.3f} | "
                     f"`{f.hindsight[0]}` {fmt(f.hindsight[1])} | `{f.best_any[0]}` {fmt(f.best_any[1])} | "
                     f"{f.rho - f.best_any[1]:+.3f} |")
    lines.append("")
    lines.append("Chosen on (rho on each training benchmark's selection cells; best single there):\n")
    for f in folds:
        tr = "; ".join(f"{t}: {fmt(f.choice.train_rho[t])} (best single `{f.choice.best_single[t][0]}` "
                       f"{fmt(f.choice.best_single[t][1])})" for t in f.choice.train)
        lines.append(f"* without {f.left_out}: `{f.choice.combination.name}` — {tr}; worst gap "
                     f"{f.choice.worst_gap:+.3f}; {f.choice.n_combinations} candidates from "
                     f"{len(f.choice.candidates)} proxies")
    if excluded:
        lines.append("")
        lines.append("Proxies that were no candidate (missing on some benchmark of the LOBO set): " +
                     "; ".join(f"{p} (missing on {', '.join(bs)})" for p, bs in excluded.items()))
    lines.append("")

    # Post-hoc diagnostic, never used for the recommendation: what other criteria would have chosen.
    from gradsign.evaluation.ensemble_selection import CRITERIA

    alt_rows = []
    for crit in CRITERIA:
        for f in leave_one_benchmark_out(study, criterion=crit):
            alt_rows.append({"criterion": crit, "left_out": f.left_out, "chosen": f.choice.combination.name,
                             "rho": f.rho, "gap": f.rho - f.best_single[1]})
    lines.append("Diagnostic (after the fact; the rule is worst_gap): the LOBO choice under other criteria:\n")
    lines.append("| criterion | " + " | ".join(f"without {f.left_out}: chosen, rho there, gap" for f in folds) + " |")
    lines.append("|---|" + "---|" * len(folds))
    for crit in CRITERIA:
        rr = [r for r in alt_rows if r["criterion"] == crit]
        lines.append(f"| {crit} | " + " | ".join(f"`{r['chosen']}` {fmt(r['rho'])} ({r['gap']:+.3f})" for r in rr)
                     + " |")
    lines.append("")

    rec = final.combination
    rec_rows = []
    for b in benches:
        for which in (("eval", "select") if b.selection is not None else ("all",)):
            part = study.parts[f"{b.name}/{'eval' if which == 'eval' else 'select'}"] if which != "all" \
                else study.parts[f"{b.name}/select"]
            col = study.table[part.name]
            singles = [c.name for c in study.combos if len(c.members) == 1 and c.members[0] in b.proxies]
            bs = col[singles].astype(float).idxmax()
            used = "chosen on these cells" if (b.role == "lobo" and which in ("select", "all")) else \
                "never used for choosing"
            rec_rows.append({"benchmark": b.name, "cells": part.name, "n": len(part), "rho": float(col[rec.name])
                             if rec.name in col.index else math.nan, "best_single": bs,
                             "best_single_rho": float(col[bs]), "status": used})
    # the report benchmarks on NB201 CIFAR-10's held-out cells only
    c10 = by_name.get("nb201-c10")
    held_rows = []
    if c10 is not None and c10.selection is not None:
        held = [a for a, s in zip(c10.archs, c10.selection) if not s]
        for b in benches:
            if b.role == "report" and srcs[b.name].space == "nb201":
                sub = b.restricted(held, f"{b.name} on nb201-c10 held-out cells")
                part = sub.part("all")
                rhos = {p: part.rho(Combination((p,))) for p in sub.proxies}
                bs = max(sorted(rhos), key=lambda p: rhos[p] if np.isfinite(rhos[p]) else -9)
                held_rows.append({"benchmark": b.name, "cells": sub.name, "n": len(part), "rho": part.rho(rec),
                                  "best_single": bs, "best_single_rho": rhos[bs], "status": "never used for choosing"})
    lines.append(f"Recommendation (chosen on every LOBO benchmark's selection cells): `{rec.name}`\n")
    lines.append("| benchmark | cells | n | rho of the recommendation | best single (hindsight) | cells' status |")
    lines.append("|---|---|---|---|---|---|")
    for r in rec_rows + held_rows:
        lines.append(f"| {r['benchmark']} | {r['cells']} | {r['n']} | {fmt(r['rho'])} | `{r['best_single']}` "
                     f"{fmt(r['best_single_rho'])} | {r['status']} |")
    lines.append("")
    # Reference points: the named ensembles (AZ-NAS's four scores, ...) on every part where they can be computed.
    from gradsign.proxies.ensemble import NAMED_ENSEMBLES

    named = {}
    for nm in NAMED_ENSEMBLES:
        c = Combination.parse(nm)
        # (a benchmark without a selection split has one part under both keys: dict keys dedupe it)
        named[nm] = {p.name: p.rho(c) for p in study.parts.values() if set(c.members) <= p.proxies}
    lines.append("Named ensembles on the parts that have their members: " + "; ".join(
        f"`{nm}` ({Combination.parse(nm).name}): " + ", ".join(f"{k} {fmt(v)}" for k, v in d.items())
        for nm, d in named.items() if d))
    lines.append("")
    cost = {b: sum(seconds[b].get(m, math.nan) for m in rec.members) for b in seconds}
    lines.append("Seconds per cell of the recommendation's members (summed; mixed machines, informational): " +
                 ", ".join(f"{b} {fmt(v, 2)}" for b, v in cost.items()))
    lines.append("")
    text = "\n".join(lines)
    print()
    print(text)

    summary: dict[str, Any] = {
        "command": " ".join(["OMP_NUM_THREADS=1 .venv/bin/python scripts/select_ensemble.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "date": _dt.date.today().isoformat(),
        "procedure": {
            "candidates": f"subsets of 1..{args.max_members} of the proxies every benchmark involved has, "
                          "x {logrank, meanrank}",
            "criterion": "maximise min over training benchmarks of rho(combination) - rho(best single proxy "
                         "there); ties: higher mean rho, fewer members, name",
            "nb201_split": f"selection_split(archs of the 1,000 CIFAR-10 cells, 0.5, seed={SPLIT_SEED})",
            "max_members": args.max_members,
        },
        "benchmarks": {b.name: {"role": b.role, "cells": len(b.archs), "proxies": sorted(b.proxies),
                                "target": targets[b.name],
                                "selection_cells": None if b.selection is None else int(b.selection.sum())}
                       for b in benches},
        "notes": notes,
        "excluded_proxies": excluded,
        "single_proxy_rho": {c: {p: float(study.table.at[p, c]) for p in sorted(
            {m for cc in study.combos for m in cc.members}) if np.isfinite(study.table.at[p, c])}
            for c in study.table.columns},
        "lobo": [f.as_dict() for f in folds],
        "lobo_other_criteria_diagnostic": alt_rows,
        "recommendation": {**final.as_dict(), "reported": rec_rows + held_rows, "seconds_per_cell": cost},
        "named_ensembles": named,
    }
    study.table.to_csv(out / "rho_table.csv.gz", float_format="%.5f", index_label="combination")

    # ---- few-shot
    fs_lines: list[str] = []
    if not args.no_fewshot:
        prior_of = {f.left_out: f.choice.combination.name for f in folds}

        def prior_for(src: Source) -> str:  # the zero-shot choice made without this benchmark
            return prior_of[src.name] if src.role == "lobo" else prior_of.get(src.prior_from or "", rec.name)
        all_trials = []
        pred_meta = {}
        for src in sources:
            b = by_name[src.name]
            prior = prior_for(src)
            lacking = sorted(set(Combination.parse(prior).members) - b.proxies)
            if lacking:
                msg = f"few-shot on {b.name} skipped: no scores for {', '.join(lacking)} (members of its prior {prior})"
                print(msg)
                notes.append(msg)
                continue
            t1 = time.time()
            rows = pd.DataFrame(fewshot_study(b, prior, FEWSHOT_SIZES, test_size=src.fewshot_test,
                                              trials=args.trials, seed=args.seed))
            rows["family"] = "zero-cost rule"
            all_trials.append(rows)
            print(f"few-shot {b.name}: prior {prior}, {args.trials} trials ({time.time() - t1:.1f} s)", flush=True)
            if not args.no_predictors:
                t1 = time.time()
                pt, meta = predictor_trials(src, b, FEWSHOT_SIZES, src.fewshot_test, args.trials, args.seed,
                                            args.predictors)
                pred_meta[b.name] = {"features": meta["features"], "notes": meta["notes"],
                                     "pool_size": meta["pool_size"], "test_size": meta["test_size"]}
                all_trials.append(pt)
                print(f"predictors {b.name}: {time.time() - t1:.1f} s", flush=True)
        trials_df = pd.concat(all_trials, ignore_index=True)
        trials_df.to_csv(out / "fewshot_trials.csv", index=False, float_format="%.5f")
        fs = summarise(trials_df)
        fs.to_csv(out / "fewshot_summary.csv", index=False, float_format="%.5f")
        plot(fs, out / "fewshot_vs_k.png", [s.name for s in sources])
        fs_lines.append(f"Few-shot: Spearman on the test cells, mean [95% CI over {args.trials} draws] "
                        "(prior = the zero-shot choice made without the benchmark):\n")
        for src in sources:
            s = fs[fs["benchmark"] == src.name]
            if s.empty:
                continue
            fs_lines.append(f"{src.name} (pool {len(by_name[src.name].archs)}, test {src.fewshot_test}; prior "
                            f"`{prior_for(src)}`)\n")
            fs_lines.append("| rule / predictor | " + " | ".join(f"k={k}" for k in FEWSHOT_SIZES) + " |")
            fs_lines.append("|---|" + "---|" * len(FEWSHOT_SIZES))
            for rule, g in s.groupby("rule", sort=False):
                g = g.set_index("k")
                cells = []
                for k in FEWSHOT_SIZES:
                    if k not in g.index:
                        cells.append("")
                        continue
                    extra = ""
                    if rule == "fewshot":
                        extra = f" ({g.at[k, 'share_default']:.0%} default)"
                    cells.append(f"{g.at[k, 'spearman']:.3f} [{g.at[k, 'lo']:.2f}, {g.at[k, 'hi']:.2f}]{extra}")
                name = f"**{rule}**" if rule == "fewshot" else rule
                fs_lines.append(f"| {name} | " + " | ".join(cells) + " |")
            fs_lines.append("")
        summary["fewshot"] = {"sizes": list(FEWSHOT_SIZES), "trials": args.trials, "seed": args.seed,
                              "priors": {s.name: prior_for(s) for s in sources},
                              "test_size": {s.name: s.fewshot_test for s in sources},
                              "predictors": pred_meta, "summary": fs.to_dict(orient="records")}
        print("\n".join(fs_lines))

    from gradsign.outputs import dumps_json
    from gradsign.reports.provenance import collect, process_started

    summary["provenance"] = collect(seeds=[args.seed], started=process_started())
    (out / "summary.json").write_text(dumps_json(summary))
    (out / "summary.md").write_text("# Ensemble selection\n\n" + f"`{summary['command']}` ({summary['date']})\n\n"
                                    + text + "\n" + "\n".join(fs_lines) + "\n")
    print(f"wrote {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
