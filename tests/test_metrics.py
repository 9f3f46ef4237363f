import numpy as np
import pytest
from scipy import stats

from gradsign.evaluation import kendall, kendall_protocol, spearman, summarize_correlation, top_k_precision


def test_perfect_and_reversed():
    a = np.arange(50.0)
    assert spearman(a, a) == pytest.approx(1.0)
    assert kendall(-a, a) == pytest.approx(-1.0)
    summ = summarize_correlation(-a, a, higher_is_better=False, n_resamples=200)
    assert summ.spearman == pytest.approx(1.0) and summ.kendall == pytest.approx(1.0)
    assert summ.top10_precision == 1.0


def test_nan_dropped_and_counted_never_imputed():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    s = a + rng.normal(size=200)
    s2 = s.copy()
    s2[:7] = np.nan
    summ = summarize_correlation(s2, a, n_resamples=200)
    assert summ.n_nan == 7 and summ.n == 200
    assert summ.spearman == pytest.approx(stats.spearmanr(s[7:], a[7:]).statistic)


def test_ci_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(1)
    a = rng.normal(size=300)
    s = a + rng.normal(size=300)
    one = summarize_correlation(s, a, n_resamples=300, seed=3)
    two = summarize_correlation(s, a, n_resamples=300, seed=3)
    assert one == two
    lo, hi = one.spearman_ci
    assert lo < one.spearman < hi and hi - lo < 0.25
    lo, hi = one.kendall_ci
    assert lo < one.kendall < hi


def test_top_k_precision_counts_overlap():
    acc = np.arange(100.0)
    score = acc.copy()
    score[95:] = -1  # half of the true top 10 predicted worst
    assert top_k_precision(score, acc, 0.1) == pytest.approx(0.5)
    score_nan = acc.copy()
    score_nan[90:] = np.nan  # NaN never counts as a top prediction
    assert top_k_precision(score_nan, acc, 0.1) == 0.0


def test_top_k_precision_is_the_expectation_over_tie_orders_not_the_listing_order():
    from itertools import permutations

    from gradsign.evaluation.metrics import top_k_membership

    acc = np.arange(20.0)  # top 2: cells 18, 19
    score = np.zeros(20)
    score[[3, 19]] = 5.0  # two cells tied at the top: one of them is truly top-2
    # The proxy's top 2 is {3, 19} whatever the order: 0.5.
    assert top_k_precision(score, acc, 0.1) == pytest.approx(0.5)
    score[[3, 18, 19]] = 5.0  # three tied for two places: each in with probability 2/3
    expected = (2 / 3 + 2 / 3) / 2
    assert top_k_precision(score, acc, 0.1) == pytest.approx(expected)
    # The brute force over every order of the three tied cells gives the same mean, and listing the
    # cells in another order changes nothing (the stable tie-break gave 0 or 1 here).
    tied = [3, 18, 19]
    outcomes = [len({p[0], p[1]} & {18, 19}) / 2 for p in permutations(tied)]
    assert np.mean(outcomes) == pytest.approx(expected)
    order = np.random.default_rng(0).permutation(20)
    assert top_k_precision(score[order], acc[order], 0.1) == pytest.approx(expected)
    assert top_k_membership([1.0, np.nan, 1.0, 0.0], 1).tolist() == [0.5, 0.0, 0.5, 0.0]
    assert np.isnan(top_k_precision(np.full(20, np.nan), acc, 0.1))  # a proxy that failed everywhere
    assert top_k_membership([np.nan, np.inf, 2.0], 2).tolist() == [0.5, 0.5, 1.0]  # inf ranks last too


def test_kendall_protocol_mean_std():
    rng = np.random.default_rng(2)
    a = rng.normal(size=500)
    s = a + 0.5 * rng.normal(size=500)
    mean, std = kendall_protocol(s, a, sample_size=100, repeats=20, seed=0)
    assert 0.4 < mean < 0.8 and 0 < std < 0.2
    with pytest.raises(ValueError):
        kendall_protocol(s, a, sample_size=1000, repeats=2)
