"""Predictor-guided (BANANAS-style) search on a synthetic NB201 benchmark (no data files needed)."""

from __future__ import annotations

import numpy as np
import pytest

from gradsign.errors import ConfigError
from gradsign.predictors import FeatureProvider
from gradsign.predictors.base import Predictor, register_predictor, unregister_predictor
from gradsign.predictors.features import LowFidelityTable, ZeroCostTable
from gradsign.search import nb201_oracle_from_arrays, run_search, run_searches
from gradsign.spaces.nb201 import all_nb201_archs

N = 15625


@pytest.fixture(scope="module")
def synthetic():
    """NB201 cells whose 12-epoch accuracy grows with the number of 3x3 convs (plus noise).

    Op index 3 is nor_conv_3x3 in NB201's op order. The reported test accuracy
    is the signal plus independent noise; every training costs 100 s.
    """
    archs = all_nb201_archs()
    ops = np.array([a.ops for a in archs])
    rng = np.random.default_rng(0)
    conv = (ops == 3).sum(axis=1).astype(float)
    signal = 60 + 5 * conv + rng.normal(0, 1.0, N)
    test = signal + rng.normal(0, 0.5, N)
    oracle = nb201_oracle_from_arrays(
        "cifar10", signal12=signal, test200=test,
        train_epoch_seconds=np.full(N, 8.0), valid_epoch_seconds=np.full(N, 2.0), default_budget=5000.0)
    names = [a.to_string() for a in archs]
    # a zero-cost "proxy" that knows the conv count, with 0.5 s recorded per cell
    zc = ZeroCostTable(names, ("convs",), conv[:, None], np.full((N, 1), 0.5), "synthetic", {"convs": False})
    return oracle, names, signal, zc


def test_finds_better_cells_than_random_search(synthetic):
    oracle, _, signal, zc = synthetic
    fp = FeatureProvider("nb201", "cifar10")
    guided = run_searches("predictor", oracle, runs=8, seed=0, budget="40evals", features=fp, predictor="linear")
    plain = run_searches("random", oracle, runs=8, seed=0, budget="40evals")
    assert guided.summary()["mean"] > plain.summary()["mean"] + 2.0  # one more conv is +5 points
    assert all(r.evaluations == 40 for r in guided.runs)
    assert guided.label == "predictor[linear]" and guided.runs[0].proxy_seconds == 0.0


def test_same_seed_same_runs_and_run_independent_of_count(synthetic):
    oracle, _, _, _ = synthetic
    fp = FeatureProvider("nb201", "cifar10")
    a = run_searches("predictor", oracle, runs=3, seed=5, budget="30evals", features=fp, predictor="linear")
    b = run_searches("predictor", oracle, runs=2, seed=5, budget="30evals", features=fp, predictor="linear")
    assert [r.incumbent for r in a.runs[:2]] == [r.incumbent for r in b.runs]
    assert [r.trajectory["incumbent"] for r in a.runs[:2]] == [r.trajectory["incumbent"] for r in b.runs]


class _Spy(Predictor):
    """Records what fit and predict see; predicts the conv count (a perfect ranker here)."""

    name = "spy-for-tests"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "test spy"
    calls: list = []

    def _fit(self, archs, y):
        _Spy.calls.append(("fit", list(archs), y.tolist()))

    def _predict(self, archs):
        _Spy.calls.append(("predict", list(archs)))
        return np.array([a.count("nor_conv_3x3") for a in archs], dtype=float)


@pytest.fixture
def spy():
    register_predictor(_Spy)
    _Spy.calls = []
    yield _Spy
    unregister_predictor(_Spy.name)


def test_fit_sees_only_trained_cells_and_their_observed_accuracy(synthetic, spy):
    oracle, names, signal, _ = synthetic
    fp = FeatureProvider("nb201", "cifar10")
    r = run_search("predictor", oracle, seed=1, budget="35evals", record_events=True, features=fp,
                   predictor=spy.name, initial=5, batch=10, pool=40)
    trained = [e[1] for e in r.events if e[0] == "train"]
    assert len(trained) == 35
    fits = [c for c in spy.calls if c[0] == "fit"]
    predicts = [c for c in spy.calls if c[0] == "predict"]
    assert [len(f[1]) for f in fits] == [5, 15, 25, 35][: len(fits)] and len(fits) >= 3
    for f in fits:
        n = len(f[1])
        assert f[1] == [names[i] for i in trained[:n]]  # exactly the cells trained so far, in order
        assert f[2] == pytest.approx([signal[i] for i in trained[:n]])  # their observed 12-epoch accuracy
    for (_, fitted, _), (_, cands) in zip(fits, predicts):
        assert not set(cands) & set(fitted)  # candidates are untrained
        assert len(cands) == len(set(cands)) == 40
    # each round trains the candidates the predictor ranks highest, best first
    first_round = trained[5:15]
    cand = predicts[0][1]
    pred = np.array([a.count("nor_conv_3x3") for a in cand])
    order = np.argsort(-pred, kind="stable")[:10]
    assert [names[i] for i in first_round] == [cand[j] for j in order]


def test_zero_cost_features_are_paid_once_per_cell_and_free_mode_records_them(synthetic):
    oracle, _, _, zc = synthetic
    fp = FeatureProvider("nb201", "cifar10", zerocost=zc)
    kw = dict(runs=2, seed=0, budget=4000, features=fp, predictor="omni-linear", pool=30)
    charged = run_searches("predictor", oracle, **kw)
    free = run_searches("predictor", oracle, charge_proxy=False, **kw)
    assert charged.label == "predictor[omni-linear](charged)" and free.label == "predictor[omni-linear](free)"
    for r in charged.runs:
        # every training costs 12 * 8 + 2 = 98 s; features 0.5 s per distinct cell read
        assert r.proxy_seconds == pytest.approx(0.5 * r.proxy_scored)
        assert r.charged_seconds == pytest.approx(r.train_seconds + r.proxy_seconds) and r.charged_seconds <= 4000
        assert r.proxy_scored >= r.evaluations  # trained cells plus candidates never trained
    for r in free.runs:
        assert r.charged_seconds == pytest.approx(r.train_seconds) and r.proxy_seconds > 0
    assert sum(r.evaluations for r in free.runs) >= sum(r.evaluations for r in charged.runs)
    # the table's own seconds are used unless zc_seconds overrides them; paying them costs trainings
    over = run_searches("predictor", oracle, zc_seconds=5.0, **kw)
    assert over.runs[0].proxy_seconds == pytest.approx(5.0 * over.runs[0].proxy_scored)
    assert sum(r.evaluations for r in over.runs) < sum(r.evaluations for r in free.runs)


def test_bad_settings_are_refused(synthetic):
    oracle, names, signal, zc = synthetic
    fp = FeatureProvider("nb201", "cifar10", zerocost=zc)
    with pytest.raises(ConfigError, match="FeatureProvider"):
        run_searches("predictor", oracle, runs=1)
    with pytest.raises(ConfigError, match="unknown predictor|predictor"):
        run_searches("predictor", oracle, runs=1, features=fp, predictor="no-such-predictor")
    lf = FeatureProvider("nb201", "cifar10", zerocost=zc, lowfidelity=LowFidelityTable(names, signal))
    with pytest.raises(ConfigError, match="low-fidelity"):
        run_searches("predictor", oracle, runs=1, features=lf, predictor="omni")
    with pytest.raises(ConfigError, match="batch"):
        run_searches("predictor", oracle, runs=1, features=fp, batch=20, pool=10)
    with pytest.raises(ConfigError, match="initial"):
        run_searches("predictor", oracle, runs=1, features=fp, initial=0)
    no_seconds = FeatureProvider("nb201", "cifar10", zerocost=ZeroCostTable(names, ("convs",), zc.values))
    with pytest.raises(ConfigError, match="zc_seconds"):
        run_searches("predictor", oracle, runs=1, features=no_seconds, predictor="omni")
    from gradsign.search import ArrayProxyProvider

    with pytest.raises(ConfigError, match="no proxy provider"):
        run_searches("predictor", oracle, ArrayProxyProvider(np.zeros(N)), runs=1, features=fp)
