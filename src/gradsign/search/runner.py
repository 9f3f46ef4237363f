"""Run many seeded searches of one setting: the driver behind :func:`gradsign.search`.

    >>> from gradsign.search import run_searches, ArrayProxyProvider
    >>> res = run_searches("rea", objective, runs=100, seed=0)                  # doctest: +SKIP
    >>> g = run_searches("rea", objective, provider, runs=100, seed=0)          # doctest: +SKIP
    >>> res.summary()["mean"], g.summary()["mean"]                              # doctest: +SKIP

``objective`` is an :class:`~gradsign.search.objective.Objective` (e.g. NB201's
tabular one, :func:`~gradsign.search.oracle.nb201_oracle`), or a function
``train(arch) -> accuracy`` with ``space=`` its :class:`~gradsign.spaces.base.SearchSpace`.
Run ``r`` of a call with seed ``S`` draws from
``np.random.default_rng(np.random.SeedSequence(S, spawn_key=(r,)))``: runs are
independent streams, and run ``r`` gives the same result whatever the number
of runs or the order they are executed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.search.budget import Budget, BudgetExhausted
from gradsign.search.journal import Journal, RunJournal
from gradsign.search.objective import Objective, as_objective
from gradsign.search.providers import ProxyProvider, provider_name
from gradsign.search.registry import SearchAlgorithm, get_search
from gradsign.search.results import SearchResults, SearchRun
from gradsign.search.study import Study
from gradsign.spaces.base import SearchSpace

#: Default number of candidates per proposal when a proxy is given (GradSign: 10).
DEFAULT_CANDIDATES = 10


def _run_rng(seed: int, run: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(run),)))


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _resolve(
    algo: "str | SearchAlgorithm",
    provider: ProxyProvider | None,
    candidates: int | None,
    warmup_pool: int,
    params: Mapping[str, Any],
) -> tuple[SearchAlgorithm, int]:
    algorithm = get_search(algo, **params)
    if candidates is None:
        candidates = DEFAULT_CANDIDATES if provider is not None else 1
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ConfigError(f"candidates must be an int >= 1, got {candidates!r}")
    if provider is None and (candidates > 1 or warmup_pool > 0):
        raise ConfigError("candidates > 1 and warm-up need a proxy provider")
    if provider is not None and not algorithm.accepts_proxy:
        raise ConfigError(f"search {algorithm.name!r} takes no proxy provider (its predictor reads zero-cost "
                          "features itself); run it without one")
    if provider is not None and not isinstance(provider, ProxyProvider):
        raise ConfigError(f"provider must have score(arch) and seconds(arch) methods, got {provider!r}")
    if warmup_pool < 0:
        raise ConfigError(f"warmup_pool must be >= 0, got {warmup_pool}")
    return algorithm, int(candidates)


def run_search(
    algo: "str | SearchAlgorithm",
    objective: Objective | Callable[[Any], float],
    provider: ProxyProvider | None = None,
    *,
    space: SearchSpace | None = None,
    seed: int = 0,
    run: int = 0,
    candidates: int | None = None,
    budget: Budget | float | str | None = None,
    charge_proxy: bool = True,
    warmup_pool: int = 0,
    record_events: bool = False,
    **params: Any,
) -> SearchRun:
    """One search (run ``run`` of seed ``seed``); ``params`` configure ``algo``. See :func:`run_searches`."""
    objective = as_objective(objective, space)
    algorithm, k = _resolve(algo, provider, candidates, warmup_pool, params)
    b = Budget.parse(budget, objective.default_budget)
    return _one_run(algorithm, objective, provider, _check_seed(seed), run, k, b, charge_proxy, warmup_pool, record_events)


def _one_run(
    algorithm: SearchAlgorithm,
    objective: Objective,
    provider: ProxyProvider | None,
    seed: int,
    run: int,
    k: int,
    budget: Budget,
    charge_proxy: bool,
    warmup_pool: int,
    record_events: bool,
    journal: RunJournal | None = None,
) -> SearchRun:
    study = Study(
        objective, budget, _run_rng(seed, run), proxy=provider, charge_proxy=charge_proxy,
        candidates=k, warmup_pool=warmup_pool, record_events=record_events, journal=journal,
    )
    try:
        algorithm.run(study)
    except BudgetExhausted:
        pass
    return study.result(run, (seed, run))


def run_searches(
    algo: "str | SearchAlgorithm",
    objective: Objective | Callable[[Any], float],
    provider: ProxyProvider | None = None,
    *,
    space: SearchSpace | None = None,
    runs: int = 100,
    seed: int = 0,
    candidates: int | None = None,
    budget: Budget | float | str | None = None,
    charge_proxy: bool = True,
    warmup_pool: int = 0,
    progress: Callable[[int, int], None] | None = None,
    journal: "Journal | str | Path | None" = None,
    **params: Any,
) -> SearchResults:
    """``runs`` independent searches of ``algo`` on ``objective``.

    Parameters
    ----------
    algo : name (``"random"``, ``"rea"``, ``"reinforce"``, ``"bohb"``, ``"predictor"``) or instance
    objective : an :class:`~gradsign.search.objective.Objective` (e.g. the simulated
        benchmark :func:`~gradsign.search.oracle.nb201_oracle`), or a training
        function ``train(arch) -> accuracy`` whose wall-clock seconds are charged
    provider : proxy scores and their seconds, or None (the plain algorithm)
    space : the search space of a training function (an Objective has its own)
    runs, seed : run ``r`` is seeded from ``(seed, r)``, independently of ``runs``
    candidates : K cells proposed where the algorithm proposes one, best proxy kept;
        default 10 with a provider, 1 without
    budget : simulated seconds (number or ``"12000s"``), ``"100evals"`` or a
        :class:`Budget`; default the oracle's (NB201 CIFAR-10: 12,000 s)
    charge_proxy : charge the proxy's measured seconds to the budget (default);
        False reproduces the papers, which treat the proxy as free
    warmup_pool : > 0 enables the warm-up variant with a pool of that many cells
    progress : called as ``progress(done, runs)`` after each run
    journal : a :class:`~gradsign.search.journal.Journal` (or its SQLite path) recording
        every training: rerunning with it replays what was recorded, so a killed
        search resumes without retraining (the results are those of an uninterrupted run)
    params : algorithm settings (e.g. ``sample_size=3`` for REA)
    """
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise ConfigError(f"runs must be an int >= 1, got {runs!r}")
    seed = _check_seed(seed)
    objective = as_objective(objective, space)
    algorithm, k = _resolve(algo, provider, candidates, warmup_pool, params)
    b = Budget.parse(budget, objective.default_budget)
    results = SearchResults(
        algo=algorithm.name or type(algorithm).__name__, params=algorithm.params(), dataset=objective.dataset,
        space=objective.space.name, budget=b.to_dict(), proxy=provider_name(provider), candidates=k,
        charge_proxy=bool(charge_proxy) if provider is not None or algorithm.params().get("uses_zerocost") else False,
        warmup_pool=int(warmup_pool), seed=seed, runs=[],
        notes=_notes(objective, algorithm, provider, b, seed, k, charge_proxy, warmup_pool),
    )
    if journal is not None and not isinstance(journal, Journal):
        journal = Journal(journal)
    start = time.perf_counter()
    for r in range(int(runs)):
        run_journal = journal.run(results.label, seed, r) if journal is not None else None
        results.runs.append(_one_run(algorithm, objective, provider, seed, r, k, b, charge_proxy, warmup_pool, False,
                                     run_journal))
        if progress is not None:
            progress(r + 1, int(runs))
    results.wall_seconds = time.perf_counter() - start
    return results


def _notes(objective: Objective, algorithm: SearchAlgorithm, provider: ProxyProvider | None, budget: Budget,
           seed: int, k: int, charge_proxy: bool, warmup_pool: int) -> list[str]:
    """What every result of this setting should say about how it was obtained."""
    notes = list(objective.notes)
    probe = Study(objective, budget, _run_rng(seed, 0), proxy=provider, charge_proxy=charge_proxy,
                  candidates=k, warmup_pool=warmup_pool)
    notes += algorithm.notes(probe)
    notes.append("a cell trained twice is paid twice (no training cache), as in NB201's scripts")
    if provider is not None:
        notes.append("proxy scores are cached within a run: each distinct cell's proxy seconds are paid once per run")
        if not charge_proxy:
            notes.append("proxy seconds were NOT charged to the budget (the GradSign / Abdelfattah et al. setting); "
                         "they are recorded in proxy_seconds")
        elif budget.kind == "evaluations":
            notes.append("evaluation budget: proxy seconds are recorded but cannot limit the search")
    return notes


__all__ = ["DEFAULT_CANDIDATES", "run_search", "run_searches"]
