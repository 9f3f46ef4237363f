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


def test_kendall_protocol_mean_std():
    rng = np.random.default_rng(2)
    a = rng.normal(size=500)
    s = a + 0.5 * rng.normal(size=500)
    mean, std = kendall_protocol(s, a, sample_size=100, repeats=20, seed=0)
    assert 0.4 < mean < 0.8 and 0 < std < 0.2
    with pytest.raises(ValueError):
        kendall_protocol(s, a, sample_size=1000, repeats=2)
