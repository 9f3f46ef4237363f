"""Performance predictors: the interface contract of every registered predictor, encodings,
the zero-cost rank ensemble, training-only scaling, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from gradsign.errors import ConfigError
from gradsign.predictors import (
    FeatureProvider,
    LowFidelityTable,
    ZeroCostScaler,
    ZeroCostTable,
    default_predictor_names,
    make_predictor,
    parse_predictor_list,
    predictor_class,
    predictor_classes,
)
from gradsign.predictors.encodings import (
    DARTS_ONEHOT_LENGTH,
    NB101_ONEHOT_LENGTH,
    NB101_PATH_LENGTH,
    NB201_PATH_LENGTH,
    encode,
    nb101_path_index,
    nb201_path_indices,
)
from gradsign.predictors.zerocost import rank_average
from gradsign.spaces.darts import DartsArch, sample_darts
from gradsign.spaces.nb101 import NB101Arch
from gradsign.spaces.nb201 import NB201Arch, sample_nb201

# Short neural-network training keeps the contract tests fast; the defaults are exercised by the CLI runs.
FAST = {"bananas": {"epochs": 15}, "gcn": {"epochs": 15}, "gp": {"n_restarts_optimizer": 0},
        "forest": {"n_estimators": 30}, "boosting": {"n_estimators": 40}, "omni": {"n_estimators": 40}}


def synthetic_problem(n: int = 120, seed: int = 0):
    """NB201 cells with made-up accuracies (a linear function of the one-hot code plus noise),
    three zero-cost proxies (informative, noise, informative with failures) and a low-fidelity signal."""
    rng = np.random.default_rng(seed)
    archs = [a.to_string() for a in sample_nb201(n, seed)]
    x = np.stack([NB201Arch.from_string(a).onehot() for a in archs]).astype(np.float64)
    acc = 70 + x @ rng.normal(0, 3, x.shape[1]) + rng.normal(0, 0.5, n)
    good = np.exp((acc - 70) / 5) * 1e3  # positive, spans orders of magnitude like synflow
    noise = rng.normal(size=n)
    broken = acc + rng.normal(0, 2, n)
    broken[:5] = -np.inf
    broken[5:8] = np.nan
    zc = ZeroCostTable(archs, ("good", "noise", "broken"), np.stack([good, noise, broken], axis=1),
                       np.full((n, 3), 0.5), "synthetic", {"good": True, "noise": True, "broken": True})
    lf = LowFidelityTable(archs, acc + rng.normal(0, 1, n), np.full(n, 100.0), "synthetic 12-epoch")
    return FeatureProvider("nb201", "cifar10", zerocost=zc, lowfidelity=lf), archs, dict(zip(archs, acc))


@pytest.fixture(scope="module")
def problem():
    return synthetic_problem()


def _all_names(fp):
    return default_predictor_names(fp)


def test_every_registered_family_is_offered(problem):
    fp, _, _ = problem
    names = _all_names(fp)
    for expected in ("linear", "forest", "boosting", "gp", "bananas", "gcn", "lowfidelity", "zc-ensemble",
                     "zc:good", "zc:noise", "zc:broken", "omni", "omni-linear"):
        assert expected in names
    assert set(predictor_classes()) >= {"linear", "forest", "boosting", "gp", "bananas", "gcn", "lowfidelity",
                                        "zc", "zc-ensemble", "omni", "omni-linear"}


@pytest.mark.parametrize("name", _all_names(synthetic_problem()[0]))
def test_interface_contract(problem, name):
    fp, archs, acc = problem
    train, test = archs[:40], archs[40:65]
    y = [acc[a] for a in train]
    params = FAST.get(name, {})
    p1 = make_predictor(name, fp, seed=3, **params)
    info = p1.info()
    assert info["name"] == name and info["family"] in ("model-based", "zero-cost", "low-fidelity", "combined")
    assert set(info["needs"]) <= {"labels", "data", "lowfidelity", "zerocost"}
    assert p1.fit(train, y) is p1
    out = p1.predict(test)
    assert out.shape == (len(test),) and out.dtype == np.float64
    assert not np.isnan(out).any()  # failures rank last as -inf, never NaN
    assert p1.fit_seconds >= 0 and p1.query_seconds >= 0
    if not p1.needs_labels:
        assert p1.fit_seconds == 0.0
    # Same seed, same data -> same predictions (fresh instance).
    p2 = make_predictor(name, fp, seed=3, **params).fit(train, y)
    np.testing.assert_allclose(p2.predict(test), out, rtol=1e-6, atol=1e-9)
    # Arch objects are accepted as well as strings.
    objs = [NB201Arch.from_string(a) for a in test[:3]]
    np.testing.assert_allclose(p2.predict(objs), p2.predict(test[:3]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["linear", "forest", "boosting", "omni-linear"])
def test_model_based_predictors_learn_the_synthetic_signal(problem, name):
    from gradsign.evaluation import spearman

    fp, archs, acc = problem
    train, test = archs[:80], archs[80:]
    p = make_predictor(name, fp, seed=0, **FAST.get(name, {})).fit(train, [acc[a] for a in train])
    assert spearman(p.predict(test), [acc[a] for a in test]) > 0.5


def test_labelled_predictors_refuse_to_predict_unfitted_or_fit_on_too_few(problem):
    fp, archs, acc = problem
    with pytest.raises(ConfigError, match="fitted"):
        make_predictor("forest", fp).predict(archs[:3])
    with pytest.raises(ConfigError, match="at least"):
        make_predictor("forest", fp).fit(archs[:1], [acc[archs[0]]])
    with pytest.raises(ConfigError, match="accuracies"):
        make_predictor("linear", fp).fit(archs[:3], [1.0, 2.0])
    with pytest.raises(ConfigError, match="finite"):
        make_predictor("linear", fp).fit(archs[:3], [1.0, np.nan, 2.0])


def test_needs_are_checked_against_the_provider():
    fp = FeatureProvider("nb201", "cifar10")  # encodings only
    assert default_predictor_names(fp) == sorted(default_predictor_names(fp), key=lambda n: (
        ["model-based", "combined", "low-fidelity", "zero-cost"].index(predictor_class(n)[0].family), n))
    assert "omni" not in default_predictor_names(fp) and "lowfidelity" not in default_predictor_names(fp)
    with pytest.raises(ConfigError, match="needs"):
        make_predictor("omni", fp)
    with pytest.raises(ConfigError, match="needs"):
        make_predictor("lowfidelity", fp)


def test_registry_names_and_errors(problem):
    fp, _, _ = problem
    with pytest.raises(ConfigError, match="unknown predictor"):
        make_predictor("nope", fp)
    with pytest.raises(ConfigError, match="argument"):
        make_predictor("zc", fp)
    with pytest.raises(ConfigError, match="not available"):
        make_predictor("zc:synflow", fp)
    with pytest.raises(ConfigError, match="takes no"):
        make_predictor("forest:x", fp)
    with pytest.raises(ConfigError, match="predictor 'forest'"):
        make_predictor("forest", fp, bogus_option=1)
    assert parse_predictor_list("forest,zc:*,forest", fp) == ["forest", "zc:good", "zc:noise", "zc:broken"]
    assert parse_predictor_list("all", fp) == default_predictor_names(fp)
    assert make_predictor("zc:good", fp).label == "zc:good"


# --------------------------------------------------------------------------- zero-cost


def test_rank_average_matches_a_hand_computation():
    z = np.array([[3.0, 10.0], [1.0, 30.0], [2.0, 20.0], [2.0, -np.inf]])
    # Column 0 ranks (ties averaged): 4, 1, 2.5, 2.5; column 1 (-inf lowest): 2, 4, 3, 1.
    expected = np.array([(4 + 2) / 2, (1 + 4) / 2, (2.5 + 3) / 2, (2.5 + 1) / 2]) / 4
    np.testing.assert_allclose(rank_average(z), expected)
    # NaN ranks with -inf at the bottom; one column = its own normalised ranks.
    col = np.array([[0.5], [np.nan], [2.0]])
    np.testing.assert_allclose(rank_average(col), np.array([2, 1, 3]) / 3)
    assert rank_average(np.zeros((0, 2))).shape == (0,)


def test_zc_ensemble_is_the_rank_average_of_its_proxies(problem):
    fp, archs, _ = problem
    test = archs[:30]
    pred = make_predictor("zc-ensemble", fp).fit([], []).predict(test)
    z = fp.zerocost(test)
    z = np.where(np.isfinite(z), z, -np.inf)
    manual = np.mean([rankdata(z[:, j]) for j in range(3)], axis=0) / len(test)
    np.testing.assert_allclose(pred, manual)
    sub = make_predictor("zc-ensemble", fp, proxies=["good"]).fit([], []).predict(test)
    np.testing.assert_allclose(sub, rankdata(z[:, 0]) / len(test))


def test_single_proxy_ranks_failures_last(problem):
    fp, archs, _ = problem
    out = make_predictor("zc:broken", fp).fit([], []).predict(archs[:10])
    assert np.isneginf(out[:8]).all() and np.isfinite(out[8:]).all()


def test_zero_cost_scaler_uses_training_statistics_only():
    rng = np.random.default_rng(1)
    train = rng.lognormal(5, 3, size=(50, 2))
    train[0, 1] = -np.inf
    train[1, 1] = np.nan
    test = rng.lognormal(5, 3, size=(20, 2))
    sc = ZeroCostScaler().fit(train)
    out = sc.transform(test)
    # Row-wise: a test row's features do not depend on the other test rows.
    np.testing.assert_allclose(sc.transform(test[:1]), out[:1])
    np.testing.assert_allclose(ZeroCostScaler().fit(train).transform(test), out)
    # Training rows come out standardised; failures are filled from training values, finite.
    t = sc.transform(train)
    assert np.isfinite(t).all()
    np.testing.assert_allclose(t.mean(axis=0), 0, atol=1e-9)
    assert t[0, 1] < t[2:, 1].min()  # -inf below every seen score
    # Changing the test set leaves the fitted statistics alone.
    before = (sc.mean.copy(), sc.std.copy())
    sc.transform(test * 1e6)
    np.testing.assert_array_equal(before[0], sc.mean)


# --------------------------------------------------------------------------- encodings


def test_nb201_path_encoding_length_and_bits():
    assert NB201_PATH_LENGTH == sum(5**length for length in (1, 2, 3)) == 155
    a = NB201Arch((1, 1, 1, 1, 1, 1))  # skip_connect everywhere: both 2-edge routes share a slot
    assert nb201_path_indices(a) == (1, 5 + 1 + 5, 5 + 1 + 5, 30 + 1 + 5 + 25)
    enc = encode("nb201", a, "path")
    assert enc.shape == (155,) and enc.sum() == 3 and set(np.flatnonzero(enc)) == {1, 11, 61}
    b = NB201Arch((3, 2, 4, 1, 0, 3))
    assert encode("nb201", b, "path").sum() == 4  # four distinct op sequences


def test_nb201_onehot_and_graph():
    a = NB201Arch((3, 3, 4, 1, 3, 1))
    enc = encode("nb201", a, "onehot")
    assert enc.shape == (30,) and enc.sum() == 6
    assert NB201Arch.from_onehot(enc) == a
    adj, feats = encode("nb201", a, "graph")
    assert adj.shape == (8, 8) and feats.shape == (8, 7)


def test_nb101_encodings():
    chain = NB101Arch([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    assert NB101_PATH_LENGTH == sum(3**length for length in range(6)) == 364
    enc = encode("nb101", chain, "path")
    assert enc.shape == (364,) and np.flatnonzero(enc).tolist() == [nb101_path_index(("conv3x3-bn-relu",))] == [1]
    direct = NB101Arch([[0, 1], [0, 0]], ["input", "output"])
    assert np.flatnonzero(encode("nb101", direct, "path")).tolist() == [0]
    oh = encode("nb101", chain, "onehot")
    assert oh.shape == (NB101_ONEHOT_LENGTH,) == (36,)
    # Adjacency bits: input->slot1 and slot1->output (moved to slot 6); one op bit.
    assert oh[:21].sum() == 2 and oh[21:].sum() == 1
    adj, feats = encode("nb101", chain, "graph")
    assert adj.shape == (7, 7) and feats.shape == (7, 5) and feats[3:].sum() == 0
    # All path indices of all sequences up to length 5 are distinct and in range.
    import itertools

    seen = {nb101_path_index(p) for L in range(6) for p in itertools.product(
        ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"), repeat=L)}
    assert seen == set(range(364))


def test_darts_encodings_ignore_pair_order():
    a = sample_darts(1, 5)[0]
    swapped = DartsArch([a.normal[1], a.normal[0], *a.normal[2:]], a.reduce)
    e1, e2 = encode("darts", a, "onehot"), encode("darts", swapped, "onehot")
    assert e1.shape == (DARTS_ONEHOT_LENGTH,) == (192,) and e1.sum() == 32
    np.testing.assert_array_equal(e1, e2)
    adj, feats = encode("darts", a, "graph")
    assert adj.shape == (30, 30) and feats.shape == (30, 11)
    assert adj.sum() == 2 * (8 + 8 + 4)  # per cell: input edges, op->sum edges, sum->output edges
    with pytest.raises(ConfigError, match="not defined"):
        encode("darts", a, "path")


def test_bananas_falls_back_to_onehot_without_path_encoding():
    archs = [a.to_string() for a in sample_darts(12, 0)]
    fp = FeatureProvider("darts", "cifar10")
    p = make_predictor("bananas", fp, epochs=2)
    assert p.encoding == "onehot"
    p.fit(archs[:8], np.arange(8.0))
    assert p.predict(archs[8:]).shape == (4,)


@pytest.mark.parametrize("backend", ["sklearn", "lightgbm"])
def test_boosting_backends_both_learn_and_report_themselves(problem, backend):
    from gradsign.evaluation import spearman
    from gradsign.predictors.boosting import lightgbm_available

    if backend == "lightgbm" and not lightgbm_available():
        pytest.skip("lightgbm not installed (pip install 'gradsign[predictors]')")
    fp, archs, acc = problem
    train, test = archs[:80], archs[80:]
    p = make_predictor("boosting", fp, seed=0, backend=backend, n_estimators=40).fit(train, [acc[a] for a in train])
    assert p.info()["backend"] == backend
    assert spearman(p.predict(test), [acc[a] for a in test]) > 0.5
