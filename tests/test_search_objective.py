"""Search on a user's own SearchSpace with a user's training function (issue #24 item 4, #25 item 1).

A toy space (three categorical decisions, archs are tuples, no benchmark index)
and a fake training function that advances a fake clock: the seconds a search
charges are exactly the measured seconds of the trainings and proxy scores it
paid for, and every algorithm runs on the space through sample / mutate /
choices. The last tests are the worked example of docs/search.md: a search
algorithm registered from a test file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradsign
from gradsign.errors import ConfigError
from gradsign.search import (CallableObjective, CallableProxyProvider, SearchAlgorithm, Study, register_search,
                             run_search, run_searches, unregister_search)
from gradsign.spaces.base import SearchSpace, as_generator

CHOICES = (3, 4, 2)  # width, depth, kernel


class ToySpace(SearchSpace[tuple]):
    """Macro archs ``(width, depth, kernel)`` as choice tuples; enumerable but with no benchmark index."""

    name = "toy-macro"

    def parse(self, text):
        return tuple(int(x) for x in text.split("-"))

    def to_string(self, arch):
        return "-".join(map(str, arch))

    @property
    def num_archs(self):
        return int(np.prod(CHOICES))

    def sample(self, n, seed=None, *, replace=False):
        rng = as_generator(seed)
        return [tuple(int(rng.integers(c)) for c in CHOICES) for _ in range(n)]

    def mutate(self, arch, seed=None):
        rng = as_generator(seed)
        dim = int(rng.integers(len(CHOICES)))
        new = (arch[dim] + 1 + int(rng.integers(CHOICES[dim] - 1))) % CHOICES[dim]
        return arch[:dim] + (new,) + arch[dim + 1:]

    def neighbours(self, arch):
        return [arch[:d] + (c,) + arch[d + 1:] for d in range(len(CHOICES)) for c in range(CHOICES[d]) if c != arch[d]]

    def build_network(self, arch, num_classes=10, **options):
        raise NotImplementedError("the toy space builds no networks")

    def choices(self):
        return CHOICES

    def to_choices(self, arch):
        return tuple(arch)

    def from_choices(self, choices):
        return tuple(int(c) for c in choices)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def training_seconds(arch):
    return 10.0 + 5.0 * arch[0] + 3.0 * arch[1]  # bigger networks train longer


def accuracy(arch):
    return 50.0 + 8.0 * arch[0] + 4.0 * arch[1] - 2.0 * arch[2]


@pytest.fixture
def toy():
    clock = FakeClock()
    trained = []
    scored = []

    def train(arch):
        trained.append(arch)
        clock.now += training_seconds(arch)
        return accuracy(arch)

    def proxy(arch):
        scored.append(arch)
        clock.now += 0.5
        return float(arch[0] + arch[1])  # a proxy that knows size helps

    space = ToySpace()
    objective = CallableObjective(space, train, clock=clock, default_budget=400.0)
    return space, objective, proxy, clock, trained, scored


@pytest.mark.parametrize("algo", ["random", "rea", "reinforce", "bohb"])
def test_every_algorithm_charges_the_measured_training_seconds(toy, algo):
    space, objective, _, _, trained, _ = toy
    r = run_search(algo, objective, seed=3, budget=400)
    # the run ends with a training that did not fit: its cost is known only afterwards,
    # so it was trained, then discarded (never charged, its result never used)
    assert len(trained) == r.evaluations + 1 and r.evaluations > 0
    paid = trained[: r.evaluations]
    assert r.train_seconds + training_seconds(trained[-1]) > 400
    assert r.train_seconds == pytest.approx(sum(training_seconds(a) for a in paid))
    assert r.charged_seconds == r.train_seconds <= 400
    assert r.proxy_seconds == 0
    best = max(paid, key=accuracy)
    assert r.signal == accuracy(best) and r.test == accuracy(best)  # no test function: the observed accuracy
    assert r.arch == space.to_string(best) and r.incumbent == space.to_string(best)
    assert r.trajectory["spent"][-1] == r.charged_seconds


@pytest.mark.parametrize("algo", ["random", "rea", "reinforce", "bohb"])
def test_proxy_seconds_are_measured_and_charged_the_same_way(toy, algo):
    _, objective, proxy, clock, trained, scored = toy
    provider = CallableProxyProvider(proxy, name="size", clock=clock)
    r = run_search(algo, objective, provider, seed=5, budget=400, candidates=4)
    assert r.proxy_scored == len(scored) == provider.n_computed > 0  # each arch scored once
    assert r.proxy_seconds == pytest.approx(0.5 * len(scored))
    assert r.charged_seconds == pytest.approx(r.train_seconds + r.proxy_seconds) and r.charged_seconds <= 400
    free = run_search(algo, objective, provider, seed=5, budget=400, candidates=4, charge_proxy=False)
    assert free.charged_seconds == pytest.approx(free.train_seconds) and free.proxy_seconds > 0


def test_same_seed_same_search_and_the_test_function_is_reported(toy):
    space, _, proxy, clock, _, _ = toy

    def train(arch):
        clock.now += training_seconds(arch)
        return accuracy(arch)

    tested = []

    def test(arch):
        tested.append(arch)
        return accuracy(arch) - 1.0

    objective = CallableObjective(space, train, test=test, clock=clock)
    a = run_searches("rea", objective, runs=3, seed=1, budget="12evals")
    b = run_searches("rea", objective, runs=3, seed=1, budget="12evals")
    assert [r.to_dict() for r in a.runs] == [r.to_dict() for r in b.runs]
    assert all(r.test == r.signal - 1.0 and r.evaluations == 12 for r in a.runs)
    assert len(tested) == len(set(tested))  # the test function runs once per arch, not per training
    assert a.space == "toy-macro" and "measured wall-clock seconds" in " ".join(a.notes)


def test_real_clock_charges_real_seconds():
    space = ToySpace()

    def train(arch):
        return float(sum(np.sort(np.random.default_rng(0).random(20_000))[:3])) + accuracy(arch)

    r = run_searches("random", train, space=space, runs=1, seed=0, budget="5evals").runs[0]
    assert r.evaluations == 5 and r.train_seconds > 0 and r.charged_seconds == r.train_seconds


def test_the_typed_api_runs_a_user_objective(toy, tmp_path):
    space, objective, proxy, _, _, _ = toy
    report = gradsign.search("rea", objective=objective, proxy=proxy, candidates=3, budget="300s", runs=4, seed=0)
    labels = [res.label for res in report.results]
    assert labels == ["rea", "rea+proxy(K=3, charged)"]  # no "free" setting: real proxy seconds are not free
    assert [row["runs"] for row in report.table] == [4, 4]
    frame = report.to_frame()
    assert len(frame) == 8 and set(frame["setting"]) == set(labels)
    assert (frame["charged_seconds"] <= 300).all()
    doc = json.loads(report.to_json(tmp_path / "search.json").read_text())
    assert doc["summary"]["space"] == "toy-macro" and len(doc["results"]) == 2
    assert set(report.trajectories(x="evaluations")) == set(labels)
    # a training function with its space works the same
    plain = gradsign.search("random", objective=lambda a: accuracy(a), space=space, budget="10evals", runs=2)
    assert all(r.evaluations == 10 for r in plain.results[0].runs)


def test_the_typed_api_refuses_what_it_cannot_do(toy):
    space, objective, _, _, _, _ = toy
    with pytest.raises(ConfigError, match="give proxy_batch"):
        gradsign.search("rea", objective=objective, proxy="gradsign", budget="10evals", runs=1)
    with pytest.raises(ConfigError, match="needs its search space"):
        gradsign.search("rea", objective=lambda a: 1.0, budget="10evals", runs=1)
    with pytest.raises(ConfigError, match="no simulated training"):
        gradsign.search("rea", space="darts", runs=1)
    with pytest.raises(ConfigError, match="runs must be an integer"):
        gradsign.search("rea", objective=objective, runs=0)
    with pytest.raises(ConfigError, match="unknown search algorithm"):
        gradsign.search("hill", objective=objective, runs=1)


# --------------------------------------------------------------------------- worked example: a new algorithm


class HillClimb(SearchAlgorithm):
    """First-improvement hill climbing over the space's neighbours, restarting at a random arch."""

    def run(self, study: Study) -> None:
        space, rng = study.space, study.rng
        while True:
            current = space.sample(1, rng, replace=True)[0]
            best = study.evaluate(current)
            improved = True
            while improved:
                improved = False
                for neighbour in space.neighbours(current):
                    value = study.evaluate(neighbour)
                    if value > best:
                        current, best, improved = neighbour, value, True
                        break


@pytest.fixture
def hillclimb():
    register_search("test-hillclimb", aliases=("test-hc",))(HillClimb)
    yield HillClimb
    unregister_search("test-hillclimb")


def test_a_registered_algorithm_runs_everywhere_a_builtin_does(toy, hillclimb):
    _, objective, proxy, _, _, _ = toy
    r = run_search("test-hc", objective, seed=0, budget="30evals")
    # accuracy is separable in the choices: climbing one decision at a time reaches the optimum
    assert r.evaluations == 30 and r.signal == accuracy((2, 3, 0))
    report = gradsign.search("test-hillclimb", objective=objective, budget="30evals", runs=2)
    assert report.summary["algo"] == "test-hillclimb" and report.table[0]["runs"] == 2
    assert gradsign.search.available_searches().count("test-hillclimb") == 1


# --------------------------------------------------------------------------- resuming a killed search


class Killed(Exception):
    """Stands for the process being killed mid-training."""


def test_a_killed_search_resumes_from_its_journal_without_retraining(toy, tmp_path):
    space, _, _, clock, _, _ = toy
    calls = []
    kill_at = [None]

    def train(arch):
        if kill_at[0] is not None and len(calls) == kill_at[0]:
            raise Killed
        calls.append(arch)
        clock.now += training_seconds(arch)
        return accuracy(arch)

    proxy_calls = []

    def proxy(arch):
        proxy_calls.append(arch)
        clock.now += 0.5
        return float(arch[0] + arch[1])

    def run(journal):
        from gradsign.search import Journal

        # the fake clock times the proxy too; the journal keeps its scores and seconds
        provider = CallableProxyProvider(proxy, clock=clock, arch_name=space.to_string,
                                         journal=None if journal is None else Journal(journal))
        objective = CallableObjective(space, train, clock=clock)
        return gradsign.search("rea", objective=objective, proxy=provider, candidates=3, budget="300s", runs=3,
                               seed=2, journal=journal)

    uninterrupted = run(None)
    trainings, scores = len(calls), len(proxy_calls)
    calls.clear(), proxy_calls.clear()
    journal = tmp_path / "search.sqlite"
    kill_at[0] = trainings // 2
    from gradsign.errors import TrainingError

    with pytest.raises(TrainingError, match=r"raised on .*: Killed; the journal .* keeps the trainings finished") \
            as killed:
        run(journal)
    assert isinstance(killed.value.__cause__, Killed)
    assert len(calls) == trainings // 2
    kill_at[0] = None
    before_resume = len(calls)
    resumed = run(journal)
    # trainings recomputed: none of the finished ones; the rest exactly once
    assert len(calls) - before_resume == trainings - trainings // 2
    assert len(proxy_calls) == len(set(proxy_calls))  # each arch's proxy score computed once, in either process
    assert [r.to_dict() for res in resumed.results for r in res.runs] == \
           [r.to_dict() for res in uninterrupted.results for r in res.runs]
    calls.clear()
    again = run(journal)  # everything recorded: nothing is trained
    assert calls == [] and again.table == resumed.table


def test_a_journal_refuses_a_different_search(toy, tmp_path):
    _, objective, _, _, _, _ = toy
    from gradsign.errors import DataError
    from gradsign.search import Journal

    journal = Journal(tmp_path / "j.sqlite")
    run_searches("rea", objective, runs=1, seed=0, budget="8evals", journal=journal)
    assert journal.recorded == 8
    with pytest.raises(DataError, match="the search changed"):
        run_searches("rea", objective, runs=1, seed=0, budget="8evals", journal=journal, sample_size=2,
                     population_size=3)  # same label 'rea', other proposals


def test_a_journal_refuses_another_objective_dataset_or_edited_training_function(toy, tmp_path):
    space, objective, _, clock, _, _ = toy
    from gradsign.errors import DataError
    from gradsign.search import Journal

    path = tmp_path / "j.sqlite"
    run_searches("rea", objective, runs=1, seed=0, budget="8evals", journal=Journal(path))
    relabelled = CallableObjective(space, objective._train, clock=clock, dataset="cifar100")
    with pytest.raises(DataError, match=r"records a search with dataset ''; this search has dataset 'cifar100'"):
        run_searches("rea", relabelled, runs=1, seed=0, budget="8evals", journal=Journal(path))

    def other(arch):  # another training function: its trainings are not the recorded ones
        clock.now += 1.0
        return accuracy(arch) + 1.0

    with pytest.raises(DataError, match="records a search with objective 'toy.<locals>.train'; this search has "
                                        "objective 'test_a_journal_refuses.*other': its trainings are not"):
        run_searches("rea", CallableObjective(space, other, clock=clock), runs=1, seed=0, budget="8evals",
                     journal=Journal(path))
    again = Journal(path)  # the recorded objective itself still replays
    run_searches("rea", objective, runs=1, seed=0, budget="8evals", journal=again)
    assert (again.replayed, again.recorded) == (8, 0)

    # The same function edited (a bug fixed after a crash: the usual reason to resume) replays, with a warning.
    other.__qualname__ = objective._train.__qualname__
    edited = Journal(path)
    with pytest.warns(UserWarning, match="function's source changed since the journal was written"):
        run_searches("rea", CallableObjective(space, other, clock=clock), runs=1, seed=0, budget="8evals",
                     journal=edited)
    assert (edited.replayed, edited.recorded) == (8, 0)


def test_callable_identity_sees_through_partials_and_names_builtins():
    import functools

    from gradsign.search.journal import callable_identity

    def train(arch, epochs=12):
        return float(epochs)

    def other(arch, epochs=12):
        return float(epochs)

    twelve, two_hundred = functools.partial(train, epochs=12), functools.partial(train, epochs=200)
    assert callable_identity(twelve) != callable_identity(two_hundred)  # were both 'partial#...'
    assert callable_identity(twelve) != callable_identity(functools.partial(other, epochs=12))
    assert callable_identity(twelve) == callable_identity(functools.partial(train, epochs=12))
    assert callable_identity(len) == "len"


def test_an_old_journal_adopts_the_first_search_and_keeps_its_proxy_scores(toy, tmp_path):
    space, objective, proxy, clock, _, scored = toy
    from gradsign.search import Journal

    path = tmp_path / "old.sqlite"
    journal = Journal(path)
    # as a journal written before 2026-12-07: no identity, proxy scores under the bare name
    for cell in space.sample(5, 0):
        journal.record_proxy_score("proxy", space.to_string(cell), 1.5, 0.25)
    journal._db.execute("DELETE FROM journal_meta")
    journal._db.commit()
    old = Journal(path)
    assert old.legacy
    provider = CallableProxyProvider(proxy, journal=old, arch_name=space.to_string)
    cell = space.sample(5, 0)[0]
    assert provider.score(cell) == 1.5 and provider.seconds(cell) == 0.25 and scored == []
    assert not Journal(tmp_path / "new.sqlite").legacy
    run_searches("rea", objective, runs=1, seed=0, budget="4evals", journal=old)  # adopts this search
    assert Journal(path).legacy  # and a later resume still finds the old proxy scores


def test_a_training_function_that_raises_is_one_line_naming_the_arch_and_what_is_kept(toy, tmp_path):
    space, _, _, clock, _, _ = toy
    from gradsign.errors import TrainingError

    def train(arch):
        if arch[0] == 2:
            raise RuntimeError("CUDA out of memory\nTried to allocate ...")
        clock.now += 1.0
        return accuracy(arch)

    objective = CallableObjective(space, train, clock=clock)
    with pytest.raises(TrainingError, match=r"^your training function 'train' raised on .*: RuntimeError: CUDA out "
                                            r"of memory; no --journal was given, so the trainings finished are "
                                            r"not kept$"):
        gradsign.search("random", objective=objective, budget="40evals", runs=1, seed=0)
    with pytest.raises(TrainingError, match=r"; the journal .*j.sqlite keeps the trainings finished \(\d+ this call\)"):
        gradsign.search("random", objective=objective, budget="40evals", runs=1, seed=0, journal=tmp_path / "j.sqlite")


def test_a_results_store_is_not_taken_as_a_journal(tmp_path):
    from gradsign.errors import DataError
    from gradsign.search import Journal
    from gradsign.storage import ResultsStore

    ResultsStore(tmp_path / "store.sqlite").close()
    before = (tmp_path / "store.sqlite").read_bytes()
    with pytest.raises(DataError, match="store.sqlite is not a search journal .*scores.*: a results store"):
        Journal(tmp_path / "store.sqlite")
    assert (tmp_path / "store.sqlite").read_bytes() == before


def test_a_named_proxy_scores_the_networks_of_a_user_space():
    """gradsign on networks the space builds, its real seconds charged like the (fake-clock) trainings."""
    import torch
    from torch import nn

    class ConvSpace(ToySpace):
        name = "toy-conv"

        def build_network(self, arch, num_classes=10, **options):
            width = (4, 8, 16)[arch[0]]
            layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
            for _ in range(arch[1] % 2):
                layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
            return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    clock = FakeClock()

    def train(arch):
        clock.now += training_seconds(arch)
        return accuracy(arch)

    torch.manual_seed(0)
    batch = (torch.randn(8, 3, 8, 8), torch.arange(8) % 4)
    objective = CallableObjective(ConvSpace(), train, clock=clock)
    report = gradsign.search("random", objective=objective, proxy="gradsign", proxy_batch=batch, num_classes=4,
                             candidates=3, budget="10evals", runs=1, seed=0)
    assisted = report.results[1].runs[0]
    assert report.results[1].label == "random+gradsign(K=3, charged)"
    assert assisted.evaluations == 10 and 0 < assisted.proxy_scored <= 24  # each distinct arch scored once
    assert assisted.proxy_seconds > 0  # measured wall-clock seconds of building and scoring each network
    assert assisted.charged_seconds == pytest.approx(assisted.train_seconds + assisted.proxy_seconds)


def test_an_output_folder_reused_by_another_search_holds_only_the_new_search(toy, tmp_path):
    _, objective, _, _, _, _ = toy
    out = tmp_path / "out"
    gradsign.search("rea", objective=objective, budget="8evals", runs=1, seed=0, output=out)
    (out / "notes.json").write_text('{"mine": true}')  # not a search's: kept
    report = gradsign.search("random", objective=objective, budget="8evals", runs=1, seed=0, output=out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.json", "runs_random.json", "summary.json", "trajectory.png"]
    assert report.summary["removed_earlier_files"] == ["runs_rea.json"]
    again = gradsign.search("random", objective=objective, budget="8evals", runs=1, seed=0, output=out)
    assert "removed_earlier_files" not in again.summary  # the same command again replaces its own files
