"""Summaries, trajectory aggregation, tables and plots of search results.

Final-accuracy summaries and tables use Student-t intervals of the mean over
runs (``mean +- t_{0.975, n-1} * std / sqrt(n)``): runs are independent by
construction, and with 100+ runs the t and bootstrap intervals agree.

Trajectory bands (:func:`aggregate_trajectories`, :func:`plot_trajectories`)
use a percentile bootstrap of the mean over runs instead: late in a search
most runs hold the same best cells, the distribution is skewed against its
maximum, and a symmetric t band there crosses the best accuracy any run
reached (and, near 100%, 100%). Every bootstrap mean is a weighted average of
the runs' values, so the band stays inside ``[min, max]`` of the runs at each
point — never above the best value reached, never outside ``[0, 100]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from gradsign.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.search.results import SearchResults

#: NAS-Bench-201 paper (Dong & Yang, ICLR 2020), Table 5: mean +- std over 500 runs,
#: 12,000 simulated seconds, search on CIFAR-10 (cifar10-valid, 12-epoch valid
#: accuracy), reported: 200-epoch CIFAR-10 *test* accuracy of the setting trained on
#: train+valid ("cifar10" column; the optimum is 94.37). Transcribed from the
#: paper, not re-derived; the NB201 docs warn that results with the v1.1
#: benchmark file "could be slightly different from the original paper".
NB201_PAPER_CIFAR10_TEST: dict[str, tuple[float, float]] = {
    "rea": (93.92, 0.30),
    "random": (93.70, 0.36),
    "reinforce": (93.85, 0.37),
    "bohb": (93.61, 0.52),
}


#: Accuracies are percentages: an interval of their mean never leaves this range.
ACCURACY_RANGE = (0.0, 100.0)


def summarize(values: Any, confidence: float = 0.95, bounds: tuple[float, float] | None = ACCURACY_RANGE
              ) -> dict[str, float]:
    """n, mean, std (ddof 1), sem, ci_low/ci_high (t interval), median, min, max of finite ``values``.

    ``n_missing`` counts non-finite values (runs that trained nothing), which are dropped.
    The t interval is cut to ``bounds`` (default [0, 100], accuracies in percent): with
    few runs it can otherwise claim means below 0% or above 100% (``ci_clipped`` says when
    it was cut; ``bounds=None`` keeps the raw interval).
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(v)
    x = v[ok]
    n = int(x.shape[0])
    nan = float("nan")
    out = {"n": n, "n_missing": int((~ok).sum()), "mean": nan, "std": nan, "sem": nan,
           "ci_low": nan, "ci_high": nan, "median": nan, "min": nan, "max": nan, "confidence": confidence}
    if n == 0:
        return out
    mean = float(x.mean())
    out.update(mean=mean, median=float(np.median(x)), min=float(x.min()), max=float(x.max()))
    if n >= 2:
        std = float(x.std(ddof=1))
        sem = std / np.sqrt(n)
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sem)
        lo, hi = mean - half, mean + half
        if bounds is not None:
            clipped = lo < bounds[0] or hi > bounds[1]
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
            out["ci_clipped"] = bool(clipped)
        out.update(std=std, sem=float(sem), ci_low=lo, ci_high=hi)
    return out


def gain_over(values: Any, baseline: Any, confidence: float = 0.95) -> dict[str, float]:
    """Difference of means ``mean(values) - mean(baseline)`` with its Welch t interval.

    The gain of an assisted search setting over its plain algorithm: both samples
    are final accuracies of independent runs, with unequal variances (screening
    narrows the spread). Non-finite values (runs that trained nothing) are dropped
    and counted in ``n`` / ``n_baseline``. There is no interval (``ci_low`` /
    ``ci_high`` NaN) with fewer than two finite values on either side, or when
    both samples are constant (every run of both settings picked one arch: the
    t interval would have zero width). When only one is constant scipy may warn
    about the zero variance; the interval stands and the warning is silenced.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    a = np.asarray(values, dtype=np.float64).ravel()
    b = np.asarray(baseline, dtype=np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    nan = float("nan")
    out = {"gain": nan, "ci_low": nan, "ci_high": nan, "n": int(a.size), "n_baseline": int(b.size),
           "confidence": confidence}
    if a.size == 0 or b.size == 0:
        return out
    out["gain"] = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return out
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return out  # every run of both settings picked one arch: a zero-width interval would read as certainty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    out.update(ci_low=float(ci.low), ci_high=float(ci.high))
    return out


def format_gain(gain: Mapping[str, float]) -> str:
    """``+0.26 [+0.12, +0.40]`` for a :func:`gain_over` result (no interval: says why)."""
    if not np.isfinite(gain["gain"]):
        return "no runs" if gain["n"] == 0 else "no baseline runs"
    if not np.isfinite(gain["ci_low"]):
        if gain["n"] < 2 or gain["n_baseline"] < 2:
            return f"{gain['gain']:+.2f} (too few runs for an interval)"
        return f"{gain['gain']:+.2f} (no spread: every run of both picked one arch)"
    return f"{gain['gain']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]"


def _run_x(run: Any, x: str) -> np.ndarray:
    t = run.trajectory
    if not t:
        raise ConfigError("these search results were saved without trajectories (to_json(trajectories=False)); "
                          "rerun them to plot or aggregate trajectories")
    if x == "spent":
        return np.asarray(t["spent"], dtype=np.float64)
    if x == "evaluations":
        return np.arange(1, len(t["test"]) + 1, dtype=np.float64)
    if x == "seconds":
        return np.asarray(t["train_seconds"], dtype=np.float64) + np.asarray(t["proxy_seconds"], dtype=np.float64)
    raise ConfigError(f"trajectory axis must be 'spent', 'evaluations' or 'seconds', got {x!r}")


def aggregate_trajectories(
    results: "SearchResults",
    *,
    grid: Sequence[float] | np.ndarray | None = None,
    num_points: int = 121,
    x: str = "spent",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Incumbent accuracy of all runs on a common grid: mean, std, CI, n per point.

    ``x``: ``"spent"`` (budget used, in the budget's unit: charged seconds or
    trainings), ``"evaluations"`` (trainings) or ``"seconds"`` (simulated
    training + measured proxy seconds, whatever was charged: the honest
    wall-clock axis). At grid point ``g`` a run contributes the test accuracy
    of its incumbent after the last training with ``x <= g``; runs with no
    training yet are left out (``n`` says how many contribute). The default
    grid spans 0 .. the budget (or the largest ``x`` reached).

    ``ci_low`` / ``ci_high``: percentile bootstrap of the mean (``n_bootstrap``
    resamples of whole runs, drawn from ``seed``), inside ``[min, max]`` of the
    runs at every point; NaN where fewer than 2 runs contribute. The result
    also names the method (``ci_method``) and the budget (``budget``: kind and
    amount, for the axis unit).
    """
    runs = results.runs
    xs = [_run_x(r, x) for r in runs]
    ys = [np.asarray(r.trajectory["test"], dtype=np.float64) for r in runs]
    if grid is None:
        if x == "spent":
            hi = float(results.budget["amount"])
        else:
            hi = max((float(a[-1]) for a in xs if a.size), default=1.0)
        g = np.linspace(0.0, hi, int(num_points))
    else:
        g = np.asarray(grid, dtype=np.float64)
    vals = np.full((len(runs), g.shape[0]), np.nan)
    for i, (a, y) in enumerate(zip(xs, ys)):
        if a.size == 0:
            continue
        pos = np.searchsorted(a, g, side="right") - 1
        have = pos >= 0
        vals[i, have] = y[pos[have]]
    n = np.isfinite(vals).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(vals, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(vals), vals - mean[None, :], 0.0)
        std = np.where(n > 1, np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1)), np.nan)
    lo, hi = bootstrap_mean_band(vals, confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
    return {
        "label": results.label, "x": x, "grid": g.tolist(), "mean": mean.tolist(), "std": std.tolist(),
        "ci_low": lo.tolist(), "ci_high": hi.tolist(), "n": n.tolist(),
        "runs": len(runs), "confidence": confidence,
        "ci_method": f"percentile bootstrap of the mean over runs ({int(n_bootstrap)} resamples)",
        "budget": dict(results.budget),
    }


def bootstrap_mean_band(
    values: Any, *, confidence: float = 0.95, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of the column means of ``values`` (runs x points; NaN = no value).

    Whole runs (rows) are resampled with replacement, ``n_bootstrap`` times; at
    each point the resample's mean is over its rows that have a value there.
    The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    percentiles of those means: a weighted average of observed values, so it
    lies in ``[min, max]`` of the column (clipped to it, which only removes
    float rounding). NaN where fewer than 2 rows have a value.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
        raise ConfigError(f"n_bootstrap must be a positive int, got {n_bootstrap!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ConfigError(f"values must be a 2-d array (runs x points), got shape {v.shape}")
    have = np.isfinite(v)
    n = have.sum(axis=0)
    lo = np.full(v.shape[1], np.nan)
    hi = np.full(v.shape[1], np.nan)
    cols = n >= 2
    if v.shape[0] == 0 or not cols.any():
        return lo, hi
    rng = np.random.default_rng(seed)
    rows = v.shape[0]
    # counts[b, r]: how often run r is drawn in resample b (a multinomial draw of `rows` runs)
    counts = rng.multinomial(rows, np.full(rows, 1.0 / rows), size=int(n_bootstrap)).astype(np.float64)
    filled = np.where(have, v, 0.0)[:, cols]
    weight = counts @ have[:, cols].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(weight > 0, (counts @ filled) / weight, np.nan)
    alpha = 100.0 * (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        q_lo, q_hi = np.nanpercentile(means, [alpha, 100.0 - alpha], axis=0)
    vmin = np.nanmin(np.where(have, v, np.nan)[:, cols], axis=0)
    vmax = np.nanmax(np.where(have, v, np.nan)[:, cols], axis=0)
    lo[cols] = np.clip(q_lo, vmin, vmax)
    hi[cols] = np.clip(q_hi, vmin, vmax)
    return lo, hi


def results_table(results: Sequence["SearchResults"], confidence: float = 0.95) -> list[dict[str, Any]]:
    """One row per setting: label, n, mean, std, CI, trainings and seconds per run."""
    rows = []
    for res in results:
        s = res.summary(confidence)
        rows.append({
            "setting": res.label, "algo": res.algo, "proxy": res.proxy, "dataset": res.dataset,
            "runs": s["n"], "mean": s["mean"], "std": s["std"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
            "trainings": s["evaluations_mean"], "charged_s": s["charged_seconds_mean"], "proxy_s": s["proxy_seconds_mean"],
            # the paper's figures are for the plain algorithms only
            "paper": (NB201_PAPER_CIFAR10_TEST.get(res.algo)
                      if res.dataset == "cifar10" and res.space == "nb201" and res.proxy is None else None),
            # the pick's accuracy on every dataset the oracle reports (transfer, as in the papers' tables)
            "reported": {k: {"mean": v["mean"], "std": v["std"], "ci_low": v["ci_low"], "ci_high": v["ci_high"], "n": v["n"]}
                         for k, v in res.reported_summary(confidence).items()},
        })
    return rows


#: Columns of :func:`format_transfer_table`, in order (NB201's three reported datasets).
TRANSFER_COLUMNS = ("cifar10", "cifar100", "ImageNet16-120")


def format_transfer_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = TRANSFER_COLUMNS) -> str:
    """A Markdown table of the picked cells' accuracy on every dataset (mean ± std [95% CI]).

    This is the layout of NB201's Table 5 and the GradSign paper's Table 5: the
    search runs on one dataset's signal (theirs: CIFAR-10) and the cell it picks
    is reported on all three. Empty string when no row has reported numbers.
    """
    cols = [c for c in columns if any(c in r.get("reported", {}) for r in rows)]
    if not cols:
        return ""
    lines = ["| setting (searched on) | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get("reported", {}).get(c)
            cells.append("" if v is None or v["n"] == 0 else
                         f"{v['mean']:.2f} ± {v['std']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]")
        lines.append(f"| {r['setting']} ({r['dataset']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of :func:`results_table` rows."""
    # the NB201 paper's column only where a row has its figure (plain algorithms on NB201 CIFAR-10)
    with_paper = any(r.get("paper") for r in rows)
    head = "| setting | runs | test acc mean ± std | 95% CI | trainings/run | charged s/run | proxy s/run |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    lines = [head + (" NB201 paper |" if with_paper else ""), rule + (" ---: |" if with_paper else "")]
    for r in rows:
        line = (f"| {r['setting']} | {r['runs']} | {r['mean']:.2f} ± {r['std']:.2f} | "
                f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {r['trainings']:.1f} | {r['charged_s']:.0f} | "
                f"{r['proxy_s']:.0f} |")
        if with_paper:
            line += f" {r['paper'][0]:.2f} ± {r['paper'][1]:.2f} |" if r.get("paper") else "  |"
        lines.append(line)
    return "\n".join(lines)


#: Line styles and markers cycled over the curves of one plot, so curves that overlap stay distinguishable.
_LINE_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _budget_kind(agg: Mapping[str, Any]) -> str | None:
    budget = agg.get("budget")
    return budget.get("kind") if isinstance(budget, Mapping) else None


def trajectory_xlabel(x: str, budget_kind: str | None = None) -> str:
    """The x-axis label of a trajectory plot, with its unit.

    ``x="spent"``: the budget's unit, simulated seconds (NB201's training time
    of each trained cell, plus proxy seconds where they were charged) or
    trainings; ``"evaluations"``: cells trained; ``"seconds"``: simulated
    training + measured proxy seconds, charged or not.
    """
    if x == "spent":
        if budget_kind == "seconds":
            return "budget spent (simulated s: training time + charged proxy time)"
        if budget_kind == "evaluations":
            return "budget spent (cells trained)"
        return "budget spent (budget units)"
    if x == "evaluations":
        return "cells trained (count)"
    if x == "seconds":
        return "simulated training + measured proxy time (s)"
    return x


def coinciding_curves(curves: Mapping[str, Mapping[str, Any]], atol: float = 1e-9) -> list[tuple[str, str]]:
    """``(label, earlier label)`` for every curve whose mean equals an earlier curve's on the same grid.

    ``curves``: label -> :func:`aggregate_trajectories` dict. Equal means
    ``|difference| <= atol`` at every grid point (NaN where both are NaN):
    drawn, one line would hide the other.
    """
    out: list[tuple[str, str]] = []
    seen: list[tuple[str, np.ndarray, np.ndarray]] = []
    for label, agg in curves.items():
        g = np.asarray(agg["grid"], dtype=np.float64)
        m = np.asarray(agg["mean"], dtype=np.float64)
        for other, og, om in seen:
            if og.shape == g.shape and np.array_equal(og, g) and np.allclose(om, m, rtol=0.0, atol=atol, equal_nan=True):
                out.append((label, other))
                break
        else:
            seen.append((label, g, m))
    return out


def _aggregated_curves(curves: Mapping[str, Any] | Sequence["SearchResults"], x: str,
                       num_points: int) -> dict[str, Mapping[str, Any]]:
    """Label -> aggregated trajectory, for SearchResults or a mapping of them (or of aggregates)."""
    items = list(curves.items()) if isinstance(curves, Mapping) else [(res.label, res) for res in curves]
    if not items:
        raise ConfigError("nothing to plot: no search results given")
    aggs: dict[str, Mapping[str, Any]] = {}
    for label, item in items:
        k = 2
        base, label = label, str(label)
        while label in aggs:  # two settings with one label: keep both, numbered
            label, k = f"{base} #{k}", k + 1
        aggs[label] = item if isinstance(item, Mapping) else aggregate_trajectories(item, x=x, num_points=num_points)
    return aggs


def plot_trajectories(
    curves: Mapping[str, Any] | Sequence["SearchResults"],
    path: str | Path,
    *,
    x: str = "spent",
    title: str | None = None,
    ylabel: str = "test accuracy of incumbent (%)",
    reference: float | None = None,
    num_points: int = 121,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Mean incumbent accuracy with CI bands, one curve per setting, saved as PNG.

    ``curves``: SearchResults (labelled by their ``label``), or a mapping label ->
    SearchResults or an :func:`aggregate_trajectories` dict. ``reference``
    draws a horizontal line (e.g. the best accuracy in the space).

    Bands are :func:`aggregate_trajectories`' percentile-bootstrap intervals of
    the mean (inside the runs' range: never above 100%). Each curve has its
    own line style and markers (markers staggered along x), and a curve whose
    mean equals an earlier one's (:func:`coinciding_curves`) is labelled
    ``= <that curve>`` in the legend, so no curve hides silently behind
    another. The x axis names its unit (:func:`trajectory_xlabel`); curves
    with different budget kinds cannot share one ``x="spent"`` axis.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    aggs = _aggregated_curves(curves, x, num_points)
    kinds = {k for k in (_budget_kind(a) for a in aggs.values()) if k is not None}
    if x == "spent" and len(kinds) > 1:
        raise ConfigError(f"cannot plot budgets of different kinds ({', '.join(sorted(kinds))}) on one 'spent' axis; "
                          "use x='evaluations' or x='seconds'")
    same_as = dict(coinciding_curves(aggs))
    fig, ax = plt.subplots(figsize=(7.0, 4.5), dpi=120)
    tail_lo, tail_hi = [], []
    n_curves = len(aggs)
    for i, (label, agg) in enumerate(aggs.items()):
        g = np.asarray(agg["grid"], dtype=np.float64)
        m = np.asarray(agg["mean"], dtype=np.float64)
        lo = np.asarray(agg["ci_low"], dtype=np.float64)
        hi = np.asarray(agg["ci_high"], dtype=np.float64)
        step = max(1, len(g) // 8)
        text = f"{label} (n={agg['runs']})" + (f" = {same_as[label]}" if label in same_as else "")
        (line,) = ax.plot(g, m, label=text, lw=1.6, ls=_LINE_STYLES[i % len(_LINE_STYLES)],
                          marker=_MARKERS[i % len(_MARKERS)], ms=4, markevery=(i * step // n_curves, step))
        ax.fill_between(g, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
        # the first trainings are far below the rest; scale the axis to the last 90% of x
        tail = g >= g[0] + 0.1 * (g[-1] - g[0])
        if np.isfinite(lo[tail]).any():
            tail_lo.append(np.nanmin(lo[tail]))
            tail_hi.append(np.nanmax(hi[tail]))
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=1, label=f"best in space ({reference:.2f})")
        tail_hi.append(reference)
    if ylim is None and tail_lo:
        span = max(max(tail_hi) - min(tail_lo), 1e-6)
        ylim = (min(tail_lo) - 0.1 * span, max(tail_hi) + 0.1 * span)
    ax.set_xlabel(trajectory_xlabel(x, next(iter(kinds)) if len(kinds) == 1 else None))
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    confidence = next(iter(aggs.values())).get("confidence", 0.95)
    note = f"bands: {100 * confidence:.0f}% percentile-bootstrap CI of the mean"
    if same_as:
        note += "\n'= X': mean identical to curve X (drawn on top of it)"
    ax.legend(fontsize=8, loc="lower right", title=note, title_fontsize=7)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    plt.close(fig)
    return p


__all__ = [
    "NB201_PAPER_CIFAR10_TEST",
    "TRANSFER_COLUMNS",
    "format_transfer_table",
    "aggregate_trajectories",
    "bootstrap_mean_band",
    "coinciding_curves",
    "format_gain",
    "format_table",
    "gain_over",
    "plot_trajectories",
    "results_table",
    "summarize",
    "trajectory_xlabel",
]
