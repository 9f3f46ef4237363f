"""Trajectory plots: bounded bands, distinguishable (and reported) identical curves, a budget axis with a unit."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from search_fakes import toy_oracle  # noqa: E402

from gradsign.errors import ConfigError  # noqa: E402
from gradsign.search import SearchResults, run_searches  # noqa: E402
from gradsign.search.base import SearchRun  # noqa: E402
from gradsign.search.report import (  # noqa: E402
    aggregate_trajectories,
    bootstrap_mean_band,
    coinciding_curves,
    plot_trajectories,
    trajectory_xlabel,
)


def _run(i: int, spent: list[float], test: list[float]) -> SearchRun:
    return SearchRun(
        run=i, seed=[0, i], incumbent=0, arch="a", test=test[-1], signal=test[-1], reported={}, evaluations=len(test),
        proxy_scored=0, proxy_queries=0, train_seconds=spent[-1], proxy_seconds=0.0, charged_seconds=spent[-1],
        trajectory={"spent": spent, "train_seconds": spent, "proxy_seconds": [0.0] * len(spent),
                    "incumbent": [0] * len(spent), "test": test},
    )


def near_100(kind: str = "seconds", n_runs: int = 12) -> SearchResults:
    """Most runs reach 100.0 early, a few stay at 99.x: the mean is just under 100, the data skewed against it."""
    runs = []
    for i in range(n_runs):
        final = 100.0 if i % 4 else 99.0 + 0.1 * i
        runs.append(_run(i, [10.0, 50.0, 200.0], [97.0 + 0.1 * i, 99.5, final]))
    return SearchResults(algo="rea", params={}, dataset="toy", space="toy", budget={"kind": kind, "amount": 300.0},
                         proxy=None, candidates=1, charge_proxy=True, warmup_pool=0, seed=0, runs=runs)


def _keep_figure(monkeypatch):
    """Leave the saved figure open so the test can read its artists."""
    monkeypatch.setattr(plt, "close", lambda *a, **k: None)
    plt.close("all")


# --------------------------------------------------------------------------- the band


def test_band_stays_inside_0_100_and_the_runs_range_near_100_percent():
    res = near_100()
    agg = aggregate_trajectories(res, num_points=31)
    vals = np.array([[np.nan if g < 10 else (r.trajectory["test"][0] if g < 50 else r.trajectory["test"][1] if g < 200
                      else r.trajectory["test"][2]) for g in agg["grid"]] for r in res.runs])
    lo, hi, mean = (np.asarray(agg[k], dtype=float) for k in ("ci_low", "ci_high", "mean"))
    ok = np.isfinite(lo)
    assert ok.sum() >= 25
    assert (hi[ok] <= 100.0).all() and (lo[ok] >= 0.0).all()
    assert (hi[ok] <= np.nanmax(vals[:, ok], axis=0)).all() and (lo[ok] >= np.nanmin(vals[:, ok], axis=0)).all()
    assert (lo[ok] <= mean[ok] + 1e-12).all() and (mean[ok] <= hi[ok] + 1e-12).all()
    # The Student-t band this replaces crosses 100% at the end: mean 99.85, sd 0.24, n 12.
    final = np.array([r.test for r in res.runs])
    from scipy import stats

    t_hi = final.mean() + stats.t.ppf(0.975, len(final) - 1) * final.std(ddof=1) / np.sqrt(len(final))
    assert t_hi > 100.0 and hi[-1] <= 100.0 and hi[-1] < t_hi
    assert agg["ci_method"].startswith("percentile bootstrap") and agg["budget"]["kind"] == "seconds"
    again = aggregate_trajectories(res, num_points=31)  # seeded: reproducible
    for key in ("mean", "ci_low", "ci_high"):
        np.testing.assert_array_equal(agg[key], again[key])


def test_bootstrap_band_matches_a_direct_bootstrap_and_edge_cases():
    rng = np.random.default_rng(1)
    v = rng.normal(90, 2, size=(200, 1))
    lo, hi = bootstrap_mean_band(v, n_bootstrap=2000, seed=3)
    sem = v.std(ddof=1) / np.sqrt(200)
    assert lo[0] == pytest.approx(v.mean() - 1.96 * sem, abs=0.35 * sem)
    assert hi[0] == pytest.approx(v.mean() + 1.96 * sem, abs=0.35 * sem)
    # one value, or none, at a point: no band
    lo, hi = bootstrap_mean_band(np.array([[1.0, np.nan], [np.nan, np.nan]]))
    assert np.isnan(lo).all() and np.isnan(hi).all()
    # all runs equal: a band of zero width at that value
    lo, hi = bootstrap_mean_band(np.full((5, 3), 100.0))
    assert (lo == 100.0).all() and (hi == 100.0).all()
    for bad in ({"confidence": 1.0}, {"n_bootstrap": 0}, {"n_bootstrap": True}):
        with pytest.raises(ConfigError):
            bootstrap_mean_band(v, **bad)
    with pytest.raises(ConfigError):
        bootstrap_mean_band(np.zeros(3))


def test_plotted_band_never_exceeds_100(tmp_path, monkeypatch):
    _keep_figure(monkeypatch)
    plot_trajectories([near_100()], tmp_path / "p.png", reference=100.0)
    ax = plt.gcf().axes[0]
    (band,) = ax.collections
    ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
    assert np.isfinite(ys).all() and ys.max() <= 100.0 and ys.min() >= 0.0
    plt.close("all")


# --------------------------------------------------------------------------- axis unit


def test_budget_axis_names_its_unit(tmp_path, monkeypatch):
    assert trajectory_xlabel("spent", "seconds") == "budget spent (simulated s: training time + charged proxy time)"
    assert trajectory_xlabel("spent", "evaluations") == "budget spent (cells trained)"
    assert "(s)" in trajectory_xlabel("seconds") and "(count)" in trajectory_xlabel("evaluations")
    _keep_figure(monkeypatch)
    o = toy_oracle()
    for budget, unit in ((300.0, "simulated s"), ("20evals", "cells trained")):
        res = run_searches("random", o, runs=3, seed=0, budget=budget)
        plot_trajectories([res], tmp_path / "u.png")
        assert unit in plt.gcf().axes[0].get_xlabel()
        plt.close("all")
    with pytest.raises(ConfigError, match="different kinds"):
        plot_trajectories([near_100("seconds"), near_100("evaluations")], tmp_path / "mixed.png")
    plot_trajectories([near_100("seconds"), near_100("evaluations")], tmp_path / "mixed.png", x="evaluations")
    assert plt.gcf().axes[0].get_xlabel() == "cells trained (count)"
    plt.close("all")


# --------------------------------------------------------------------------- identical curves


def test_identical_curves_are_distinguishable_and_reported(tmp_path, monkeypatch):
    o = toy_oracle()
    a = run_searches("random", o, runs=5, seed=0)
    b = run_searches("random", o, runs=5, seed=0)  # the same runs: the same curve
    c = run_searches("rea", o, runs=5, seed=1)
    curves = {"plain": a, "assisted (free)": b, "rea": c}
    aggs = {k: aggregate_trajectories(v) for k, v in curves.items()}
    assert coinciding_curves(aggs) == [("assisted (free)", "plain")]
    _keep_figure(monkeypatch)
    plot_trajectories(curves, tmp_path / "same.png")
    ax = plt.gcf().axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3
    styles = {(ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(styles) == 3  # every curve its own line style and marker
    assert lines[0].get_markevery() != lines[1].get_markevery()  # staggered markers stay visible
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "assisted (free) (n=5) = plain" in texts and "plain (n=5)" in texts
    assert "identical" in legend.get_title().get_text() and "bootstrap" in legend.get_title().get_text()
    plt.close("all")
    # Curves that differ are not reported.
    assert coinciding_curves({"a": aggs["plain"], "c": aggs["rea"]}) == []


def test_duplicate_labels_are_numbered(tmp_path, monkeypatch):
    _keep_figure(monkeypatch)
    res = near_100()
    plot_trajectories([res, res], tmp_path / "dup.png")
    texts = [t.get_text() for t in plt.gcf().axes[0].get_legend().get_texts()]
    assert texts == ["rea (n=12)", "rea #2 (n=12) = rea"]
    plt.close("all")
