"""gradsign.integrations.optuna: the proxy-screening sampler, its store cache, budgeted studies, the example."""

from __future__ import annotations

import importlib
import json
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("optuna") is None:
    pytest.skip("optuna is not installed (the optional extra: pip install 'gradsign[optuna]')", allow_module_level=True)

import optuna  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from gradsign.errors import ConfigError, GradsignError  # noqa: E402
from gradsign.integrations.optuna import (  # noqa: E402
    ATTRS,
    ModelProxyScorer,
    ProviderScorer,
    ProxyScreeningSampler,
    nb201_index,
    nb201_params,
    nb201_search_space,
    proxy_seconds,
    run_optuna_search,
)
from gradsign.search import ArrayProxyProvider, SearchOracle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"width": [2, 4, 8], "depth": [1, 2], "kernel": [1, 3]}

optuna.logging.set_verbosity(optuna.logging.WARNING)


def build_model(params):
    layers, channels = [], 3
    for _ in range(params["depth"]):
        layers += [nn.Conv2d(channels, params["width"], params["kernel"], padding=params["kernel"] // 2), nn.ReLU()]
        channels = params["width"]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))


def n_weights(params) -> int:
    return sum(p.numel() for p in build_model(params).parameters())


@pytest.fixture()
def minibatch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)


class RecordingSampler(optuna.samplers.RandomSampler):
    """A random sampler that remembers every value it hands out, in order."""

    def __init__(self, seed):
        super().__init__(seed=seed)
        self.draws = []

    def sample_independent(self, study, trial, name, dist):
        value = super().sample_independent(study, trial, name, dist)
        self.draws.append((trial.number, name, value))
        return value


def objective(trial):
    params = {name: trial.suggest_categorical(name, choices) for name, choices in SPACE.items()}
    return float(params["width"] * params["depth"])


def screened_study(seed, store, minibatch, proxy="params", k=4, trials=5, base=None):
    base = base if base is not None else optuna.samplers.TPESampler(seed=seed, n_startup_trials=2)
    sampler = ProxyScreeningSampler(base, build_model, search_space=SPACE, proxy=proxy, k=k, inputs=minibatch[0],
                                    targets=minibatch[1], store=store, space_name="tests.tiny_cnn", seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    return study, sampler


def test_picks_the_best_proxy_score_among_the_k_candidates_the_base_sampler_proposed(minibatch):
    base = RecordingSampler(seed=3)
    study, sampler = screened_study(3, None, minibatch, proxy="params", k=5, trials=4, base=base)
    for trial in study.trials:
        screening = sampler.screenings[trial.number]
        drawn = [value for number, _, value in base.draws if number == trial.number]
        # the K candidates are exactly the base sampler's draws, K x (width, depth, kernel) in order
        assert [tuple(c.values()) for c in screening.candidates] == [tuple(drawn[i:i + 3]) for i in range(0, 15, 3)]
        counts = [n_weights(c) for c in screening.candidates]  # the params proxy, computed independently
        assert trial.params == screening.candidates[int(np.argmax(counts))]
        assert trial.user_attrs[ATTRS["candidates"]] == 5
        assert trial.user_attrs[ATTRS["proxy_value"]] == max(counts)


def test_a_candidate_that_cannot_be_built_ranks_last_instead_of_stopping_the_study(minibatch):
    def fragile(params):
        if params["width"] == 8:
            raise RuntimeError("out of memory building width 8")
        return build_model(params)

    scorer = ModelProxyScorer(fragile, "params", minibatch[0], minibatch[1], seed=0)
    ok, bad = {"width": 4, "depth": 1, "kernel": 3}, {"width": 8, "depth": 2, "kernel": 3}
    with pytest.warns(RuntimeWarning, match="could not be scored.*RuntimeError: out of memory building width 8"):
        scores = scorer.score([bad, ok])
    assert scores.matrix[0, 0] == -np.inf and scores.matrix[1, 0] == n_weights(ok)
    assert list(scorer.failures.values()) == ["RuntimeError: out of memory building width 8"]
    with pytest.raises(GradsignError, match="none of the 1 candidates could be scored.*width 8"):
        scorer.score([bad])
    sampler = ProxyScreeningSampler(optuna.samplers.RandomSampler(seed=1), fragile, search_space=SPACE,
                                    proxy="params", k=4, inputs=minibatch[0], targets=minibatch[1], seed=1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        study.optimize(objective, n_trials=6)  # used to stop at the first candidate of width 8
    assert len(study.trials) == 6


def test_scores_are_cached_in_the_store_and_a_second_study_computes_nothing(tmp_path, minibatch):
    store = tmp_path / "optuna.sqlite"
    first, s1 = screened_study(0, store, minibatch, proxy="gradsign")
    assert s1.scorer.n_computed > 0
    second, s2 = screened_study(0, store, minibatch, proxy="gradsign")
    assert s2.scorer.n_computed == 0
    assert sum(proxy_seconds(t) for t in first.trials) > 0
    assert all(t.user_attrs[ATTRS["proxy_computed"]] == 0 for t in second.trials)
    assert [t.params for t in second.trials] == [t.params for t in first.trials]
    # the stored seconds are charged again in the second study (what screening would cost without the cache)
    assert sum(t.user_attrs[ATTRS["proxy_seconds"]] for t in second.trials) == pytest.approx(
        sum(t.user_attrs[ATTRS["proxy_seconds"]] for t in first.trials))


def test_same_seed_same_study(minibatch):
    a, _ = screened_study(7, None, minibatch, proxy="gradsign", trials=6)
    b, _ = screened_study(7, None, minibatch, proxy="gradsign", trials=6)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert [t.user_attrs[ATTRS["proxy_value"]] for t in a.trials] == [t.user_attrs[ATTRS["proxy_value"]] for t in b.trials]


def test_an_ensemble_ranks_the_candidates_together(minibatch):
    scorer = ModelProxyScorer(build_model, "params+synflow", minibatch[0], minibatch[1], seed=0)
    candidates = [{"width": w, "depth": d, "kernel": 3} for w in (2, 8) for d in (1, 2)]
    scores = scorer.score(candidates)
    assert scores.matrix.shape == (4, 2) and scores.computed.all()
    values = scorer.rank_values(scores.matrix)
    assert int(np.argmax(values)) == 3  # the widest, deepest net is first by both members
    assert not scorer.score(candidates).computed.any()  # remembered


@pytest.mark.parametrize("kwargs, words", [
    ({"k": 0}, "k (candidates screened per trial) must be a whole number >= 1, got 0"),
    ({"k": 2.5}, "got 2.5"),
    ({"proxy": "no_such_proxy"}, "no_such_proxy"),
    ({"search_space": {}}, "search_space must be a non-empty mapping"),
    ({"search_space": {"width": 3}}, "search_space['width']"),
    ({"inputs": None}, "needs a minibatch"),
])
def test_bad_arguments_are_one_line_errors(kwargs, words, minibatch):
    args = {"search_space": SPACE, "inputs": minibatch[0], "targets": minibatch[1], **kwargs}
    with pytest.raises(ConfigError) as info:
        ProxyScreeningSampler(None, build_model, **args)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_k_one_is_the_base_sampler_alone(minibatch):
    study, sampler = screened_study(1, None, minibatch, proxy="gradsign", k=1, trials=4)
    plain = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1, n_startup_trials=2))
    plain.optimize(objective, n_trials=4)
    assert [t.params for t in study.trials] == [t.params for t in plain.trials]
    assert sampler.scorer.n_computed == 0


class FakeEnsembleProvider:
    """Two members per cell (higher = better), ranked together by the mean of normalised ranks."""

    name = "a+b"

    def __init__(self, a, b):
        self.rows = np.column_stack([a, b]).astype(float)

    def member_scores(self, key):
        return self.rows[key]

    def seconds(self, key):
        return 0.25

    def aggregate(self, rows):
        from gradsign.proxies.ensemble import rank_aggregate

        return rank_aggregate(rows, [True, True], "meanrank")[0]


def test_a_stored_ensemble_ranks_the_candidates_together():
    provider = FakeEnsembleProvider([0, 5, 1, 9], [0, 1, 7, 8])
    scorer = ProviderScorer(provider, lambda params: params["cell"])
    scores = scorer.score([{"cell": i} for i in range(4)])
    assert scores.seconds.tolist() == [0.25] * 4 and not scores.computed.any()
    assert int(np.argmax(scorer.rank_values(scores.matrix))) == 3
    with pytest.raises(ConfigError, match="needs score"):
        ProviderScorer(object(), lambda params: 0)


def test_nb201_space_round_trips_every_cell_index():
    space = nb201_search_space()
    assert len(space) == 6 and all(len(d.choices) == 5 for d in space.values())
    assert all(nb201_index(nb201_params(index)) == index for index in range(15_625))


def toy_oracle():
    """A 3 x 3 table: value = row sum; cost 10 s per training; test = 10 x value."""
    enc = np.array([(a, b) for a in range(3) for b in range(3)])
    signal = enc.sum(axis=1).astype(float)
    return SearchOracle(enc, 3, signal, np.full(9, 10.0), 10 * signal, space="toy", default_budget=55.0)


def test_a_budgeted_study_charges_training_and_screening_seconds():
    oracle = toy_oracle()
    space = {"a": optuna.distributions.CategoricalDistribution([0, 1, 2]),
             "b": optuna.distributions.CategoricalDistribution([0, 1, 2])}

    def key_of(params):
        return oracle.index_of((params["a"], params["b"]))

    provider = ArrayProxyProvider(oracle.signal, 1.0, name="oracle_signal")  # a perfect proxy costing 1 s per cell
    sampler = ProxyScreeningSampler(optuna.samplers.RandomSampler(seed=0), search_space=space, k=3,
                                    scorer=ProviderScorer(provider, key_of))
    run = run_optuna_search(oracle, sampler, space, key_of, budget=55.0)
    assert run.charged_seconds <= 55.0
    assert run.charged_seconds == pytest.approx(run.train_seconds + run.proxy_seconds)
    assert run.proxy_seconds == pytest.approx(1.0 * run.proxy_scored)  # each new cell of the study charged once
    assert run.trajectory["spent"] == sorted(run.trajectory["spent"])
    assert run.test == 10 * run.signal
    plain = run_optuna_search(oracle, optuna.samplers.RandomSampler(seed=0), space, key_of, budget=55.0)
    assert plain.proxy_seconds == 0 and plain.evaluations == 5


def test_importing_gradsign_does_not_import_optuna_and_a_missing_extra_is_one_line():
    code = ("import sys, gradsign, gradsign.search, gradsign.integrations; assert 'optuna' not in sys.modules\n"
            "sys.modules['optuna'] = None\n"
            "try:\n    import gradsign.integrations.optuna\nexcept ImportError as exc:\n    print(type(exc).__name__, exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("MissingExtraError gradsign.integrations.optuna needs optuna, which is not installed: "
                   "pip install 'gradsign[optuna]'")


def test_the_example_runs_with_tiny_settings(tmp_path):
    spec = importlib.util.spec_from_file_location("optuna_example", ROOT / "examples" / "optuna_proxy_screening.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    store = tmp_path / "example.sqlite"
    out = example.run(trials=3, k=2, epochs=1, store=store, n_train=64, n_val=32, verbose=False)
    assert set(out) == {"tpe", "tpe+gradsign"}
    assert out["tpe+gradsign"]["proxy_computed"] > 0 and out["tpe"]["proxy_seconds"] == 0
    again = example.run(trials=3, k=2, epochs=1, store=store, n_train=64, n_val=32, verbose=False)
    assert again["tpe+gradsign"]["proxy_computed"] == 0
    assert again["tpe+gradsign"]["params"] == out["tpe+gradsign"]["params"]


@pytest.mark.data
@pytest.mark.slow
def test_the_nb201_experiment_script_on_a_store_of_stored_scores(tmp_path, data_dir, capsys):
    """scripts/optuna_nb201.py: refuses an incomplete store with the command to run; then writes its outputs.

    The store holds the data-free ``params`` proxy (the NB201 table's parameter counts, 0.5 s each),
    so no network is built; what is under test is the plumbing.
    """
    from benchmark_scripts import load_benchmark_script

    from gradsign.benchmarks.nb201 import NB201Table
    from gradsign.storage import ResultsStore
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    script = load_benchmark_script("optuna_nb201.py")
    table = NB201Table.load(data_dir)
    params = np.asarray(table.column("params_m"), dtype=np.float64)
    key = Scorer(ScoringSetup(space="nb201", dataset="cifar10", proxies=("params",)), None).keys["params"]
    store_path, out = tmp_path / "scores.sqlite", tmp_path / "out"
    with ResultsStore(store_path) as store:
        store.put_many(key, [(table.arch(i), float(params[i]), 0.5) for i in range(100)])
    args = ["--runs", "2", "--proxies", "params", "--store", str(store_path), "--output", str(out)]
    assert script.main(args) == 2
    assert "gradsign store import results/nb201_cifar10_allcells_seed0_bs64_params.csv.gz" in capsys.readouterr().err
    with ResultsStore(store_path) as store:
        store.put_many(key, [(table.arch(i), float(params[i]), 0.5) for i in range(len(params))])
    assert script.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    labels = [s["setting"] for s in summary["settings"]]
    assert labels == ["optuna-tpe", "optuna-tpe+params(K=8, charged)", "optuna-tpe+random_scores(K=8, charged)"]
    screened = summary["settings"][1]
    assert screened["proxy_s"] > 0 and screened["charged_s"] <= 12_000
    assert (out / "trajectory.png").stat().st_size > 0 and "Gain over plain TPE" in (out / "table.md").read_text()


def test_screening_attributes_persist_in_an_rdb_storage(tmp_path, minibatch):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sampler = ProxyScreeningSampler(optuna.samplers.TPESampler(seed=0, n_startup_trials=2), build_model,
                                    search_space=SPACE, proxy="synflow", k=3, inputs=minibatch[0],
                                    targets=minibatch[1], store=tmp_path / "scores.sqlite", space_name="tests.tiny_cnn")
    study = optuna.create_study(study_name="screened", storage=storage, direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=3)
    loaded = optuna.load_study(study_name="screened", storage=storage)
    for trial in loaded.trials:
        assert trial.user_attrs[ATTRS["proxy"]] == "synflow" and trial.user_attrs[ATTRS["candidates"]] == 3
        assert trial.params == sampler.screenings[trial.number].params


def test_an_objective_suggesting_other_ranges_than_the_screened_space_is_warned_about(minibatch):
    space = {"width": optuna.distributions.IntDistribution(2, 8), "depth": [1, 2], "kernel": [1, 3]}
    sampler = ProxyScreeningSampler(optuna.samplers.RandomSampler(seed=0), build_model, search_space=space,
                                    proxy="synflow", k=2, inputs=minibatch[0], targets=minibatch[1])
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def other_range(trial):
        params = {"width": trial.suggest_int("width", 2, 4), "depth": trial.suggest_categorical("depth", [1, 2]),
                  "kernel": trial.suggest_categorical("kernel", [1, 3])}
        return float(params["width"])

    with pytest.warns(UserWarning, match="suggests width with a distribution other than search_space's"):
        study.optimize(other_range, n_trials=2)
