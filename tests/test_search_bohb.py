"""BOHB: Hyperband bracket structure, the KDE model, fidelity modes, proxy assistance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from search_fakes import toy_oracle

from gradsign.errors import ConfigError
from gradsign.search import ArrayProxyProvider, SearchOracle, run_search, run_searches
from gradsign.search.bohb import _CategoricalKDE, hyperband_bracket, hyperband_budgets


def test_nb201_budgets_and_brackets():
    budgets = hyperband_budgets(12, 200, 3)
    assert budgets == pytest.approx([200 / 9, 200 / 3, 200])
    levels = len(budgets)
    assert hyperband_bracket(0, levels, 3) == ([9, 3, 1], [0, 1, 2])
    assert hyperband_bracket(1, levels, 3) == ([3, 1], [1, 2])
    assert hyperband_bracket(2, levels, 3) == ([3], [2])
    assert hyperband_bracket(3, levels, 3) == ([9, 3, 1], [0, 1, 2])
    # hpbandster's example setting: budgets 1..81, eta 3 -> 5 levels, first bracket 81 configs
    assert len(hyperband_budgets(1, 81, 3)) == 5
    assert hyperband_bracket(0, 5, 3)[0] == [81, 27, 9, 3, 1]


def _events(run, kind):
    return [e for e in run.events if e[0] == kind]


def test_bracket_structure_and_promotion_in_nb201_mode():
    o = toy_oracle(d=3, c=4, cost=1.0)
    r = run_search("bohb", o, seed=0, budget="45evals", record_events=True)
    brackets = _events(r, "bracket")
    assert [b[2] for b in brackets[:4]] == [[9, 3, 1], [3, 1], [3], [9, 3, 1]]
    assert brackets[0][3] == pytest.approx([200 / 9, 200 / 3, 200])
    trains = _events(r, "train")
    # first bracket: 9 + 3 + 1 trainings, every one charged (promotions are re-trained)
    first = [t[1] for t in trains[:13]]
    promoted = _events(r, "promoted")
    stage0 = first[:9]
    losses = [100 - o.signal[c] for c in stage0]
    top3 = sorted(range(9), key=lambda i: (losses[i], i))[:3]
    assert promoted[0][2] == [stage0[i] for i in sorted(top3)]  # best 3, in their original order
    assert first[9:12] == promoted[0][2]
    assert first[12] == min(promoted[0][2], key=lambda c: 100 - o.signal[c])
    assert all(t[2] == 0 for t in trains)  # nb201 mode: always the 12-epoch result
    assert r.evaluations == 45


def test_incumbent_rules():
    o = toy_oracle(d=3, c=4, cost=1.0)
    top = run_search("bohb", o, seed=0, budget="13evals", record_events=True)
    seen = run_search("bohb", o, seed=0, budget="13evals", incumbent="best_seen")
    trains = _events(top, "train")
    # after the first bracket: hpbandster's incumbent is the one config that reached 200 "epochs"
    assert top.incumbent == trains[12][1]
    assert seen.incumbent == max((t[1] for t in trains), key=lambda c: o.signal[c])


def test_kde_is_a_normalised_density_with_clipped_bandwidth():
    rng = np.random.default_rng(0)
    nch = np.array([5, 5, 3])
    data = np.stack([rng.integers(0, c, size=12) for c in nch], axis=1)
    kde = _CategoricalKDE(data, nch, 0.3)
    assert (kde.bw >= 0.3).all() and (kde.bw <= (nch - 1) / nch + 1e-12).all()
    allx = np.array(list(itertools.product(*[range(c) for c in nch])))
    assert kde.pdf_many(allx).sum() == pytest.approx(1.0)
    # by hand for one point: mean over data of the product Aitchison-Aitken kernel
    x = allx[7]
    k = np.where(data == x, 1 - kde.bw, kde.bw / (nch - 1)).prod(axis=1).mean()
    assert kde.pdf(x) == pytest.approx(k)
    same = _CategoricalKDE(np.zeros((8, 3), dtype=int), nch, 0.3)  # statsmodels divides by zero here
    assert np.isfinite(same.pdf_many(allx)).all()


def test_model_is_built_and_used_and_helps():
    target = np.array([1, 3, 0, 2])
    o = toy_oracle(d=4, c=4, cost=1.0, signal=lambda e: 50 + 10 * (e == target).sum(axis=1))
    r = run_search("bohb", o, seed=0, budget="200evals", record_events=True)
    assert _events(r, "model")
    bohb = run_searches("bohb", o, runs=15, seed=1, budget="120evals", incumbent="best_seen")
    rs = run_searches("random", o, runs=15, seed=1, budget="120evals")
    assert np.mean([x.signal for x in bohb.runs]) >= np.mean([x.signal for x in rs.runs])


def test_12_200_fidelity_mode_trains_each_cell_once_per_fidelity():
    o = toy_oracle(d=3, c=4)
    r = run_search("bohb", o, seed=0, budget=1500, fidelity="12/200", record_events=True)
    trains = [(t[1], t[2]) for t in _events(r, "train")]
    assert len(trains) == len(set(trains))
    assert any(level == 1 for _, level in trains)
    # the top rung is the 200-epoch fidelity: the incumbent comes from it once one exists
    assert (r.incumbent, 1) in trains
    assert r.signal == pytest.approx(o.high_signal[r.incumbent])
    no_high = SearchOracle(o.encodings, 4, o.signal, o.cost, o.test)
    with pytest.raises(ConfigError, match="200-epoch"):
        run_search("bohb", no_high, budget=100, fidelity="12/200")


@pytest.mark.parametrize("proposal", ["random", "model"])
def test_proxy_assisted_bohb(proposal):
    o = toy_oracle(d=3, c=4, cost=1.0)
    prov = ArrayProxyProvider(o.signal, seconds=0.0)
    r = run_search("bohb", o, prov, seed=0, budget="60evals", candidates=5, proposal=proposal, record_events=True)
    picks = _events(r, "pick")
    assert len(picks) >= 9 and all(len(p[1]) == 5 for p in picks)


def test_bohb_warmup_proposes_the_pool_top_first():
    o = toy_oracle(d=3, c=4, cost=1.0)
    prov = ArrayProxyProvider(o.signal, seconds=0.0)
    r = run_search("bohb", o, prov, seed=0, budget="13evals", candidates=1, warmup_pool=40, record_events=True)
    pool_top = next(e for e in r.events if e[0] == "warmup")[1]
    assert [t[1] for t in _events(r, "train")][:9] == pool_top[:9]


def test_bad_settings():
    o = toy_oracle()
    for bad in ({"min_budget": 300}, {"eta": 1}, {"fidelity": "x"}, {"proposal": "x"}, {"incumbent": "x"}):
        with pytest.raises(ConfigError):
            run_search("bohb", o, **bad)


def test_search_numerics_are_the_c_librarys_on_any_cpu():
    import math

    from gradsign.search import numerics

    x = np.random.default_rng(0).uniform(-20, 3, (7, 5))
    assert numerics.exp(x).shape == (7, 5)
    assert numerics.exp(x).tolist() == [[math.exp(v) for v in row] for row in x.tolist()]
    y = np.abs(x) + 0.01
    assert numerics.log(y).tolist() == [[math.log(v) for v in row] for row in y.tolist()]
    assert numerics.log1p(-y / 30).tolist() == [[math.log1p(-v / 30) for v in row] for row in y.tolist()]
