"""The cases of the search golden test (tests/test_search_golden.py) and how to (re)generate them.

The expected trajectories in ``tests/expected/search_golden.json`` were written by
the search code *before* the study / objective / SearchSpace refactor of issue #24
(commit d5234ec), from synthetic benchmarks built here (no data files): every
algorithm, plain and with each kind of proxy assistance, a few seeds, small budgets.
The refactored code must reproduce them exactly (same cells, same floats).

    python tests/search_golden_cases.py --write    # only to re-baseline deliberately
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

EXPECTED = Path(__file__).parent / "expected" / "search_golden.json"
N_NB201 = 15625


def synthetic_nb201():
    """An NB201 oracle on synthetic arrays (official index order), with a 200-epoch fidelity."""
    from gradsign.search import nb201_oracle_from_arrays
    from gradsign.spaces.nb201 import all_nb201_archs

    rng = np.random.default_rng(2024)
    ops = np.array([a.ops for a in all_nb201_archs()])
    conv = (ops == 3).sum(axis=1) + 0.5 * (ops == 2).sum(axis=1)
    signal = 60 + 4 * conv + rng.normal(0, 2.0, N_NB201)
    test = signal + rng.normal(0, 0.7, N_NB201)
    train_epoch = rng.uniform(3, 18, N_NB201)
    valid_epoch = 0.2 * train_epoch + 1.0
    valid200 = signal + 15 + rng.normal(0, 0.5, N_NB201)
    reported = {"cifar10": test, "cifar100": test - 20 + rng.normal(0, 1, N_NB201)}
    oracle = nb201_oracle_from_arrays("cifar10", signal12=signal, test200=test, train_epoch_seconds=train_epoch,
                                      valid_epoch_seconds=valid_epoch, valid200=valid200, reported=reported,
                                      default_budget=4000.0)
    proxy = 3 * conv + rng.normal(0, 1.5, N_NB201)
    proxy_seconds = rng.uniform(0.5, 3.0, N_NB201)
    params = ops.sum(axis=1) + rng.normal(0, 0.1, N_NB201)
    return oracle, proxy, proxy_seconds, params, conv


class EnsembleProvider:
    """A two-member rank ensemble over arrays (the interface of gradsign.workflows.search.EnsembleStoreProvider)."""

    name = "proxy+params"

    def __init__(self, a, b, seconds):
        self.members = np.stack([a, b], axis=1)
        self._seconds = seconds

    def member_scores(self, arch):
        return self.members[int(arch)]

    def seconds(self, arch):
        return float(self._seconds[int(arch)])

    def score(self, arch):  # pragma: no cover - ensembles rank groups
        raise AssertionError("an ensemble has no score of one cell alone")

    def aggregate(self, rows):
        from gradsign.proxies.ensemble import rank_aggregate

        return rank_aggregate(rows, [True, True])[0]


def cases():
    """(name, callable returning a SearchResults) for every case."""
    from gradsign.predictors import FeatureProvider
    from gradsign.predictors.features import ZeroCostTable
    from gradsign.search import ArrayProxyProvider, run_searches
    from gradsign.spaces.nb201 import all_nb201_archs

    oracle, proxy, proxy_seconds, params, conv = synthetic_nb201()
    prov = ArrayProxyProvider(proxy, proxy_seconds, name="proxy")
    ens = EnsembleProvider(proxy, params, proxy_seconds)
    names = [a.to_string() for a in all_nb201_archs()]
    zc = ZeroCostTable(names, ("convs",), conv[:, None], np.full((N_NB201, 1), 0.5), "synthetic", {"convs": False})
    fp = FeatureProvider("nb201", "cifar10", zerocost=zc)
    runs = 3
    out = []
    settings = {
        "random": [{}],
        "rea": [{}, {"sample_size": 10, "population_size": 5}],
        "reinforce": [{}, {"proposal": "policy"}, {"credit": "sampled"}],
        "bohb": [{}, {"proposal": "model"}, {"fidelity": "12/200"}, {"incumbent": "best_seen"}],
    }
    for algo, variants in settings.items():
        for params_ in variants:
            tag = algo + "".join(f"[{k}={v}]" for k, v in params_.items())
            out.append((f"{tag}/plain", lambda a=algo, p=params_: run_searches(a, oracle, runs=runs, seed=7, **p)))
            out.append((f"{tag}/evals", lambda a=algo, p=params_: run_searches(a, oracle, runs=2, seed=3,
                                                                            budget="25evals", **p)))
            out.append((f"{tag}/K10-charged", lambda a=algo, p=params_: run_searches(
                a, oracle, prov, runs=runs, seed=7, **p)))
            out.append((f"{tag}/K10-free", lambda a=algo, p=params_: run_searches(
                a, oracle, prov, runs=runs, seed=7, charge_proxy=False, **p)))
            out.append((f"{tag}/K4-ensemble", lambda a=algo, p=params_: run_searches(
                a, oracle, ens, runs=runs, seed=11, candidates=4, **p)))
            out.append((f"{tag}/warmup", lambda a=algo, p=params_: run_searches(
                a, oracle, prov, runs=runs, seed=7, candidates=1, warmup_pool=300, **p)))
            out.append((f"{tag}/warmup-K5-free", lambda a=algo, p=params_: run_searches(
                a, oracle, prov, runs=runs, seed=5, candidates=5, warmup_pool=50, charge_proxy=False, **p)))
    for pred in ("linear", "omni-linear"):
        for charge in (True, False):
            out.append((f"predictor[{pred}]/{'charged' if charge else 'free'}", lambda p=pred, c=charge: run_searches(
                "predictor", oracle, runs=2, seed=1, budget=2500, features=fp, predictor=p, pool=30,
                charge_proxy=c)))
    out += toy_cases()
    return out


def toy_cases():
    """The generic (non-NB201) oracle of tests/search_fakes.py: 4**3 cells in shuffled order."""
    from gradsign.search import ArrayProxyProvider, run_searches

    sys.path.insert(0, str(Path(__file__).parent))
    from search_fakes import toy_oracle

    oracle = toy_oracle(d=3, c=4, seed=1, budget=300.0)
    scores = np.random.default_rng(3).normal(size=oracle.num_archs)
    prov = ArrayProxyProvider(scores, 0.5, name="toyproxy")
    out = []
    for algo in ("random", "rea", "reinforce", "bohb"):
        out.append((f"toy/{algo}/plain", lambda a=algo: run_searches(a, oracle, runs=2, seed=0)))
        out.append((f"toy/{algo}/K3", lambda a=algo: run_searches(a, oracle, prov, runs=2, seed=0, candidates=3)))
    return out


def result_document(res) -> dict:
    d = res.to_dict()
    d.pop("wall_seconds")
    return json.loads(json.dumps(d))  # what a JSON file round-trip gives (NaN -> None etc.)


def compute() -> dict:
    return {name: result_document(make()) for name, make in cases()}


if __name__ == "__main__":
    if "--write" not in sys.argv:
        raise SystemExit("usage: python tests/search_golden_cases.py --write")
    EXPECTED.parent.mkdir(parents=True, exist_ok=True)
    EXPECTED.write_text(json.dumps(compute(), sort_keys=True, separators=(",", ":")))
    print(f"wrote {EXPECTED}")
