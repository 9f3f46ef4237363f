"""The written outputs of a predictor evaluation: CSV, JSON, markdown tables and the correlation plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gradsign.workflows.predictors.protocol import METRICS, PredictorEvaluation


def write_outputs(ev: PredictorEvaluation, out: Path) -> list[Path]:
    """``trials.csv``, ``summary.csv``, ``summary.json``, ``summary.md`` and ``correlation_vs_train_size.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    trials = ev.trials.copy()
    for col in [c for c in trials.columns if c.endswith("_ci_cells")]:
        trials[col] = trials[col].map(lambda v: json.dumps(list(v)) if isinstance(v, (tuple, list)) else v)
    path = out / "trials.csv"
    trials.to_csv(path, index=False, float_format="%.6g")
    files.append(path)
    path = out / "summary.csv"
    ev.summary.to_csv(path, index=False, float_format="%.6g")
    files.append(path)
    path = out / "summary.json"
    ev.to_json(path)
    files.append(path)
    path = out / "summary.md"
    path.write_text(summary_markdown(ev))
    files.append(path)
    files.append(plot_curves(ev, out / "correlation_vs_train_size.png"))
    return files


def where_label(meta: Mapping[str, Any]) -> str:
    """``nb201 / cifar10``, or ``nb201_small (nb201 cells) / cifar10`` for a benchmark named apart from its space."""
    bench = meta.get("benchmark") or meta["space"]
    return (f"{meta['space']}" if bench == meta["space"] else f"{bench} ({meta['space']} cells)") + f" / {meta['dataset']}"


def summary_markdown(ev: PredictorEvaluation, metrics: Sequence[str] = ("spearman", "kendall", "top10")) -> str:
    """Markdown tables (one per metric): predictors x training sizes, ``mean [95% CI]``, plus fit/query seconds."""
    s, m = ev.summary, ev.meta
    sizes = sorted(set(s["train_size"]))
    names = list(dict.fromkeys(s["predictor"]))
    titles = {"spearman": "Spearman's rho", "kendall": "Kendall's tau", "top10": "top-10% precision"}
    lines = [f"{where_label(m)}: {m['trials']} trials, {m['test_size']} test cells per trial, pool "
             f"{m['pool_size']}; mean [{m['ci']}]. Label-free predictors (zero-cost, low-fidelity) need no "
             f"training set: one value, shown under n={sizes[0]}, holds at every size (″).", ""]
    for metric in metrics:
        lines.append(f"**{titles[metric]}**")
        lines.append("")
        head = ["predictor", "family", *(f"n={n}" for n in sizes)]
        if metric == metrics[0]:
            head += [f"fit s (n={max(sizes)})", f"query s ({m['test_size']} archs)"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in names:
            g = s[s["predictor"] == name].set_index("train_size")
            row = [f"`{name}`", g["family"].iat[0]]
            free = bool(g["label_free"].iat[0])
            for n in sizes:
                if free and n != sizes[0]:
                    row.append("″")  # label-free: the same value at every size
                    continue
                if n not in g.index or not math.isfinite(g.at[n, metric]):
                    row.append("")
                    continue
                lo, hi = g.at[n, f"{metric}_lo"], g.at[n, f"{metric}_hi"]
                ci = f" [{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else ""
                row.append(f"{g.at[n, metric]:.3f}{ci}")
            if metric == metrics[0]:
                last = g.iloc[-1]
                row += [f"{last['fit_s']:.2f}", f"{last['query_s']:.3f}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for note in m.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines).rstrip() + "\n"


def plot_curves(ev: PredictorEvaluation, path: Path) -> Path:
    """Spearman, Kendall and top-10% precision against training size, one line per predictor (95% CI bands).

    Label-free predictors (zero-cost, low-fidelity) are dashed horizontal lines. Training sizes sit at
    evenly spaced positions (so that 0 can be shown), labelled with their values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = ev.summary
    sizes = sorted(set(s["train_size"]))
    pos = {v: i for i, v in enumerate(sizes)}
    names = list(dict.fromkeys(s["predictor"]))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), dpi=120)
    titles = {"spearman": "Spearman's rho", "kendall": "Kendall's tau", "top10": "top-10% precision"}
    for ax, metric in zip(axes, METRICS):
        for i, name in enumerate(names):
            g = s[s["predictor"] == name].sort_values("train_size")
            x = np.array([pos[v] for v in g["train_size"]], dtype=float)
            y = g[metric].to_numpy(dtype=float)
            lo, hi = g[f"{metric}_lo"].to_numpy(dtype=float), g[f"{metric}_hi"].to_numpy(dtype=float)
            free = bool(g["label_free"].iat[0])
            style = dict(color=cmap(i % cmap.N), lw=1.2 if free else 1.8, ls="--" if free else "-",
                         marker=None if free else "o", ms=3.5)
            ax.plot(x, y, label=name, **style)
            if np.isfinite(lo).any():
                ax.fill_between(x, lo, hi, color=style["color"], alpha=0.12 if not free else 0.07, lw=0)
        ax.set_xticks(range(len(sizes)), [str(v) for v in sizes])
        ax.set_xlabel("training set size (architectures with trained accuracy)")
        ax.set_title(titles[metric])
        ax.grid(alpha=0.3)
    m = ev.meta
    fig.suptitle(f"Predictors on {where_label(m)}: {m['trials']} trials, test set {m['test_size']} "
                 f"of a pool of {m['pool_size']}; band = {m['ci']}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.905, 0.5), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.9, 0.95))
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["plot_curves", "summary_markdown", "write_outputs"]
