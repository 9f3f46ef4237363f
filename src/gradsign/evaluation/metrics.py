"""Rank correlation between a proxy's scores and true accuracy.

All functions take raw scores (higher = predicted better, after applying the
proxy's direction) and accuracies, drop pairs where either is not finite (and
report how many), and never impute. Confidence intervals come from a paired
percentile bootstrap (scipy.stats.bootstrap) with a seeded generator, so the
same inputs and seed give the same interval.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from scipy import stats

from gradsign.errors import ConfigError


def _finite_pairs(scores, accuracies) -> tuple[np.ndarray, np.ndarray, int]:
    s = np.asarray(scores, dtype=np.float64)
    a = np.asarray(accuracies, dtype=np.float64)
    if s.shape != a.shape:
        raise ValueError(f"scores and accuracies differ in shape: {s.shape} vs {a.shape}")
    ok = np.isfinite(s) & np.isfinite(a)
    return s[ok], a[ok], int((~ok).sum())


#: Fewer finite (score, accuracy) pairs than this: no Spearman / Kendall (NaN).
MIN_CORRELATION_PAIRS = 3
#: Fewer finite pairs than this: no bootstrap interval (NaN bounds).
MIN_CI_PAIRS = 5


def spearman(scores, accuracies) -> float:
    s, a, _ = _finite_pairs(scores, accuracies)
    if len(s) < MIN_CORRELATION_PAIRS or np.ptp(s) == 0 or np.ptp(a) == 0:
        return float("nan")
    return float(stats.spearmanr(s, a).statistic)


def kendall(scores, accuracies) -> float:
    """Kendall's tau-b (ties in either variable are accounted for)."""
    s, a, _ = _finite_pairs(scores, accuracies)
    if len(s) < MIN_CORRELATION_PAIRS or np.ptp(s) == 0 or np.ptp(a) == 0:
        return float("nan")
    return float(stats.kendalltau(s, a).statistic)


def top_k_membership(values, k: int) -> np.ndarray:
    """Each item's probability of being among the ``k`` largest ``values`` when ties are broken at random.

    1 above the cut, 0 below it; the items tied at the cut share its remaining places equally
    (``(places left) / (items tied)`` each). Non-finite values rank last, tied with one another.
    """
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v), v, -np.inf)
    n = len(v)
    k = min(k, n)
    if k <= 0:
        return np.zeros(n)
    cut = np.sort(v)[::-1][k - 1]  # the k-th largest value
    above = v > cut
    tied = v == cut
    out = above.astype(np.float64)
    out[tied] = (k - int(above.sum())) / int(tied.sum())
    return out


def top_k_precision(scores, accuracies, fraction: float = 0.1) -> float:
    """Share of the proxy's top ``fraction`` that are also in the true top ``fraction``.

    With ties at either cut this is the expectation over random tie orders (the sum over cells of
    the two membership probabilities of :func:`top_k_membership`, over k), so it never depends on
    the order the cells were listed in: params, FLOPs and rank ensembles tie often, and SWAP
    saturates (53 NB101 cells share its maximum). Without ties it is the plain overlap.
    Non-finite scores rank last (a NaN counts as a top prediction only if fewer than k scores are finite).
    """
    s = np.asarray(scores, dtype=np.float64)
    a = np.asarray(accuracies, dtype=np.float64)
    if s.shape != a.shape:
        raise ValueError(f"scores and accuracies differ in shape: {s.shape} vs {a.shape}")
    n = len(s)
    if n == 0 or not np.isfinite(s).any() or not np.isfinite(a).any():
        return float("nan")  # nothing ranked: no precision (not the chance level an all-tied draw would give)
    k = max(1, int(round(n * fraction)))
    return float(np.dot(top_k_membership(s, k), top_k_membership(a, k)) / k)


def nan_mean_std(values, axis=None) -> tuple:
    """``(np.nanmean, np.nanstd)`` of ``values``, NaN where nothing is finite, without numpy's
    "Mean of empty slice" / "Degrees of freedom <= 0" warnings (an all-NaN input is a result, not an alarm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis), np.nanstd(values, axis=axis)


#: Below this, the 2.5% / 97.5% percentiles of the resamples are just their extremes.
#: (Reports use 1,000-2,000; small counts are for quick tests.)
MIN_BOOTSTRAP = 20


def check_resamples(n_resamples: int, option: str = "--bootstrap") -> int:
    """``n_resamples`` if it is an int >= :data:`MIN_BOOTSTRAP`, else a one-line ConfigError."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < MIN_BOOTSTRAP:
        raise ConfigError(f"{option} must be an integer of at least {MIN_BOOTSTRAP} bootstrap resamples, "
                          f"got {n_resamples!r}")
    return int(n_resamples)


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    scores,
    accuracies,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Paired percentile bootstrap interval of ``statistic(scores, accuracies)``.

    NaN bounds when fewer than :data:`MIN_CI_PAIRS` (5) finite pairs remain, either side is constant,
    or the resamples are degenerate (scipy's DegenerateDataWarning is absorbed:
    the NaN interval is the report).
    """
    check_resamples(n_resamples)
    s, a, _ = _finite_pairs(scores, accuracies)
    if len(s) < MIN_CI_PAIRS or np.ptp(s) == 0 or np.ptp(a) == 0:
        return (float("nan"), float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(stats, "DegenerateDataWarning", RuntimeWarning))
        warnings.filterwarnings("ignore", message=".*(constant|degenerate).*")
        res = stats.bootstrap(
            (s, a),
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    lo, hi = res.confidence_interval
    return (float(lo), float(hi))


@dataclass(frozen=True)
class CorrelationSummary:
    n: int
    n_nan: int
    spearman: float
    spearman_ci: tuple[float, float]
    kendall: float
    kendall_ci: tuple[float, float]
    top10_precision: float

    def as_dict(self) -> dict:
        d = asdict(self)
        d["spearman_ci"] = list(self.spearman_ci)
        d["kendall_ci"] = list(self.kendall_ci)
        return d


def summarize_correlation(
    scores,
    accuracies,
    *,
    higher_is_better: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
) -> CorrelationSummary:
    """Spearman and Kendall with bootstrap CIs, top-10% precision and the NaN count.

    ``higher_is_better=False`` flips the score so that all reported correlations
    are "positive = the proxy predicts accuracy".
    """
    s = np.asarray(scores, dtype=np.float64)
    if not higher_is_better:
        s = -s
    a = np.asarray(accuracies, dtype=np.float64)
    _, _, n_nan = _finite_pairs(s, a)

    def _sp(x, y):
        return stats.spearmanr(x, y).statistic

    def _kt(x, y):
        return stats.kendalltau(x, y).statistic

    return CorrelationSummary(
        n=int(len(s)),
        n_nan=n_nan,
        spearman=spearman(s, a),
        spearman_ci=bootstrap_ci(_sp, s, a, n_resamples=n_resamples, seed=seed),
        kendall=kendall(s, a),
        kendall_ci=bootstrap_ci(_kt, s, a, n_resamples=n_resamples, seed=seed + 1),
        top10_precision=top_k_precision(s, a, 0.1),
    )


def kendall_protocol(
    scores, accuracies, *, sample_size: int, repeats: int, seed: int = 0, higher_is_better: bool = True
) -> tuple[float, float]:
    """The GradSign paper's protocol: mean and std of tau over ``repeats`` draws of ``sample_size`` archs."""
    s = np.asarray(scores, dtype=np.float64)
    if not higher_is_better:
        s = -s
    a = np.asarray(accuracies, dtype=np.float64)
    if sample_size > len(s):
        raise ValueError(f"sample size {sample_size} exceeds the {len(s)} scored architectures")
    rng = np.random.default_rng(seed)
    taus = [kendall(s[idx], a[idx]) for idx in (rng.choice(len(s), sample_size, replace=False) for _ in range(repeats))]
    mean, std = nan_mean_std(np.asarray(taus))
    return float(mean), float(std)
