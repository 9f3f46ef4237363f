"""Shared search machinery: budgets, proxies and their cost, determinism, results I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest
from search_fakes import SpyProvider, toy_oracle

from gradsign.errors import ConfigError, DataError
from gradsign.search import (
    ArrayProxyProvider,
    Budget,
    Study,
    SearchOracle,
    SearchResults,
    aggregate_trajectories,
    available_searches,
    format_table,
    nb201_cost,
    plot_trajectories,
    results_table,
    run_search,
    run_searches,
    summarize,
)
from gradsign.search.base import BudgetExhausted

ALGOS = ["random", "rea", "reinforce", "bohb"]


def test_registry_has_the_four_algorithms():
    assert set(ALGOS) <= set(available_searches())
    with pytest.raises(ConfigError, match="unknown search algorithm"):
        run_search("hillclimb", toy_oracle())
    with pytest.raises(ConfigError, match="invalid settings"):
        run_search("rea", toy_oracle(), population=3)


def test_budget_parsing():
    assert Budget.parse(12000) == Budget.seconds(12000)
    assert Budget.parse("12000s") == Budget.seconds(12000)
    assert Budget.parse("100evals") == Budget.evaluations(100)
    assert Budget.parse(None, default=5.0) == Budget.seconds(5)
    for bad in ("lots", -3, 0, float("inf"), True):
        with pytest.raises(ConfigError):
            Budget.parse(bad)
    with pytest.raises(ConfigError, match="no budget"):
        Budget.parse(None)
    with pytest.raises(ConfigError, match="whole number, got 2.5"):  # was rounded down to 2 trainings
        Budget.parse("2.5evals")
    for bad in ("infevals", "nanevals"):
        with pytest.raises(ConfigError, match="invalid budget"):
            Budget.parse(bad)


def test_array_provider_never_imputes():
    p = ArrayProxyProvider([1.0, np.nan, 3.0], seconds=2.0, name="x")
    assert p.score(2) == 3.0 and p.seconds(1) == 2.0
    with pytest.raises(DataError, match="no score for cell 1"):
        p.score(1)
    with pytest.raises(DataError, match="no entry for cell 3"):
        p.score(3)
    neg = ArrayProxyProvider([1.0, 2.0], higher_is_better=False)
    assert neg.score(0) > neg.score(1)
    with pytest.raises(DataError):
        ArrayProxyProvider([1.0, 2.0], seconds=[1.0])


def test_oracle_lookups_and_mutation():
    o = toy_oracle(d=3, c=4)
    for i in (0, 5, 63):
        assert o.index_of(o.encodings[i]) == i
    rng = np.random.default_rng(0)
    muts = o.mutate(7, rng, 4000)
    diff = (o.encodings[muts] != o.encodings[7]).sum(axis=1)
    assert (diff == 1).all()  # exactly one dimension changes
    counts = np.bincount(muts, minlength=o.num_archs)
    neighbours = counts[counts > 0]
    assert len(neighbours) == 3 * 3  # every one of the d*(c-1) neighbours is reachable
    assert neighbours.min() > 4000 / 9 * 0.7  # and roughly uniform
    with pytest.raises(DataError, match="not distinct"):
        SearchOracle(np.zeros((2, 2), dtype=int), 2, [1, 2], [1, 1], [1, 2])
    with pytest.raises(DataError, match="not finite"):
        SearchOracle(np.array([[0], [1]]), 2, [1, np.nan], [1, 1], [1, 2])


def test_nb201_cost_matches_natsbench_published_imagenet_times():
    # Largest cell, cifar10-valid per-epoch times (train, valid), against NATS-Bench's
    # get_more_info(..., 'ImageNet16-120', hp='12'): train-all-time 1260.0195, valid-per-time 0.64212.
    cost, notes = nb201_cost(17.30415769, 5.351024511, "ImageNet16-120")
    assert float(cost) == pytest.approx(1260.0195466594694 + 0.6421229413577488, rel=1e-6)
    assert notes and "derived" in notes[0]
    c10, notes10 = nb201_cost(17.30415769, 5.351024511, "cifar10")
    assert float(c10) == pytest.approx(12 * 17.30415769 + 5.351024511) and notes10 == []


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("budget", [300.0, "25evals"])
def test_budget_never_exceeded(algo, budget):
    o = toy_oracle()
    prov = ArrayProxyProvider(o.signal, seconds=3.0)
    b = Budget.parse(budget)
    for provider, charge in ((None, True), (prov, True), (prov, False)):
        res = run_searches(algo, o, provider, runs=5, seed=1, budget=budget, charge_proxy=charge)
        for r in res.runs:
            if b.kind == "seconds":
                assert r.charged_seconds <= b.amount + 1e-9
                assert r.trajectory["spent"][-1] <= b.amount + 1e-9
                # the run stops only when the next charge would not fit: the smallest
                # possible next training (5 s) or proxy score (3 s) must not fit
                assert r.charged_seconds > b.amount - 15 - 3 * 10
            else:
                assert r.evaluations == b.amount
            assert np.all(np.diff(r.trajectory["spent"]) >= 0)


@pytest.mark.parametrize("algo", ALGOS)
def test_deterministic_per_seed_and_independent_of_run_count(algo):
    o = toy_oracle()
    prov = ArrayProxyProvider(o.signal + np.sin(np.arange(o.num_archs)), seconds=1.0)
    a = run_searches(algo, o, prov, runs=4, seed=7, candidates=3)
    b = run_searches(algo, o, prov, runs=4, seed=7, candidates=3)
    assert [r.to_dict() for r in a.runs] == [r.to_dict() for r in b.runs]
    c = run_searches(algo, o, prov, runs=2, seed=7, candidates=3)
    assert [r.to_dict() for r in c.runs] == [r.to_dict() for r in a.runs[:2]]
    single = run_search(algo, o, prov, seed=7, run=3, candidates=3)
    assert single.to_dict() == a.runs[3].to_dict()
    other = run_searches(algo, o, prov, runs=4, seed=8, candidates=3)
    assert [r.trajectory["incumbent"] for r in other.runs] != [r.trajectory["incumbent"] for r in a.runs]


def test_proxy_time_charged_or_not():
    o = toy_oracle(cost=10.0)
    prov = ArrayProxyProvider(o.signal, seconds=2.0, name="perfect")
    charged = run_searches("random", o, prov, runs=10, seed=0, budget=400, candidates=5)
    free = run_searches("random", o, prov, runs=10, seed=0, budget=400, candidates=5, charge_proxy=False)
    for r in charged.runs:
        assert r.charged_seconds == pytest.approx(r.train_seconds + r.proxy_seconds)
        assert r.proxy_seconds == pytest.approx(2.0 * r.proxy_scored)
    for r in free.runs:
        assert r.charged_seconds == pytest.approx(r.train_seconds)
        assert r.evaluations == 40  # 400 s / 10 s: the proxy costs nothing here
        assert r.proxy_seconds > 0 and r.total_seconds == pytest.approx(r.train_seconds + r.proxy_seconds)
    assert max(r.evaluations for r in charged.runs) < 40
    assert any("NOT charged" in n for n in free.notes)
    assert free.label.endswith("free)") and charged.label.endswith("charged)")


def test_proxy_scores_are_paid_once_per_cell_per_run():
    o = toy_oracle(d=2, c=3)  # 9 cells: lots of repeats
    spy = SpyProvider(o.signal, seconds=1.0)
    r = run_search("random", o, spy, seed=0, budget="30evals", candidates=4)
    # the 31st proposal is scored before the training that no longer fits is refused
    assert r.proxy_queries == 31 * 4
    assert r.proxy_scored == len(set(spy.score_calls)) == len(spy.score_calls) <= 9
    assert r.proxy_seconds == pytest.approx(r.proxy_scored)


def test_bad_provider_values_are_errors_not_charges():
    o = toy_oracle()
    spy = SpyProvider(np.full(o.num_archs, np.nan), seconds=1.0)
    with pytest.raises(DataError, match="NaN"):
        run_search("random", o, spy, seed=0, candidates=2)
    with pytest.raises(DataError, match="seconds"):
        run_search("random", o, SpyProvider(o.signal, seconds=float("nan")), seed=0, candidates=2)


def test_pick_is_argmax_of_candidates_first_on_ties():
    o = toy_oracle()
    scores = np.zeros(o.num_archs)
    scores[[3, 9]] = 5.0
    scores[4] = 1.0
    study = Study(o, Budget.seconds(1e9), np.random.default_rng(0), proxy=ArrayProxyProvider(scores), candidates=3)
    assert study.pick([4, 9, 3]) == 9
    assert study.pick([3, 9]) == 3
    assert study.pick([0, 1, 2]) == 0
    no_proxy = Study(o, Budget.seconds(1), np.random.default_rng(0))
    assert no_proxy.pick([5, 6]) == 5
    with pytest.raises(ConfigError):
        Study(o, Budget.seconds(1), np.random.default_rng(0), candidates=2)


@pytest.mark.parametrize("algo", ALGOS)
def test_every_proxy_pick_trains_the_best_scored_candidate(algo):
    o = toy_oracle(d=4, c=4)
    prov = ArrayProxyProvider(np.random.default_rng(3).normal(size=o.num_archs), seconds=0.5)
    r = run_search(algo, o, prov, seed=2, budget=800, candidates=6, record_events=True)
    picks = [e for e in r.events if e[0] == "pick"]
    assert picks
    trained = [e[1] for e in r.events if e[0] == "train"]
    for n, (_, cands, scores, chosen) in enumerate(picks):
        assert len(cands) == 6
        assert chosen == cands[int(np.argmax(scores))]
        assert scores == [prov.score(c) for c in cands]
        if n < len(picks) - 1:  # the last pick may be refused: its training did not fit
            assert chosen in trained


def test_a_good_proxy_helps_when_free():
    o = toy_oracle(d=4, c=5, seed=4)
    prov = ArrayProxyProvider(o.signal, seconds=1.0)
    base = run_searches("random", o, runs=40, seed=0, budget=150)
    helped = run_searches("random", o, prov, runs=40, seed=0, budget=150, charge_proxy=False)
    assert helped.summary()["mean"] > base.summary()["mean"]


def test_free_trainings_need_an_evaluation_budget():
    o = toy_oracle(cost=0.0)
    with pytest.raises(ConfigError, match="cost > 0"):
        run_search("random", o, budget=100)
    assert run_search("random", o, budget="7evals").evaluations == 7


def test_evaluate_raises_when_the_budget_is_spent():
    o = toy_oracle(cost=10.0)
    study = Study(o, Budget.seconds(25), np.random.default_rng(0))
    study.evaluate(0)
    study.evaluate(1)
    with pytest.raises(BudgetExhausted):
        study.evaluate(2)
    assert study.evaluations == 2 and study.ledger.charged_seconds == 20


def test_incumbent_is_best_signal_seen_and_trajectory_tracks_it():
    o = toy_oracle()
    r = run_search("random", o, seed=5, budget="40evals")
    inc = r.trajectory["incumbent"]
    sig = [o.signal[i] for i in inc]
    assert all(b >= a for a, b in zip(sig, sig[1:]))
    assert r.incumbent == inc[-1] and r.test == pytest.approx(o.test[r.incumbent])
    assert r.reported == {"other": pytest.approx(o.test[r.incumbent] - 1)}
    assert r.trajectory["test"] == [pytest.approx(o.test[i]) for i in inc]


def test_results_json_roundtrip_summary_trajectory_and_plot(tmp_path):
    o = toy_oracle()
    prov = ArrayProxyProvider(o.signal, seconds=1.0, name="sig")
    a = run_searches("rea", o, runs=6, seed=0)
    b = run_searches("rea", o, prov, runs=6, seed=0)
    path = b.to_json(tmp_path / "res.json")
    doc = json.loads(path.read_text())
    assert doc["summary"]["n"] == 6 and doc["proxy"] == "sig" and doc["candidates"] == 10
    back = SearchResults.load(path)
    assert [r.to_dict() for r in back.runs] == [r.to_dict() for r in b.runs]
    assert back.label == b.label
    s = a.summary()
    assert s["ci_low"] < s["mean"] < s["ci_high"] and s["n"] == 6
    agg = aggregate_trajectories(a, num_points=11)
    assert agg["grid"][0] == 0 and agg["grid"][-1] == pytest.approx(500)
    assert agg["n"][0] == 0 and agg["n"][-1] == 6
    final = np.nanmean(a.tests())
    assert agg["mean"][-1] == pytest.approx(final)
    for x in ("evaluations", "seconds"):
        assert a.trajectory(x=x, num_points=5)["n"][-1] == 6
    png = plot_trajectories([a, b], tmp_path / "traj.png", title="toy", reference=float(o.test.max()))
    assert png.stat().st_size > 1000
    table = format_table(results_table([a, b]))
    assert "rea+sig" in table and table.count("\n") == 3
    with pytest.raises(DataError):
        SearchResults.from_dict({"format": "other"})


def test_summarize_handles_missing_and_small_samples():
    s = summarize([1.0, np.nan, 3.0])
    assert s["n"] == 2 and s["n_missing"] == 1 and s["mean"] == 2.0
    one = summarize([4.0])
    assert one["mean"] == 4.0 and np.isnan(one["std"])
    assert summarize([])["n"] == 0


def test_gain_over_is_welch_difference_of_means():
    from scipy import stats

    from gradsign.search import format_gain, gain_over

    a, b = [1.0, 2.0, 4.0, np.nan], [0.0, 1.0, 1.5, 0.5, 2.0]
    g = gain_over(a, b)
    ref = stats.ttest_ind([1.0, 2.0, 4.0], [0.0, 1.0, 1.5, 0.5, 2.0], equal_var=False).confidence_interval(0.95)
    assert g["gain"] == pytest.approx(7 / 3 - 1.0) and g["n"] == 3 and g["n_baseline"] == 5
    assert (g["ci_low"], g["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert format_gain(g) == f"{7 / 3 - 1.0:+.2f} [{ref.low:+.2f}, {ref.high:+.2f}]"
    wider = gain_over(a, b, confidence=0.99)
    assert wider["ci_low"] < g["ci_low"] and wider["ci_high"] > g["ci_high"]
    one = gain_over([3.0], b)  # one run: a difference, no interval
    assert one["gain"] == pytest.approx(2.0) and np.isnan(one["ci_low"])
    assert format_gain(one) == "+2.00 (too few runs for an interval)"
    assert format_gain(gain_over([np.nan], b)) == "no runs"
    assert format_gain(gain_over(b, [])) == "no baseline runs"
    constant = gain_over([44.5] * 5, [44.1] * 7)  # every run of both picked one arch
    assert constant["gain"] == pytest.approx(0.4) and np.isnan(constant["ci_low"])
    assert format_gain(constant) == "+0.40 (no spread: every run of both picked one arch)"
    one_sided = gain_over([44.5] * 5, [44.0, 44.2, 44.1])  # only one constant: an interval
    assert one_sided["ci_low"] < 0.4 < one_sided["ci_high"]
    with pytest.raises(ConfigError, match="confidence"):
        gain_over(a, b, confidence=1.5)


def test_format_table_paper_column_only_with_paper_figures():
    row = {"setting": "rea", "runs": 3, "mean": 44.0, "std": 0.5, "ci_low": 43.0, "ci_high": 45.0,
           "trainings": 19.0, "charged_s": 400.0, "proxy_s": 0.0, "paper": None}
    plain = format_table([row])
    assert "NB201 paper" not in plain and plain.splitlines()[2].endswith("| 0 |")
    both = format_table([dict(row, paper=(93.92, 0.30)), dict(row, setting="rea+x")]).splitlines()
    assert both[0].endswith("| NB201 paper |") and both[2].endswith("| 93.92 ± 0.30 |")
    assert both[3].endswith("| 0 |  |") and len({line.count("|") for line in both}) == 1


def test_table_space_outside_a_full_product():
    """A table whose rows do not fill the product of its choices: moves stay on rows."""
    from gradsign.search import TableSpace

    enc = np.array([[0, 0], [0, 1], [1, 0], [2, 2]])  # (1, 1), (2, 0) ... are no rows
    space = TableSpace(enc, 3, name="sparse")
    assert not space.full_product and space.num_archs == 4 and space.choices() == (3, 3)
    assert space.from_choices([1, 0]) == 2 and space.from_choices([1, 1]) is None
    assert space.to_choices(3) == (2, 2) and space.parse(space.to_string(1)) == 1
    assert sorted(space.neighbours(0)) == [1, 2]  # (0, 1) and (1, 0): (0, 2) and (2, 0) are no rows
    rng = np.random.default_rng(0)
    assert {space.mutate(0, rng) for _ in range(200)} == {1, 2}
    with pytest.raises(DataError, match="no mutation"):
        space.mutate(3, rng)  # (2, 2): every one-choice change leaves the table
    assert sorted(space.sample(4, 1)) == [0, 1, 2, 3]


def test_table_space_nearest_projection_for_a_sample_of_a_larger_space():
    """off_table="nearest": moves that leave the table land on the nearest row (a sample of a space)."""
    from gradsign.search import SearchOracle, TableSpace, get_search, run_search

    enc = np.array([[0, 0, 0], [0, 1, 1], [2, 2, 2], [1, 2, 2], [2, 0, 1]])
    space = TableSpace(enc, 3, name="sample", off_table="nearest")
    # (0, 0, 0) has no one-edit neighbour in the table: the nearest rows are at distance 2.
    assert sorted(space.neighbours(0)) == [1, 4]
    assert sorted(space.neighbours(2)) == [3]  # (1, 2, 2) at distance 1 beats everything else
    rng = np.random.default_rng(0)
    moves = [space.mutate(0, rng) for _ in range(300)]
    assert set(moves) <= {1, 2, 3, 4} and 0 not in moves
    # Reject mode gives up on the same row; nearest always moves, and the mutated encoding decides where.
    with pytest.raises(DataError, match="no mutation"):
        TableSpace(enc, 3, name="sample").mutate(0, np.random.default_rng(0))
    assert space.mutate(2, np.random.default_rng(1)) in {3, 1, 4}
    # from_choices: a row is itself; off the table, a nearest row, the same one every time.
    assert space.from_choices([2, 2, 2]) == 2
    picked = space.from_choices([0, 0, 1])  # distance 1 from rows 0, 1 and 4
    assert picked in {0, 1, 4} and all(space.from_choices([0, 0, 1]) == picked for _ in range(3))
    spread = {space.from_choices([a, b, c]) for a in range(3) for b in range(3) for c in range(3)}
    assert spread == {0, 1, 2, 3, 4}  # every row is reachable: ties are not all sent to row 0
    assert space.from_choices([3, 0, 0]) is None  # outside the choices: no arch
    with pytest.raises(ConfigError, match="off_table"):
        TableSpace(enc, 3, off_table="closest")
    # Every algorithm runs on a sparse sample (REA would fail in reject mode: row 0 has no mutation).
    oracle = SearchOracle(enc, 3, signal=[50, 60, 90, 80, 70], cost=1.0, test=[51, 61, 91, 81, 71],
                          space="sample", off_table="nearest")
    for algo in ("random", "rea", "reinforce", "bohb"):
        run = run_search(get_search(algo), oracle, budget=6.0, seed=0)
        assert run.test in {51.0, 61.0, 71.0, 81.0, 91.0} and run.evaluations >= 1


def test_ranked_values_of_a_proxy_and_of_an_ensemble_over_a_set():
    from gradsign.errors import DataError
    from gradsign.proxies.ensemble import rank_aggregate
    from gradsign.search import ArrayEnsembleProvider, ArrayProxyProvider, ranked_values

    single = ArrayProxyProvider([3.0, 1.0, 2.0, 5.0], name="p")
    assert ranked_values(single, [3, 0, 2]).tolist() == [5.0, 3.0, 2.0]
    lower = ArrayProxyProvider([3.0, 1.0, 2.0, 5.0], name="p", higher_is_better=False)
    assert ranked_values(lower, [0, 1]).tolist() == [-3.0, -1.0]
    members = np.array([[1.0, 4.0], [2.0, 3.0], [3.0, np.nan], [0.5, 1.0]])
    ens = ArrayEnsembleProvider(members, name="a+b")
    keys = [0, 1, 2]
    # the aggregate over exactly the set given (a non-finite member ranks last), not over all cells
    expected = rank_aggregate(np.where(np.isfinite(members[keys]), members[keys], -np.inf), [True, True], "logrank")[0]
    assert np.array_equal(ranked_values(ens, keys), expected)
    assert np.argmax(ranked_values(ens, [0, 1, 3])) in (0, 1)
    assert ranked_values(ens, []).shape == (0,)
    with pytest.raises(DataError):
        ranked_values(single, [7])
