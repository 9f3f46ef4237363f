"""The predictor evaluation protocol: no leakage, split planning, CIs, store-backed features, outputs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gradsign.errors import ConfigError, DataError
from gradsign.predictors.base import Predictor, register_predictor, unregister_predictor
from gradsign.workflows.predictors import (
    Problem,
    aggregate,
    bootstrap_mean_ci,
    evaluate_predictors,
    headline,
    join_zerocost,
    plan_sizes,
    write_outputs,
    zerocost_from_store,
)

from test_predictors import synthetic_problem


class _Spy(Predictor):
    """Records what reaches fit and predict; predicts the low-fidelity value (any real signal)."""

    name = "spy"
    family = "model-based"
    needs = frozenset({"labels"})
    calls: list[dict] = []

    def _fit(self, archs, y):
        self.record = {"fit": list(archs), "y": np.asarray(y).copy()}
        _Spy.calls.append(self.record)

    def _predict(self, archs):
        self.record["predict"] = list(archs)
        return self.features.lowfidelity(archs)


@pytest.fixture
def spy():
    _Spy.calls = []
    register_predictor(_Spy)
    yield _Spy
    unregister_predictor("spy")


def _problem(n=150):
    fp, archs, acc = synthetic_problem(n)
    return Problem(fp, lambda a: np.array([acc[x] for x in a]), archs, "synthetic"), acc


def test_test_cells_never_reach_fit(spy):
    problem, acc = _problem()
    ev = evaluate_predictors(problem, ["spy", "zc-ensemble"], train_sizes=[0, 10, 30], test_size=60, trials=3,
                             seed=4, n_bootstrap=200)
    assert len(spy.calls) == 3 * 2  # trials x labelled sizes
    tests_by_trial = []
    for call in spy.calls:
        assert not set(call["fit"]) & set(call["predict"])
        assert len(call["predict"]) == 60 and len(set(call["fit"])) == len(call["fit"])
        # The labels fit receives are exactly the training archs' accuracies.
        np.testing.assert_allclose(call["y"], [acc[a] for a in call["fit"]])
        tests_by_trial.append(tuple(call["predict"]))
    # Within a trial the test set is shared by the sizes; training sets are nested; trials differ.
    assert tests_by_trial[0] == tests_by_trial[1] and tests_by_trial[0] != tests_by_trial[2]
    assert spy.calls[1]["fit"][:10] == spy.calls[0]["fit"]
    s = ev.summary
    assert set(s["train_size"]) == {0, 10, 30}
    assert s[(s["predictor"] == "spy")]["train_size"].tolist() == [10, 30]  # no labelled predictor at size 0
    zc = s[s["predictor"] == "zc-ensemble"]
    assert zc["spearman"].nunique() == 1 and len(zc) == 3  # label-free: one value drawn at every size


def test_same_seed_same_results():
    problem, _ = _problem()
    kw = dict(train_sizes=[0, 20], test_size=50, trials=2, seed=1, n_bootstrap=200)
    a = evaluate_predictors(problem, ["linear", "zc:good", "lowfidelity"], **kw).trials
    b = evaluate_predictors(problem, ["linear", "zc:good", "lowfidelity"], **kw).trials
    cols = ["predictor", "train_size", "trial", "spearman", "kendall", "top10"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_unavailable_predictor_is_an_error_when_asked_and_a_note_by_default():
    fp, archs, acc = synthetic_problem(150)
    from gradsign.predictors import FeatureProvider

    bare = Problem(FeatureProvider("nb201"), lambda a: np.array([acc[x] for x in a]), archs, "synthetic")
    with pytest.raises(ConfigError, match="needs"):
        evaluate_predictors(bare, ["omni"], train_sizes=[10], test_size=50, trials=1)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate_predictors(bare, None, train_sizes=[0], test_size=50, trials=1, n_bootstrap=100)
    fp_lf = synthetic_problem(150)[0]
    fp_lf.zc = None  # low-fidelity only: omni and the zero-cost predictors are skipped with a note
    ev = evaluate_predictors(Problem(fp_lf, bare.accuracy, archs, "synthetic"), None, train_sizes=[0], test_size=50,
                             trials=1, n_bootstrap=100)
    assert any("only training size 0" in n for n in ev.meta["notes"])
    assert set(ev.summary["predictor"]) == {"lowfidelity"}


def test_plan_sizes_shrinks_the_test_set_then_drops_training_sizes():
    assert plan_sizes(5000, [0, 10, 500], 1000) == ([0, 10, 500], 1000, [])
    sizes, test, notes = plan_sizes(1200, [0, 10, 500], 1000)
    assert (sizes, test) == ([0, 10, 500], 700) and "reduced from 1000 to 700" in notes[0]
    sizes, test, notes = plan_sizes(300, [0, 10, 100, 200, 500], 1000)
    assert sizes == [0, 10, 100, 200] and test == 100 and "[500] dropped" in notes[0]
    with pytest.raises(ConfigError, match="only 50 cells"):
        plan_sizes(50, [100], 1000)


def test_bootstrap_mean_ci():
    v = np.array([0.6, 0.7, 0.8, 0.75, 0.65])
    lo, hi = bootstrap_mean_ci(v, n_resamples=2000, seed=0)
    assert lo < v.mean() < hi and (lo, hi) == bootstrap_mean_ci(v, n_resamples=2000, seed=0)
    assert np.isnan(bootstrap_mean_ci(np.array([0.5]))[0])
    assert bootstrap_mean_ci(np.array([0.5, np.nan, 0.5]))[0] == 0.5


def test_one_trial_gets_intervals_over_test_cells():
    problem, _ = _problem()
    ev = evaluate_predictors(problem, ["lowfidelity", "linear"], train_sizes=[0, 20], test_size=80, trials=1,
                             n_bootstrap=200)
    row = ev.summary.iloc[0]
    assert row["spearman_lo"] <= row["spearman"] <= row["spearman_hi"]
    assert "test cells" in ev.meta["ci"]


def test_aggregate_counts_constant_predictions_as_zero():
    problem, _ = _problem()

    class Flat(Predictor):
        name, family, needs = "flat", "model-based", frozenset({"labels"})

        def _predict(self, archs):
            return np.ones(len(archs))

    register_predictor(Flat)
    try:
        ev = evaluate_predictors(problem, ["flat"], train_sizes=[10], test_size=50, trials=2, n_bootstrap=100)
    finally:
        unregister_predictor("flat")
    row = ev.summary.iloc[0]
    assert row["spearman"] == 0.0 and row["constant_trials"] == 2


def test_headline_picks_the_best_of_each_group():
    rows = []
    for name, fam, rho in [("omni", "combined", 0.9), ("omni-linear", "combined", 0.85), ("gp", "model-based", 0.7),
                           ("zc:a", "zero-cost", 0.6), ("zc:b", "zero-cost", 0.8), ("zc-ensemble", "zero-cost", 0.82)]:
        rows.append({"predictor": name, "family": fam, "train_size": 100, "spearman": rho, "spearman_lo": rho - .1,
                     "spearman_hi": rho + .1, "kendall": rho - .2})
    h = headline(pd.DataFrame(rows), 100)
    assert h["best_combined"]["predictor"] == "omni"
    assert h["best_single_zero_cost"]["predictor"] == "zc:b"
    assert h["best_model_based_without_zero_cost"]["predictor"] == "gp"


# --------------------------------------------------------------------------- store-backed zero-cost features


def _store_with_scores(path, archs, proxies, skip=()):
    from gradsign.storage import ResultsStore, ScoreKey

    with ResultsStore(path) as store:
        for j, proxy in enumerate(proxies):
            key = ScoreKey("nb201", "cifar10", proxy, "1", "{}", 64, 0, "cifar10-jpeg:train:random", "pytorch-default")
            rows = [(a, float(i * (j + 1)) if not (i == 2 and j == 1) else float("nan"), 0.1 * (j + 1))
                    for i, a in enumerate(archs) if (a, proxy) not in skip]
            store.put_many(key, rows)
            # A different batch size must not be mixed in.
            other = ScoreKey("nb201", "cifar10", proxy, "1", "{}", 32, 0, "cifar10-jpeg:train:random", "pytorch-default")
            store.put_many(other, [(a, -1.0, 0.1) for a in archs])


def test_zerocost_from_store_reads_complete_cells_only(tmp_path):
    from gradsign.spaces.nb201 import sample_nb201

    archs = sorted(a.to_string() for a in sample_nb201(6, 0))
    path = tmp_path / "s.sqlite"
    _store_with_scores(path, archs, ["synflow", "snip"], skip={(archs[5], "snip")})
    before = path.read_bytes()
    t = zerocost_from_store(path, "nb201", "cifar10", batch_size=64, seed=0)
    assert path.read_bytes() == before  # read-only
    assert t.names == ("snip", "synflow") and t.archs == sorted(archs[:5])
    row = {a: i for i, a in enumerate(archs)}
    vals = t.values[t.rows([archs[3]])][0]
    assert vals.tolist() == [3.0 * 2, 3.0]
    assert np.isnan(t.values[t.rows([archs[2]])][0][0])  # a NaN score stays NaN
    assert t.seconds[0].tolist() == pytest.approx([0.2, 0.1])
    only = zerocost_from_store(path, "nb201", "cifar10", proxies=["synflow"])
    assert only.names == ("synflow",) and len(only.archs) == 6 and row
    with pytest.raises(DataError, match="no nb201/cifar10 scores for grasp"):
        zerocost_from_store(path, "nb201", "cifar10", proxies=["grasp"])
    with pytest.raises(DataError, match="no scores"):
        zerocost_from_store(path, "nb201", "cifar100")


def test_join_zerocost_keeps_common_archs():
    from gradsign.predictors import ZeroCostTable

    a = ZeroCostTable(["x", "y", "z"], ("p",), np.array([[1.0], [2.0], [3.0]]), None, "A")
    b = ZeroCostTable(["z", "y"], ("p",), np.array([[30.0], [20.0]]), None, "B")
    j = join_zerocost([a, b])
    assert j.archs == ["y", "z"] and j.names == ("p", "p@1")
    assert join_zerocost([a, b], ["store", "nb201-table"]).names == ("p", "p@nb201-table")
    assert j.values.tolist() == [[2.0, 20.0], [3.0, 30.0]]


def test_write_outputs(tmp_path):
    problem, _ = _problem()
    ev = evaluate_predictors(problem, ["linear", "zc-ensemble", "omni-linear"], train_sizes=[0, 10, 20],
                             test_size=50, trials=2, n_bootstrap=100)
    files = write_outputs(ev, tmp_path)
    assert {f.name for f in files} == {"trials.csv", "summary.csv", "summary.json", "summary.md",
                                       "correlation_vs_train_size.png"}
    md = (tmp_path / "summary.md").read_text()
    assert "| `linear` | model-based |  | " in md and "n=20" in md
    payload = json.loads((tmp_path / "summary.json").read_text())
    assert payload["pool_size"] == 150 and payload["headline"]["train_size"] == 20
    assert {"spearman", "spearman_lo", "spearman_hi", "kendall", "top10", "fit_s", "query_s"} <= set(payload["results"][0])
    assert (tmp_path / "correlation_vs_train_size.png").stat().st_size > 10_000


def test_an_interrupted_evaluation_hands_back_its_finished_trials(tmp_path, monkeypatch):
    from gradsign.workflows.predictors.protocol import PredictorsInterrupted, _TrialRunner

    problem, _ = _problem()
    kw = dict(train_sizes=[0, 10], test_size=50, seed=1, n_bootstrap=100)
    whole = evaluate_predictors(problem, ["linear", "zc-ensemble"], trials=2, **kw)
    real = _TrialRunner.trial

    def stop_in_the_third(self, t, seed, advance):
        if t == 2:
            real(self, t, seed, advance)  # some rows of trial 2 exist when the stop comes
            raise KeyboardInterrupt
        return real(self, t, seed, advance)

    monkeypatch.setattr(_TrialRunner, "trial", stop_in_the_third)
    with pytest.raises(PredictorsInterrupted) as stop:
        evaluate_predictors(problem, ["linear", "zc-ensemble"], trials=4, **kw)
    partial = stop.value.partial
    assert partial.meta["partial"] == {"trials_finished": 2, "of": 4}
    cols = ["predictor", "train_size", "trial", "spearman", "kendall", "top10"]
    pd.testing.assert_frame_equal(partial.trials[cols], whole.trials[cols])  # trials 0 and 1, nothing of 2
    write_outputs(partial, tmp_path)  # what the command writes to --output before it stops
    assert json.loads((tmp_path / "summary.json").read_text())["partial"] == {"trials_finished": 2, "of": 4}
    # Before any trial finished there is nothing to hand back: a plain KeyboardInterrupt.
    monkeypatch.setattr(_TrialRunner, "trial", lambda self, t, seed, advance: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt) as plain:
        evaluate_predictors(problem, ["linear"], trials=2, **kw)
    assert not isinstance(plain.value, PredictorsInterrupted)


# --------------------------------------------------------------------------- CLI


def run_cli(argv, capsys):
    from gradsign.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.mark.data
def test_cli_evaluate_nb201_smoke(data_dir, tmp_path, capsys):
    code, out, err = run_cli(["predictors", "evaluate", "--space", "nb201", "--dataset", "cifar10",
                              "--train-sizes", "0,10", "--test-size", "40", "--trials", "2",
                              "--zc-source", "nb201-table", "--predictors", "linear,omni,lowfidelity,zc:*",
                              "--bootstrap", "200", "--output", str(tmp_path), "--data-dir", str(data_dir),
                              "--no-progress"], capsys)
    assert code == 0, err
    assert "zc:naswot" in out and "omni" in out and "lowfidelity" in out
    payload = json.loads((tmp_path / "summary.json").read_text())
    assert payload["test_size"] == 40 and payload["trials"] == 2 and payload["zero_cost_proxies"] == ["naswot", "params"]
    assert (tmp_path / "correlation_vs_train_size.png").exists()


@pytest.mark.data
def test_cli_evaluate_nb101_with_naslib_scores(data_dir, tmp_path, capsys):
    code, out, err = run_cli(["predictors", "evaluate", "--space", "nb101", "--train-sizes", "0,20",
                              "--test-size", "50", "--trials", "1", "--predictors", "linear,omni,zc-ensemble,zc:synflow",
                              "--bootstrap", "100", "--output", str(tmp_path), "--data-dir", str(data_dir),
                              "--no-progress"], capsys)
    assert code == 0, err
    payload = json.loads((tmp_path / "summary.json").read_text())
    assert payload["pool_size"] < 500  # NASLib's 500 records are fewer distinct cells
    assert "omni" in payload["predictors"] and "synflow" in payload["zero_cost_proxies"]
    assert any("no low-fidelity" in n for n in payload["notes"])
    code, _, err = run_cli(["predictors", "evaluate", "--space", "nb101", "--predictors", "lowfidelity",
                            "--data-dir", str(data_dir), "--no-progress"], capsys)
    assert code == 2 and "needs lowfidelity" in err


@pytest.mark.parametrize("argv, needle", [
    (["--predictors", "nope"], "unknown predictor"),
    (["--train-sizes", "a,b"], "--train-sizes"),
    (["--trials", "0"], "--trials"),
    (["--zc-source", "magic"], "unknown zero-cost source"),
])
def test_cli_errors_are_one_line(argv, needle, capsys, tmp_path):
    code, _, err = run_cli(["predictors", "evaluate", "--zc-source", "none", *argv, "--no-progress"], capsys)
    assert code == 2 and needle in err and "Traceback" not in err


@pytest.mark.data
def test_build_problem_auto_falls_back_to_naslib_without_a_store(data_dir, tmp_path):
    from gradsign.workflows.predictors import build_problem

    p = build_problem("nb201", "cifar100", zc_source="auto", store=tmp_path / "absent.sqlite", data_dir=data_dir)
    assert "NASLib" in p.features.zc.source and any("store is unusable" in n for n in p.notes)
    assert len(p.features.zc.archs) == 725 and p.features.has("lowfidelity")
    a = p.features.zc.archs[:3]
    assert np.isfinite(p.accuracy(a)).all() and p.target.startswith("NAS-Bench-201 cifar100 test")
    with pytest.raises(ConfigError, match="zero-cost source 'nb201-table' for nb301; valid: auto, naslib, none"):
        build_problem("darts", "cifar10", zc_source="nb201-table", data_dir=data_dir)


@pytest.mark.data
def test_zc_proxies_name_one_source_of_a_join(data_dir, tmp_path):
    """``naswot@nb201-table`` is the NB201 table's reference column even when the store has our naswot."""
    from gradsign.benchmarks import NB201Table
    from gradsign.spaces.nb201 import sample_nb201
    from gradsign.workflows.predictors import build_problem

    archs = sorted(a.to_string() for a in sample_nb201(6, 0))
    before, after = tmp_path / "before.sqlite", tmp_path / "after.sqlite"
    _store_with_scores(before, archs, ["params", "synflow"])
    _store_with_scores(after, archs, ["params", "synflow", "naswot"])  # our naswot added later
    kw = dict(zc_source="store+nb201-table", lowfidelity=False, data_dir=data_dir)
    old = build_problem("nb201", "cifar10", store=before, **kw).features.zc
    assert old.names == ("params", "synflow", "naswot", "params@nb201-table")
    pinned = build_problem("nb201", "cifar10", store=after, zc_proxies=list(old.names[:2]) +
                           ["naswot@nb201-table", "params@nb201-table"], **kw).features.zc
    assert pinned.names == old.names and pinned.archs == old.archs
    np.testing.assert_array_equal(pinned.values, old.values)  # the command of a result keeps reproducing it
    table = NB201Table.load(data_dir)
    ref = np.array([table.column("naswot_score")[table.index_of(a)] for a in pinned.archs])
    np.testing.assert_array_equal(pinned.values[:, 2], ref)
    both = build_problem("nb201", "cifar10", store=after, zc_proxies=["naswot", "naswot@nb201-table"], **kw).features.zc
    assert both.names == ("naswot", "naswot@nb201-table")
    with pytest.raises(ConfigError, match="not in --zc-source"):
        build_problem("nb201", "cifar10", store=after, zc_proxies=["naswot@naslib"], **kw)
    with pytest.raises(ConfigError, match="source nb201-table has no proxy 'grasp'"):
        build_problem("nb201", "cifar10", store=after, zc_proxies=["synflow", "grasp@nb201-table"], **kw)
    with pytest.raises(ConfigError, match="names no proxy for the store"):
        build_problem("nb201", "cifar10", store=after, zc_proxies=["params@nb201-table"], **kw)
