"""`predictors evaluate`: how well do performance predictors rank unseen architectures?

The protocol of White et al. (NeurIPS 2021), on the architectures that have
ground truth and every feature the chosen predictors need (the *pool*):

1. For trial ``t`` (``t = 0..T-1``), shuffle the pool with the generator
   ``numpy.random.default_rng([seed, t])``. The first ``test_size`` cells are the
   trial's **test set**; the next ``max(train_sizes)`` are its training
   reservoir, and the training set of size ``n`` is the reservoir's first ``n``
   cells (nested across sizes, so within a trial a larger training set only
   adds cells; the test set is the same for every size and predictor).
2. Every predictor that needs labels is built fresh (seed ``seed * 1000 + t``),
   ``fit`` on the training archs and their accuracies, and asked to
   ``predict`` the test archs. Predictors that need no labels (zero-cost,
   low-fidelity) are evaluated once per trial and reported at every training
   size (their ``fit`` is a no-op), so they draw horizontal lines. Training
   size 0 has only those.
3. On the test set: Spearman's rho, Kendall's tau-b and the top-10% precision
   (share of the predicted top 10% that is in the true top 10%; ties broken by
   test-set position, which is random), plus the
   wall-clock seconds of ``fit`` and ``predict``, and the recorded cost of the
   features per arch (zero-cost seconds, low-fidelity training seconds).
   A predictor whose test predictions are all equal ranks nothing: its
   correlations count as 0 for that trial (``constant_trials`` says how often).

Confidence intervals (``--trials >= 2``): per (predictor, training size), the
mean over trials and a 95% percentile bootstrap of that mean *over trials*
(resampling whole trials with replacement, ``n_bootstrap`` times, seeded).
A trial redraws both the training and the test set, so this interval covers
the variation from both draws — what a user repeating the experiment on new
random cells would see. With few trials (5) the percentile interval is
somewhat too narrow; the standard deviation over trials is reported beside it.
With ``--trials 1`` there is nothing to resample over trials, so Spearman and
Kendall get a paired bootstrap over the test cells instead (top-10% gets none).

Leakage guards: the test archs and their accuracies never reach ``fit`` (the
split is checked to be disjoint every time, and a test with a spy predictor
checks what ``fit`` receives); the features are label-free per-arch lookups
(:class:`~gradsign.predictors.features.FeatureProvider`); every statistic used
to scale features or targets is computed inside ``fit`` from the training
archs; hyperparameters are fixed defaults (each predictor module says which and
why) or fitted by marginal likelihood / evidence on the training archs only.
The zero-cost rank ensemble ranks each arch among the queried test archs by
their zero-cost scores only (no accuracies).

The zero-cost, low-fidelity and encoding features come from
:mod:`gradsign.workflows.predictors.sources`; the tables and the plot from
:mod:`gradsign.workflows.predictors.report`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gradsign.errors import ConfigError
from gradsign.evaluation import bootstrap_ci, kendall, spearman, top_k_precision
from gradsign.predictors import make_predictor, parse_predictor_list, predictor_class
from gradsign.workflows.predictors.sources import Problem

#: A test set is never cut below this many cells (or the requested size, if smaller) to fit a training size.
MIN_TEST = 100
METRICS = ("spearman", "kendall", "top10")


@dataclass
class PredictorEvaluation:
    """What a predictor evaluation found.

    Attributes:
        trials: one row per (predictor, training size, trial): metrics on that trial's test set,
            fit / query seconds, feature seconds per arch.
        summary: one row per (predictor, training size): mean, std and 95% CI of each metric
            (``spearman``, ``kendall``, ``top10``; ``<metric>_lo`` / ``_hi``), mean seconds.
        meta: the run's settings (space, dataset, target, features, pool, sizes, trials, seed,
            CI method), each predictor's settings, the headline and the notes.
        files: what was written (empty without ``output``).
    """

    trials: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The aggregate table (a copy of :attr:`summary`)."""
        return self.summary.copy()

    def to_json(self, path: str | Path | None = None) -> str:
        """Settings, notes and the aggregate rows as strict JSON (``summary.json``); also written to ``path``."""
        from gradsign.outputs import dumps_json

        payload = {**self.meta, "results": json.loads(self.summary.to_json(orient="records", double_precision=6))}
        text = dumps_json(payload)
        if path is not None:
            Path(path).write_text(text)
        return text


def plan_sizes(pool: int, train_sizes: Sequence[int], test_size: int) -> tuple[list[int], int, list[str]]:
    """Training sizes that fit and the test size, given ``pool`` cells. Test sets shrink first (to
    ``min(test_size, MIN_TEST)`` at most), then the largest training sizes are dropped."""
    notes: list[str] = []
    sizes = sorted(set(int(n) for n in train_sizes))
    if not sizes or sizes[0] < 0:
        raise ConfigError(f"training sizes must be non-negative integers, got {list(train_sizes)}")
    if test_size < 2:
        raise ConfigError(f"test size must be at least 2, got {test_size}")
    floor = min(test_size, MIN_TEST)
    kept = [n for n in sizes if n + floor <= pool]
    if not kept:
        raise ConfigError(f"only {pool} cells have all needed features: not enough for a test set of {floor} "
                          f"and a training set of {sizes[0]}")
    if len(kept) < len(sizes):
        dropped = [n for n in sizes if n not in kept]
        notes.append(f"training sizes {dropped} dropped: the pool has only {pool} cells and the test set keeps at "
                     f"least {floor}")
    test = min(test_size, pool - max(kept))
    if test < test_size:
        notes.append(f"test size reduced from {test_size} to {test}: the pool has only {pool} cells "
                     f"(largest training size {max(kept)})")
    return kept, test, notes


def evaluate_predictors(
    problem: Problem,
    predictors: Sequence[str] | str | None = None,
    *,
    train_sizes: Sequence[int] = (0, 10, 20, 50, 100, 200, 500),
    test_size: int = 1000,
    trials: int = 10,
    seed: int = 0,
    n_bootstrap: int = 2000,
    threads: int = 1,
    progress: bool = False,
    device: str = "cpu",
) -> PredictorEvaluation:
    """Run the protocol of the module docstring on ``problem``; see :class:`PredictorEvaluation`.

    ``device``: where the torch predictors (BANANAS, GCN) fit; the others run on the CPU.
    """
    from threadpoolctl import threadpool_limits

    from gradsign.workflows.progress import progress_bar

    if trials < 1:
        raise ConfigError(f"trials must be at least 1, got {trials}")
    notes = list(problem.notes)
    plan = _plan(problem, predictors, train_sizes, test_size, notes)
    if any(cls.__module__.endswith(("bananas", "gcn")) for n, cls in plan.classes.items() if n in plan.learned):
        import torch  # noqa: F401  (imported here so its one-off import time is not charged to the first fit)

    run = _TrialRunner(problem, plan, threads=threads, device=device, n_bootstrap=n_bootstrap,
                       one_trial=trials == 1)
    units = trials * (len(plan.label_free) + len(plan.learned) * sum(1 for s in plan.sizes if s > 0))
    finished = 0
    try:
        with threadpool_limits(limits=max(1, int(threads))), \
                progress_bar("predictors", units, unit="fits", enabled=progress) as advance:
            for t in range(trials):
                run.trial(t, seed, advance)
                finished = t + 1
    except KeyboardInterrupt:
        if finished == 0:
            raise
        # The trials finished so far are a smaller, complete evaluation: hand them back, marked partial.
        rows = [r for r in run.rows if r["trial"] < finished]
        partial = _evaluation(problem, plan, run, rows, notes, trials, seed, n_bootstrap)
        partial.meta["partial"] = {"trials_finished": finished, "of": trials}
        raise PredictorsInterrupted(partial) from None
    return _evaluation(problem, plan, run, run.rows, notes, trials, seed, n_bootstrap)


class PredictorsInterrupted(KeyboardInterrupt):
    """Ctrl-C after at least one whole trial: :attr:`partial` evaluates the finished trials only
    (``meta["partial"]`` says how many)."""

    def __init__(self, partial: PredictorEvaluation) -> None:
        super().__init__()
        self.partial = partial


def _evaluation(problem: Problem, plan: "_Plan", run: "_TrialRunner", rows: list[dict[str, Any]], notes: list[str],
                trials: int, seed: int, n_bootstrap: int) -> PredictorEvaluation:
    """The evaluation of the trial ``rows``: the aggregate table and the run's settings."""
    trial_frame = pd.DataFrame(rows)
    summary = aggregate(trial_frame, n_bootstrap=n_bootstrap, seed=seed)
    order = {n: i for i, n in enumerate(plan.classes)}
    summary = summary.sort_values(["predictor", "train_size"], key=lambda c: c.map(order) if c.name == "predictor"
                                  else c).reset_index(drop=True)
    fp = problem.features
    meta = {
        "space": fp.space_name,
        "benchmark": problem.benchmark or fp.space_name,
        "dataset": fp.dataset,
        "target": problem.target,
        "features": fp.describe(),
        "zero_cost_proxies": list(fp.zc_names),
        "pool_size": len(plan.pool),
        "train_sizes": plan.sizes,
        "test_size": plan.n_test,
        "trials": trials,
        "seed": seed,
        "ci": ("95% percentile bootstrap of the mean over trials" if trials > 1
               else "95% paired bootstrap over test cells (one trial)"),
        "n_bootstrap": n_bootstrap,
        "predictors": {n: run.infos.get(n, {}) for n in plan.classes},
        "notes": notes,
    }
    meta["headline"] = headline(summary, 100)
    return PredictorEvaluation(trial_frame, summary, meta)


@dataclass
class _Plan:
    """What one evaluation runs: the predictors that can, the pool of cells, the sizes."""

    classes: dict[str, type]  # runnable predictor name -> class, in request order
    pool: list[str]
    sizes: list[int]
    n_test: int
    label_free: list[str]
    learned: list[str]


def _plan(problem: Problem, predictors: Sequence[str] | str | None, train_sizes: Sequence[int], test_size: int,
          notes: list[str]) -> _Plan:
    """The predictors that can run on ``problem``'s features (others skipped with a note when all were asked
    for, else an error), the pool of cells that have every feature they need, the sizes that fit."""
    fp = problem.features
    asked_all = predictors is None or (isinstance(predictors, str) and predictors.strip().lower() in ("", "all"))
    classes: dict[str, type] = {}
    for n in parse_predictor_list(predictors, fp):
        cls, _ = predictor_class(n)
        lacking = [need for need in cls.needs if not fp.has(need)]
        if lacking and asked_all:
            notes.append(f"{n} skipped: needs {', '.join(lacking)}")
        elif lacking:
            raise ConfigError(f"predictor {n!r} needs {', '.join(lacking)}, which {fp.space_name}/{fp.dataset} "
                              f"does not have here ({fp.describe()})")
        else:
            classes[n] = cls
    if not classes:
        raise ConfigError("no predictor can run with the available features")
    needed = set().union(*(cls.needs | (cls.optional & {k for k in ("zerocost", "lowfidelity") if fp.has(k)})
                           for cls in classes.values()))
    restrict = fp.archs_with(needed)
    pool = sorted(set(problem.universe) & restrict) if restrict is not None else sorted(problem.universe)
    sizes, n_test, size_notes = plan_sizes(len(pool), train_sizes, test_size)
    notes.extend(size_notes)
    label_free = [n for n, cls in classes.items() if "labels" not in cls.needs]
    learned = [n for n, cls in classes.items() if "labels" in cls.needs]
    if learned and not any(s > 0 for s in sizes):
        if not label_free:
            raise ConfigError("nothing to evaluate: training size 0 allows only predictors that need no labels "
                              f"(zero-cost, low-fidelity), and none of {', '.join(classes)} is one")
        notes.append("only training size 0: predictors that need labels are not evaluated")
        learned = []
    return _Plan(classes, pool, sizes, n_test, label_free, learned)


class _TrialRunner:
    """Runs the trials of a :class:`_Plan`, collecting one row per (predictor, training size, trial)."""

    def __init__(self, problem: Problem, plan: _Plan, *, threads: int, device: str, n_bootstrap: int,
                 one_trial: bool) -> None:
        self.problem, self.plan = problem, plan
        self.threads, self.device, self.n_bootstrap, self.one_trial = threads, device, n_bootstrap, one_trial
        self.rows: list[dict[str, Any]] = []
        self.infos: dict[str, dict[str, Any]] = {}

    def _fit_predict(self, name: str, pseed: int, train: list[str], y_train: Any, test: list[str]) -> tuple[Any, Any]:
        cls = self.plan.classes[name]
        pred = make_predictor(name, self.problem.features, seed=pseed,
                              **_compute_kwargs(cls, self.threads, self.device))
        pred.fit(train, y_train)
        scores = pred.predict(test)
        self.infos.setdefault(name, pred.info())
        return pred, scores

    def trial(self, t: int, seed: int, advance: Any) -> None:
        """Trial ``t``: shuffle the pool with ``default_rng([seed, t])``; test set first, then the reservoir."""
        plan, fp = self.plan, self.problem.features
        perm = np.random.default_rng([seed, t]).permutation(len(plan.pool))
        test = [plan.pool[i] for i in perm[:plan.n_test]]
        reservoir = [plan.pool[i] for i in perm[plan.n_test:plan.n_test + max(plan.sizes)]]
        y_test = self.problem.accuracy(test)
        pseed = seed * 1000 + t
        for n in plan.label_free:
            pred, scores = self._fit_predict(n, pseed, [], [], test)
            base = _metrics(scores, y_test, self.one_trial, self.n_bootstrap, pseed)
            fsec = fp.feature_seconds(test, pred.uses, getattr(pred, "proxies", None))
            for s in plan.sizes:
                self.rows.append({"predictor": n, "family": pred.family, "train_size": s, "trial": t,
                                  "n_train": 0, "n_test": len(test), **base, "fit_s": pred.fit_seconds,
                                  "query_s": pred.query_seconds, "feature_s_per_arch": fsec, "label_free": True})
            advance()
        for s in plan.sizes:
            if s == 0:
                continue
            train = reservoir[:s]
            _check_disjoint(train, test)
            y_train = self.problem.accuracy(train)
            for n in plan.learned:
                pred, scores = self._fit_predict(n, pseed, train, y_train, test)
                m = _metrics(scores, y_test, self.one_trial, self.n_bootstrap, pseed)
                self.rows.append({"predictor": n, "family": pred.family, "train_size": s, "trial": t,
                                  "n_train": len(train), "n_test": len(test), **m, "fit_s": pred.fit_seconds,
                                  "query_s": pred.query_seconds,
                                  "feature_s_per_arch": fp.feature_seconds(test, set(pred.uses) - {"labels"}),
                                  "label_free": False})
                advance()


def _compute_kwargs(cls: type, threads: int, device: str) -> dict[str, Any]:
    """``threads`` / ``device`` for a predictor class whose constructor takes them (the torch ones)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    if "threads" in params:
        out["threads"] = threads
    if "device" in params:
        out["device"] = device
    return out  # scikit-learn / LightGBM predictors run on the CPU whatever the device


def _check_disjoint(train: Sequence[str], test: Sequence[str]) -> None:
    overlap = set(train) & set(test)
    if overlap:  # cannot happen with the split above; a guard against future edits
        raise RuntimeError(f"{len(overlap)} test archs are in the training set")


def _metrics(scores: np.ndarray, acc: np.ndarray, with_ci: bool, n_bootstrap: int, seed: int) -> dict[str, float]:
    from scipy import stats

    out = {"spearman": spearman(scores, acc), "kendall": kendall(scores, acc),
           "top10": top_k_precision(scores, acc, 0.1)}
    fin = scores[np.isfinite(scores)]
    out["constant"] = bool(len(fin) == 0 or np.ptp(fin) == 0)
    if out["constant"]:
        # A predictor that ranks nothing (e.g. a GP that explains 10 archs as pure noise) has no rank
        # correlation; counting it as 0 rather than dropping the trial keeps the mean honest.
        out["spearman"] = out["kendall"] = 0.0
    if with_ci:
        # -inf (a failed proxy) would break the correlation bootstrap; rank it last with a finite stand-in.
        s = np.where(np.isneginf(scores), np.nanmin(np.where(np.isfinite(scores), scores, np.nan)) - 1.0, scores) \
            if np.isfinite(scores).any() else scores
        out["spearman_ci_cells"] = bootstrap_ci(lambda x, y: stats.spearmanr(x, y).statistic, s, acc,
                                                n_resamples=n_bootstrap, seed=seed)
        out["kendall_ci_cells"] = bootstrap_ci(lambda x, y: stats.kendalltau(x, y).statistic, s, acc,
                                               n_resamples=n_bootstrap, seed=seed + 1)
    return out


def bootstrap_mean_ci(values: np.ndarray, *, n_resamples: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped); NaN for < 2 values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_resamples, len(v)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def aggregate(trials: pd.DataFrame, *, n_bootstrap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (predictor, training size): mean, std and 95% CI of each metric, mean seconds."""
    out = []
    for (pred, size), g in trials.groupby(["predictor", "train_size"], sort=False):
        row: dict[str, Any] = {"predictor": pred, "family": g["family"].iat[0], "train_size": int(size),
                               "trials": len(g), "n_test": int(g["n_test"].iat[0])}
        for k, metric in enumerate(METRICS):
            v = g[metric].to_numpy(dtype=np.float64)
            row[metric] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            row[f"{metric}_std"] = float(np.nanstd(v)) if np.isfinite(v).sum() > 1 else math.nan
            if len(g) > 1:
                lo, hi = bootstrap_mean_ci(v, n_resamples=n_bootstrap, seed=seed + 7 * k)
            elif f"{metric}_ci_cells" in g:
                lo, hi = g[f"{metric}_ci_cells"].iat[0]
            else:
                lo, hi = math.nan, math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = lo, hi
            row[f"{metric}_nan_trials"] = int((~np.isfinite(v)).sum())
        row["constant_trials"] = int(g["constant"].sum()) if "constant" in g else 0
        row["fit_s"] = float(g["fit_s"].mean())
        row["query_s"] = float(g["query_s"].mean())
        row["feature_s_per_arch"] = float(g["feature_s_per_arch"].mean())
        row["label_free"] = bool(g["label_free"].iat[0])
        out.append(row)
    return pd.DataFrame(out)


def headline(summary: pd.DataFrame, size: int = 100) -> dict[str, Any] | None:
    """At training size ``size`` (or the nearest evaluated one): the best combined predictor, the best
    single zero-cost proxy and the best model-based predictor without zero-cost features, by mean Spearman.

    "Best" is picked on the reported (test) numbers: a *description* of this table, not a predictor
    selection rule (picking the best single proxy after the fact flatters the zero-cost baseline).
    """
    labelled = sorted(set(summary.loc[summary["train_size"] > 0, "train_size"]))
    if not labelled:
        return None
    at = min(labelled, key=lambda s: (abs(s - size), s))
    sub = summary[summary["train_size"] == at]

    def best(mask: pd.Series) -> dict[str, Any] | None:
        cand = sub[mask & np.isfinite(sub["spearman"])]
        if cand.empty:
            return None
        r = cand.loc[cand["spearman"].idxmax()]
        return {"predictor": r["predictor"], "spearman": float(r["spearman"]),
                "ci": [float(r["spearman_lo"]), float(r["spearman_hi"])], "kendall": float(r["kendall"])}

    return {
        "train_size": int(at),
        "best_combined": best(sub["family"] == "combined"),
        "best_single_zero_cost": best(sub["predictor"].str.startswith("zc:")),
        "best_model_based_without_zero_cost": best(sub["family"] == "model-based"),
        "zero_cost_ensemble": best(sub["predictor"] == "zc-ensemble"),
        "low_fidelity": best(sub["predictor"] == "lowfidelity"),
    }


__all__ = ["MIN_TEST", "METRICS", "PredictorEvaluation", "aggregate", "bootstrap_mean_ci", "evaluate_predictors",
           "headline", "plan_sizes"]
