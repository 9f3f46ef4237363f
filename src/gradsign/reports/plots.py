"""The report's figures: matplotlib, rendered to inline SVG (lines, dots) or base64 PNG (thousands of points).

Every function returns markup ready to place in the page (an ``<svg>`` element
or a ``data:`` URI) and closes its figure. SVG output is made deterministic
(fixed id salt, no date) so that the same runs give the same page.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# Colour-blind-safe cycle (Okabe-Ito), with grey last for baselines.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999")


def style(k: int) -> dict[str, str]:
    """Colour and line style of the k-th series: the palette, then the palette again dashed, then dotted."""
    return {"color": PALETTE[k % len(PALETTE)], "linestyle": ("-", "--", ":")[(k // len(PALETTE)) % 3]}


#: Every metadata entry matplotlib writes into an SVG, switched off (the page stays free of web addresses).
SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
#: At most this many labelled ticks on a log-scaled axis (one per decade would overlap on a small plot).
LOG_TICKS = 6


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "gradsign-report", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def svg_of(fig) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), closed afterwards."""
    plt = _pyplot()
    buf = io.StringIO()
    # No metadata: its RDF block names matplotlib's and the Dublin Core's web addresses, and a date.
    fig.savefig(buf, format="svg", metadata=SVG_METADATA, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return unique_ids(text[text.index("<svg"):])


def unique_ids(svg: str) -> str:
    """``svg`` with every id (and each reference to it) prefixed by a digest of the figure.

    matplotlib numbers its clip paths and artists per figure, so several figures
    inlined in one page would share ids, and a ``clip-path: url(#id)`` would pick
    up another figure's clip box.
    """
    prefix = "f" + hashlib.sha1(svg.encode()).hexdigest()[:8] + "-"
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if not ids:
        return svg
    pattern = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
                         + r')(?=[")])')
    return pattern.sub(lambda m: m.group(1) + prefix + m.group(2), svg)


def png_data_uri(fig, dpi: int = 110) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def file_data_uri(path: Path) -> str:
    """A PNG / SVG / JPEG file as a ``data:`` URI, so the page needs nothing beside it."""
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
    kind = mime.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def symlog_ticks(linthresh: float, top: float, most: int = LOG_TICKS) -> list[float]:
    """Ticks of a symmetric-log axis over ``[0, top]`` that is linear below ``linthresh``: 0 and at most
    ``most - 1`` decades, evenly strided from the top one, none so close above 0 that their labels meet."""
    low, high = math.log10(linthresh), math.log10(top)
    k_low, k_high = math.ceil(low), math.floor(high)
    stride = max(1, math.ceil((k_high - k_low + 1) / (most - 1)))
    decades = [k for k in range(k_high, k_low - 1, -stride) if k - low >= stride / 2] or [k_high]
    return [0.0] + [10.0 ** k for k in sorted(decades)]


def scatter_figure(scores: np.ndarray, accuracy: np.ndarray, *, title: str, xlabel: str, ylabel: str):
    """The score-vs-accuracy figure (log x axis when positive scores span > 2 decades); the caller closes it."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator

    plt = _pyplot()
    ok = np.isfinite(scores) & np.isfinite(accuracy)
    x, y = scores[ok], accuracy[ok]
    fig, ax = plt.subplots(figsize=(4.2, 3.3))
    ax.scatter(x, y, s=12 if ok.sum() < 200 else 4, alpha=0.6, linewidths=0, color=PALETTE[0])
    positive = x[x > 0]
    # Scores spanning orders of magnitude read best on a log axis; zeros (e.g. cells cut off by
    # "none" edges) stay visible on a symmetric-log axis, linear below the smallest positive score.
    # Either way at most LOG_TICKS labelled ticks: synflow spans 20+ decades.
    if positive.size and (x >= 0).all() and positive.max() / positive.min() > 100:
        if (x > 0).all():
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(numticks=LOG_TICKS))
        else:
            linthresh = float(positive.min())
            ax.set_xscale("symlog", linthresh=linthresh)
            ax.xaxis.set_major_locator(FixedLocator(symlog_ticks(linthresh, float(positive.max()))))
            ax.xaxis.set_major_formatter(FuncFormatter(
                lambda v, _: "0" if v == 0 else f"$10^{{{round(math.log10(abs(v)))}}}$"))
            ax.set_xlim(left=-0.5 * linthresh)  # no empty negative decade: scores are >= 0
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.title.set_fontsize(8.5)
    return fig


def scatter(scores: np.ndarray, accuracy: np.ndarray, *, title: str, xlabel: str, ylabel: str) -> str:
    """:func:`scatter_figure` as a PNG data URI."""
    return png_data_uri(scatter_figure(scores, accuracy, title=title, xlabel=xlabel, ylabel=ylabel))


def correlation_comparison(proxies: Sequence[str], runs: Sequence[str],
                           values: Mapping[tuple[str, str], tuple[float, float, float] | None]) -> str:
    """Spearman rho with its CI of each proxy (rows) in each run (colour), side by side, as SVG."""
    plt = _pyplot()
    n_runs = len(runs)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(proxies) * max(1, n_runs) ** 0.5 + 1.2))
    step = 0.8 / max(n_runs, 1)
    for j, run in enumerate(runs):
        ys, xs, lo, hi = [], [], [], []
        for i, proxy in enumerate(proxies):
            v = values.get((proxy, run))
            if v is None or not math.isfinite(v[0]):
                continue
            ys.append(i - 0.4 + step * (j + 0.5))
            xs.append(v[0])
            lo.append(v[0] - v[1] if math.isfinite(v[1]) else 0.0)
            hi.append(v[2] - v[0] if math.isfinite(v[2]) else 0.0)
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", ms=3.5, lw=1, capsize=2, color=PALETTE[j % len(PALETTE)],
                    label=run)
    ax.set_yticks(range(len(proxies)), proxies)
    ax.invert_yaxis()
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.set_xlabel("Spearman rho with trained accuracy [95% CI]")
    ax.grid(axis="x", color="#eee")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return svg_of(fig)


def trajectories(curves: Sequence[Mapping[str, Any]], *, title: str, xlabel: str,
                 reference: float | None = None) -> str:
    """Mean incumbent accuracy vs budget with its bounded confidence band, one line per setting, as SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    lows = []
    for k, c in enumerate(curves):
        g = np.asarray(c["grid"], dtype=float)
        m = np.asarray(c["mean"], dtype=float)
        lo = np.asarray(c["ci_low"], dtype=float)
        hi = np.asarray(c["ci_high"], dtype=float)
        colour = style(k)["color"]
        ax.plot(g, m, lw=1.3, label=c["label"], **style(k))
        ax.fill_between(g, lo, hi, color=colour, alpha=0.18, linewidth=0)
        finite = m[np.isfinite(m)]
        if finite.size:
            lows.append(np.percentile(finite, 10))
    if reference is not None:
        ax.axhline(reference, color="#888", ls=":", lw=1, label=f"best in space ({reference:.2f})")
    if lows:
        top = max(reference or -np.inf, *(np.nanmax(np.asarray(c["ci_high"], dtype=float)) for c in curves))
        ax.set_ylim(min(lows) - 0.3, top + 0.2)
    ax.set(title=title, xlabel=xlabel, ylabel="test accuracy of the incumbent (%)")
    ax.grid(color="#eee")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return svg_of(fig)


def predictor_curves(frame, *, title: str, metric: str = "spearman") -> str:
    """Correlation vs training-set size, one line (with CI band) per predictor; label-free ones as dashed levels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    trained = frame[~frame["label_free"].astype(bool)] if "label_free" in frame else frame
    free = frame[frame["label_free"].astype(bool)] if "label_free" in frame else frame.iloc[0:0]
    sizes = sorted(set(trained["train_size"])) if len(trained) else sorted(set(frame["train_size"]))
    k = 0
    for name, rows in trained.groupby("predictor", sort=False):
        rows = rows.sort_values("train_size")
        colour = style(k)["color"]
        ax.plot(rows["train_size"], rows[metric], marker="o", ms=3, lw=1.2, label=name, **style(k))
        if f"{metric}_lo" in rows and f"{metric}_hi" in rows:
            ax.fill_between(rows["train_size"], rows[f"{metric}_lo"], rows[f"{metric}_hi"], color=colour, alpha=0.15,
                            linewidth=0)
        k += 1
    # Label-free predictors: the best few as dashed levels (all of them would hide the curves).
    levels = free.groupby("predictor", sort=False)[metric].max().sort_values(ascending=False).head(3)
    for j, (name, value) in enumerate(levels.items()):
        ax.axhline(value, ls="--", lw=1, color=("#555", "#888", "#aaa")[j], label=f"{name} (no training)")
    if len(sizes) > 1 and min(sizes) > 0 and max(sizes) / min(sizes) > 10:
        ax.set_xscale("log")
    ax.set(title=title, xlabel="training-set size (trained cells)", ylabel=f"{metric} (mean over trials, 95% CI)")
    ax.grid(color="#eee")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return svg_of(fig)


def rank_chart(models: Sequence[str], proxies: Sequence[str], ranks: Mapping[tuple[str, str], float]) -> str:
    """Each model's rank under each proxy (1 = best), one line per model across the proxies, as SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(proxies) + 3), 0.3 * len(models) + 1.6))
    for k, model in enumerate(models):
        xs = [i for i, p in enumerate(proxies) if math.isfinite(ranks.get((model, p), math.nan))]
        ys = [ranks[(model, proxies[i])] for i in xs]
        ax.plot(xs, ys, marker="o", ms=4, lw=1.2, label=model, **style(k))
    ax.set_xticks(range(len(proxies)), proxies)
    ax.set_ylabel("rank (1 = best)")
    ax.invert_yaxis()
    ax.set_yticks(range(1, len(models) + 1))
    ax.grid(axis="y", color="#eee")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return svg_of(fig)
