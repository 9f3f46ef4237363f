"""One table of every proxy, ``az_nas`` and the recommended ensemble on every benchmark (issue #22).

Reads exactly what ``scripts/select_ensemble.py`` reads (the committed ``results/eval_*/scores.csv``,
the modern proxies' store exports, the library's ground truth), on the cells each benchmark is
*reported* on: NB201 CIFAR-10's 500 held-out cells (never used to choose the recommendation),
NB201 CIFAR-100 and ImageNet16-120 (500 cells each), NB101 (292), DARTS (725), and the small
real benchmark nb201_small (500 cells trained on CPU, proxies scored as trained; once complete).
For each proxy or ensemble: Spearman's rho [95% bootstrap CI over cells], Kendall's tau, top-10% precision, the
number of cells with a non-finite score (ranked last, as an ensemble ranks them) and seconds per
cell (the store's per-proxy seconds, mixed machines: informational; an ensemble's is the sum over
its members, an upper bound since members that share a pass are each charged it in full).
Published figures, where the authors report one on the same benchmark, are listed beside ours with
their source (:data:`PUBLISHED`).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/proxy_table.py [--extra a+b,c+d] [--resamples 1000]

Writes ``--output`` (default results/proxy_table/): table.csv (one row per proxy x benchmark),
table.md, rho_heatmap.png.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import select_ensemble as se  # noqa: E402  (the benchmark set and loaders, one definition)

from gradsign.evaluation.ensemble_selection import Combination  # noqa: E402
from gradsign.evaluation.metrics import summarize_correlation  # noqa: E402

#: Benchmark label in the table -> (select_ensemble source name, part reported on).
COLUMNS = {
    "NB201 C10 (held-out 500)": ("nb201-c10", "eval"),
    "NB201 C100 (500)": ("nb201-c100", "all"),
    "NB201 IN16 (500)": ("nb201-in16", "all"),
    "NB101 (292)": ("nb101", "all"),
    "DARTS (725)": ("darts", "all"),
    # the small real benchmark (issue #25): short CPU training of NB201 cells, proxies scored as trained;
    # a column once all its archs have both seeds (select_ensemble.available)
    "NB201-small real (500)": ("nb201-small", "all"),
}

#: Figures the authors published for the same benchmark (their protocol, not ours: all cells or
#: their own sample, often validation accuracy); (proxy, column) -> (value, "source").
#: Filled from the papers only; a blank means no published figure on that benchmark.
_C10, _C100, _IN16, _DARTS = "NB201 C10 (held-out 500)", "NB201 C100 (500)", "NB201 IN16 (500)", "DARTS (725)"
_SUITE_ZERO = "NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 D&B) Fig. 2: validation accuracy, 1,000 cells"
PUBLISHED: dict[tuple[str, str], tuple[float, str]] = {
    ("az_nas", _C10): (0.913, "AZ-NAS notebook NB201/tss_general.ipynb (cvlab-yonsei/AZ-NAS): rho 0.9127, tau 0.7409, "
                              "all 15,625 cells, test accuracy"),
    ("az_nas", _C100): (0.900, "AZ-NAS paper headline as quoted in issue #22 (the paper's table was not read)"),
    ("az_nas", _IN16): (0.886, "AZ-NAS paper headline as quoted in issue #22 (the paper's table was not read)"),
    ("meco", _C10): (0.89, "MeCo (NeurIPS 2023) abstract: NATS-Bench-TSS CIFAR-10, all cells"),
    ("swap_reg", _C100): (0.90, "SWAP-NAS (ICLR 2024) abstract: regularised SWAP-Score vs NB201 CIFAR-100 validation "
                                "accuracy, with the authors' own mu / sigma (not released; ours: NB201's size "
                                "distribution, no labels)"),
    ("swap", _DARTS): (0.93, "Peng et al., arXiv 2605.07378 (2026, SWAP's extension) abstract: DARTS CNNs, CIFAR-10 "
                             "validation accuracy (pym1024/SWAP's README: its DARTS set is 1,000 random "
                             "architectures trained 200 epochs)"),
    **{("epe_nas", c): (v, _SUITE_ZERO) for c, v in ((_C10, 0.70), (_C100, 0.60), (_IN16, 0.33))},
    **{(p, c): (v, _SUITE_ZERO) for p, vals in {"naswot": (0.77, 0.80, 0.77), "zen": (0.35, 0.35, 0.39),
                                                "flops": (0.69, 0.71, 0.67), "l2_norm": (0.68, 0.72, 0.69)}.items()
       for c, v in zip((_C10, _C100, _IN16), vals)},
}


def _add_literature() -> None:
    """GradSign (ZiCo paper) and Abdelfattah et al.'s baselines on all 15,625 NB201 cells (the library's table)."""
    from gradsign.evaluation.literature import LITERATURE_SOURCE, LITERATURE_SPEARMAN_NB201

    for proxy, by_ds in LITERATURE_SPEARMAN_NB201.items():
        for ds, col in (("cifar10", _C10), ("cifar100", _C100), ("ImageNet16-120", _IN16)):
            PUBLISHED.setdefault((proxy, col), (by_ds[ds], LITERATURE_SOURCE))


_add_literature()


def rows_for(label: str, part, seconds: dict[str, float], raw: dict[str, np.ndarray], names: list[str],
             resamples: int) -> list[dict]:
    out = []
    for name in names:
        combo = Combination.parse(name)
        if not set(combo.members) <= part.proxies:
            continue
        values = combo.values(part.ranks)
        s = summarize_correlation(values, part.accuracy, n_resamples=resamples, seed=0)
        nonfinite = np.zeros(len(part), dtype=bool)
        for m in combo.members:
            nonfinite |= ~np.isfinite(raw[m])
        sec = [seconds.get(m, math.nan) for m in combo.members]
        pub = PUBLISHED.get((name, label))
        out.append({"proxy": name, "benchmark": label, "n": len(part), "spearman": s.spearman,
                    "spearman_lo": s.spearman_ci[0], "spearman_hi": s.spearman_ci[1], "kendall": s.kendall,
                    "top10": s.top10_precision, "nonfinite": int(nonfinite.sum()),
                    "seconds_per_cell": float(sum(sec)), "published": pub[0] if pub else math.nan,
                    "published_source": pub[1] if pub else ""})
    return out


def markdown(frame: pd.DataFrame, order: list[str]) -> str:
    labels = [c for c in COLUMNS if c in set(frame["benchmark"])]
    head = "| proxy | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels) + "\n"
    lines = []
    best = frame.groupby("benchmark")["spearman"].max()
    for name in order:
        cells = []
        for lab in labels:
            r = frame[(frame["proxy"] == name) & (frame["benchmark"] == lab)]
            if r.empty:
                cells.append("-")
                continue
            r = r.iloc[0]
            rho = f"{r.spearman:.3f}"
            if math.isclose(r.spearman, best[lab]):
                rho = f"**{rho}**"
            cell = (f"{rho} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}] / {r.kendall:.3f} / {r.top10:.2f}"
                    f" / {r.seconds_per_cell:.2f}s")
            if r.nonfinite:
                cell += f" ({r.nonfinite} nf)"
            if np.isfinite(r.published):
                cell += f" (pub. {r.published:.3f})"
            cells.append(cell)
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def heatmap(frame: pd.DataFrame, order: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [c for c in COLUMNS if c in set(frame["benchmark"])]
    grid = frame.pivot(index="proxy", columns="benchmark", values="spearman").reindex(index=order, columns=labels)
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2.5, 0.32 * len(order) + 1.5))
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=8)
    for i in range(len(order)):
        for j in range(len(labels)):
            v = grid.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Spearman rho with accuracy")
    ax.set_title("Every proxy and ensemble on the cells each benchmark is reported on")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", default=str(se.ROOT / "results" / "proxy_table"))
    ap.add_argument("--extra", default="", help="comma-separated further ensembles to list (e.g. a candidate)")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    by_name = {s.name: s for s in se.BENCHMARKS}
    rows: list[dict] = []
    proxies: set[str] = set()
    for label, (source, which) in COLUMNS.items():
        why = se.available(by_name[source])
        if why:
            print(f"{label}: {why}", flush=True)
            continue
        bench, seconds, _ = se.load_benchmark(by_name[source])
        part = bench.part(which)
        mask = (np.ones(len(bench.archs), dtype=bool) if which == "all" or bench.selection is None
                else ~bench.selection)
        raw = {p: v[mask] for p, v in bench.scores.items()}
        proxies |= part.proxies
        names = sorted(part.proxies) + ["az_nas", "recommended"] + [e for e in args.extra.split(",") if e]
        rows += rows_for(label, part, seconds, raw, names, args.resamples)
        print(f"{label}: {len(part)} cells, {len(part.proxies)} proxies", flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "table.csv", index=False, float_format="%.6g")
    mean_rho = frame.groupby("proxy")["spearman"].mean()
    ensembles = ["az_nas", "recommended"] + [e for e in args.extra.split(",") if e]
    # Ties (params, flops and az_complexity rank NB201 alike) by name: a set iterates in a per-run order.
    order = sorted(proxies, key=lambda p: (-mean_rho.get(p, -1), p)) + [e for e in ensembles if e in mean_rho]
    md = (f"# Every proxy on every benchmark\n\n`OMP_NUM_THREADS=1 .venv/bin/python scripts/proxy_table.py"
          f"{' --extra ' + args.extra if args.extra else ''}` ({_dt.date.today().isoformat()})\n\n"
          "Each cell: Spearman rho [95% bootstrap CI over cells] / Kendall tau / top-10% precision / seconds per "
          "cell (mixed machines; an ensemble's is the sum of its members'); nf = cells with a non-finite score, "
          "ranked last; bold = the best row of the column. Rows: single proxies by mean rho over the columns "
          "they have, then the ensembles. A dash: not scored on that benchmark.\n\n" + markdown(frame, order))
    used = sorted({(r["proxy"], r["benchmark"], r["published"], r["published_source"]) for r in rows
                   if r["published_source"]}, key=lambda t: (t[3], t[0], t[1]))
    md += "\nPublished figures (their protocols: all cells or their own samples, some against validation accuracy):\n\n"
    for src in sorted({t[3] for t in used}):
        md += f"* {src}: " + "; ".join(f"`{p}` {b} {v:.3f}" for p, b, v, s in used if s == src) + "\n"
    (out / "table.md").write_text(md)
    heatmap(frame, order, out / "rho_heatmap.png")
    print(md)
    print(f"wrote {out / 'table.csv'}, {out / 'table.md'}, {out / 'rho_heatmap.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
