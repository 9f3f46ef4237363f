"""Random search, regularized evolution and REINFORCE on small fake benchmarks."""

from __future__ import annotations

import numpy as np
import pytest
from search_fakes import toy_oracle

from gradsign.errors import ConfigError
from gradsign.search import ArrayProxyProvider, run_search, run_searches
from gradsign.search.reinforce import _Adam


def _trained(run):
    return [e[1] for e in run.events if e[0] == "train"]


def test_random_search_trains_uniform_cells_until_the_budget_ends():
    o = toy_oracle(d=2, c=3, cost=1.0)
    r = run_search("random", o, seed=0, budget=3000, record_events=True)
    cells = _trained(r)
    assert len(cells) == 3000 == r.evaluations
    counts = np.bincount(cells, minlength=9)
    assert counts.min() > 3000 / 9 * 0.8  # uniform over the 9 cells
    assert r.signal == pytest.approx(o.signal.max())


def test_random_search_warmup_trains_the_ranked_pool_first():
    o = toy_oracle(d=3, c=4)
    prov = ArrayProxyProvider(-np.arange(o.num_archs, dtype=float), seconds=0.0)  # rank = index order
    r = run_search("random", o, prov, seed=0, budget="20evals", candidates=1, warmup_pool=30, record_events=True)
    pool_top = next(e for e in r.events if e[0] == "warmup")[1]
    cells = _trained(r)
    assert cells[:10] == pool_top
    assert cells[:20] == sorted(cells[:20])  # whole pool in proxy order (lowest index = best score)
    capped = run_search("random", o, prov, seed=0, budget="20evals", candidates=1, warmup_pool=30,
                        warmup_top=3, record_events=True)
    assert _trained(capped)[:3] == pool_top[:3] and _trained(capped)[3:] != pool_top[3:10]


def test_rea_aging_removes_the_oldest_member():
    o = toy_oracle(d=3, c=4)
    r = run_search("rea", o, seed=1, budget="40evals", record_events=True, population_size=5, sample_size=2)
    pops = [e[1] for e in r.events if e[0] == "population"]
    cells = _trained(r)
    assert pops[0] == cells[:5]
    for step, (before, after) in enumerate(zip(pops, pops[1:])):
        child = cells[5 + step]
        assert after == before[1:] + [child]  # oldest out, child in, whatever the accuracies
    assert len(pops) == 40 - 5 + 1


def test_rea_children_are_one_mutation_of_the_best_sampled_member():
    o = toy_oracle(d=3, c=4)
    r = run_search("rea", o, seed=2, budget="60evals", record_events=True, population_size=10, sample_size=10)
    pops = [e[1] for e in r.events if e[0] == "population"]
    cells = _trained(r)
    for step, before in enumerate(pops[:-1]):
        child = cells[10 + step]
        parents = [m for m in before if (o.encodings[m] != o.encodings[child]).sum() == 1]
        assert parents  # the child differs from some member in exactly one dimension


def test_rea_beats_random_search_on_a_smooth_toy_problem():
    # signal: count of dimensions equal to choice 2, so a single mutation can improve it
    o = toy_oracle(d=6, c=5, cost=1.0, signal=lambda e: 50 + 5 * (e == 2).sum(axis=1), budget=60)
    rea = run_searches("rea", o, runs=30, seed=0)
    rs = run_searches("random", o, runs=30, seed=0)
    assert np.mean([r.signal for r in rea.runs]) > np.mean([r.signal for r in rs.runs])


def test_rea_warmup_seeds_the_initial_population_with_the_proxy_top():
    o = toy_oracle(d=3, c=4)
    prov = ArrayProxyProvider(o.signal, seconds=1.0)
    r = run_search("rea", o, prov, seed=0, budget="30evals", candidates=1, warmup_pool=40, record_events=True)
    pool_top = next(e for e in r.events if e[0] == "warmup")[1]
    pops = [e[1] for e in r.events if e[0] == "population"]
    assert pops[0] == pool_top  # the 10 best-scored cells of the pool
    assert r.proxy_scored == 40 and r.proxy_seconds == pytest.approx(40.0)
    best_in_pool = sorted(o.signal[pool_top], reverse=True)
    assert list(o.signal[pops[0]]) == best_in_pool


def test_warmup_pool_is_charged():
    o = toy_oracle(cost=10.0)
    prov = ArrayProxyProvider(o.signal, seconds=2.0)
    r = run_search("rea", o, prov, seed=0, budget=500, candidates=1, warmup_pool=60)
    assert r.proxy_seconds >= 120.0 and r.charged_seconds == pytest.approx(r.train_seconds + r.proxy_seconds)
    assert r.evaluations <= (500 - 120) // 10


def test_adam_follows_torch_adam_formula():
    # torch.optim.Adam defaults, written independently: bias-corrected moments
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(6, 5))
    grads = [rng.normal(size=(6, 5)) for _ in range(5)]
    mine = x0.copy()
    opt = _Adam(mine.shape, lr=0.05)
    for g in grads:
        opt.step(mine, g)
    ref, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for t, g in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(mine, ref, atol=1e-7)
    first = x0.copy()
    _Adam(first.shape, lr=0.05).step(first, grads[0])
    assert np.allclose(first, x0 - 0.05 * np.sign(grads[0]), atol=1e-6)  # first step: lr * sign(g)


def test_reinforce_policy_converges_on_a_toy_oracle():
    target = np.array([2, 0, 4, 1])
    o = toy_oracle(d=4, c=5, cost=1.0, signal=lambda e: 50 + 10 * (e == target).sum(axis=1))
    r = run_search("reinforce", o, seed=0, budget="300evals", record_events=True, learning_rate=0.1)
    policy = np.array([e[1] for e in r.events if e[0] == "policy"][-1])
    assert (policy.argmax(axis=1) == target).all()
    assert policy[np.arange(4), target].min() > 0.8
    assert r.signal == 90.0


def test_reinforce_first_update_is_zero_and_settings_are_checked():
    o = toy_oracle(d=2, c=3, cost=1.0)
    r = run_search("reinforce", o, seed=0, budget="1evals", record_events=True, init_scale=0.0)
    # the baseline includes the first reward, so the first advantage is 0 and the policy stays uniform
    assert np.allclose([e[1] for e in r.events if e[0] == "policy"][0], 1 / 3, atol=1e-3)
    for bad in ({"learning_rate": 0}, {"proposal": "x"}, {"credit": "x"}, {"ema_momentum": 1.0}):
        with pytest.raises(ConfigError):
            run_search("reinforce", o, **bad)


@pytest.mark.parametrize("proposal", ["mutation", "policy"])
@pytest.mark.parametrize("credit", ["evaluated", "sampled"])
def test_reinforce_proxy_variants_run(proposal, credit):
    o = toy_oracle(d=3, c=4)
    prov = ArrayProxyProvider(o.signal, seconds=0.1)
    r = run_search("reinforce", o, prov, seed=0, budget=300, candidates=4, proposal=proposal, credit=credit,
                   record_events=True)
    picks = [e for e in r.events if e[0] == "pick"]
    assert picks and all(len(p[1]) == 4 for p in picks)
    if proposal == "mutation":
        # candidates are mutations of one policy sample: pairwise at most two dimensions apart
        for _, cands, _, _ in picks:
            enc = o.encodings[cands]
            assert ((enc[:, None, :] != enc[None, :, :]).sum(axis=2) <= 2).all()


def test_reinforce_warmup_trains_the_pool_top_first():
    o = toy_oracle(d=3, c=4)
    prov = ArrayProxyProvider(o.signal, seconds=0.0)
    r = run_search("reinforce", o, prov, seed=3, budget="15evals", candidates=1, warmup_pool=50, warmup_top=5,
                   record_events=True)
    pool_top = next(e for e in r.events if e[0] == "warmup")[1]
    assert _trained(r)[:5] == pool_top[:5]
