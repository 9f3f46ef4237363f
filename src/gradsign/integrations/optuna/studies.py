"""Budgeted Optuna studies on a library objective, returned as :mod:`gradsign.search` results.

:func:`run_optuna_search` drives one study with Optuna's ask-and-tell interface on
an :class:`~gradsign.search.objective.Objective` (a tabular benchmark such as
NB201's, or a user's training function) under the library's budget rule
(:mod:`gradsign.search.budget`): each trial's screening seconds (from a
:class:`~gradsign.integrations.optuna.ProxyScreeningSampler`) and then its
training are charged only if they fit in what is left; the first charge that
does not fit ends the study and its result is never used. The outcome is a
:class:`~gradsign.search.results.SearchRun`, so the tables, confidence intervals
and trajectory plots of :mod:`gradsign.search.report` apply to Optuna studies
unchanged. :func:`run_optuna_searches` runs many seeded studies of one setting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from gradsign.errors import ConfigError
from gradsign.search.budget import Budget
from gradsign.search.objective import Objective
from gradsign.search.results import SearchResults, SearchRun


def run_seed(seed: int, run: int) -> int:
    """The sampler seed of run ``run`` of a setting seeded ``seed`` (the same for every setting)."""
    return int(np.random.SeedSequence([int(seed), int(run)]).generate_state(1)[0])


def run_optuna_search(objective: Objective, sampler: BaseSampler, search_space: Mapping[str, BaseDistribution],
                      to_arch: Callable[[dict[str, Any]], Any], *, budget: Budget | float | str | None = None,
                      run: int = 0, seed: Sequence[int] = (0, 0), charge_proxy: bool = True) -> SearchRun:
    """One budgeted study of ``sampler`` on ``objective``; ``to_arch(params)`` is the arch of a trial's parameters.

    Every trial suggests all of ``search_space`` (``study.ask(fixed_distributions=...)``);
    the trial's value is the objective's observed accuracy (maximised). The run's
    incumbent is the trial with the best observed accuracy; what is reported for it
    is the objective's ``test_of`` (the observed accuracy when it has none).
    """
    if not isinstance(objective, Objective):
        raise ConfigError(f"objective must be a gradsign Objective, got {objective!r}")
    bud = Budget.parse(budget, objective.default_budget)
    by_seconds = bud.kind == "seconds"
    if by_seconds and objective.min_cost is not None and objective.min_cost <= 0:
        raise ConfigError("a seconds budget needs trainings that cost more than 0 s; this objective has free ones")
    screenings = getattr(sampler, "screenings", {})
    study = optuna.create_study(direction="maximize", sampler=sampler)
    spent = train_seconds = proxy_seconds = 0.0
    evaluations = scored = queries = 0
    best_value, best_arch = -math.inf, None
    trajectory: dict[str, list] = {"spent": [], "train_seconds": [], "proxy_seconds": [], "incumbent": [], "test": []}
    while True:
        trial = study.ask(fixed_distributions=dict(search_space))
        screening = screenings.get(trial.number)
        cost_of_screening = screening.seconds if screening is not None else 0.0
        if charge_proxy and by_seconds and spent + cost_of_screening > bud.amount:
            study.tell(trial, state=TrialState.FAIL)
            break
        if screening is not None:
            queries += len(screening.candidates)
            scored += screening.new
        proxy_seconds += cost_of_screening
        if charge_proxy and by_seconds:
            spent += cost_of_screening
        arch = to_arch(trial.params)
        accuracy, cost = objective.evaluate(arch)
        charge = cost if by_seconds else 1.0
        if spent + charge > bud.amount:
            study.tell(trial, state=TrialState.FAIL)
            break
        spent += charge
        train_seconds += cost
        evaluations += 1
        study.tell(trial, accuracy)
        if accuracy > best_value:
            best_value, best_arch = accuracy, arch
        trajectory["spent"].append(spent)
        trajectory["train_seconds"].append(train_seconds)
        trajectory["proxy_seconds"].append(proxy_seconds)
        trajectory["incumbent"].append(objective.record(best_arch))
        trajectory["test"].append(_reported(objective, best_arch, best_value))
    charged = spent if by_seconds else train_seconds + (proxy_seconds if charge_proxy else 0.0)
    if best_arch is None:
        return SearchRun(run, list(seed), -1, "", math.nan, math.nan, {}, 0, scored, queries, train_seconds,
                         proxy_seconds, charged, trajectory)
    return SearchRun(run, list(seed), objective.record(best_arch), objective.name_of(best_arch),
                     _reported(objective, best_arch, best_value), best_value, objective.reported_of(best_arch),
                     evaluations, scored, queries, train_seconds, proxy_seconds, charged, trajectory)


def _reported(objective: Objective, arch: Any, observed: float) -> float:
    test = objective.test_of(arch)
    return float(observed if test is None else test)


def run_optuna_searches(objective: Objective, make_sampler: Callable[[int], BaseSampler],
                        search_space: Mapping[str, BaseDistribution], to_arch: Callable[[dict[str, Any]], Any], *,
                        runs: int, seed: int = 0, budget: Budget | float | str | None = None, algo: str = "optuna-tpe",
                        proxy: str | None = None, candidates: int = 1, charge_proxy: bool = True,
                        params: Mapping[str, Any] | None = None, on_run: Callable[[SearchRun], None] | None = None
                        ) -> SearchResults:
    """``runs`` studies of one setting: run ``r`` uses ``make_sampler(run_seed(seed, r))``, so every setting
    sees the same sampler seeds. ``algo``, ``proxy``, ``candidates`` and ``params`` label the results."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ConfigError(f"runs must be a whole number >= 1, got {runs!r}")
    bud = Budget.parse(budget, objective.default_budget)
    start = time.perf_counter()
    out = []
    for r in range(runs):
        result = run_optuna_search(objective, make_sampler(run_seed(seed, r)), search_space, to_arch, budget=bud,
                                   run=r, seed=(seed, r), charge_proxy=charge_proxy)
        out.append(result)
        if on_run is not None:
            on_run(result)
    notes = [*objective.notes, f"Optuna {optuna.__version__}: one study per run, ask-and-tell, direction maximize"]
    return SearchResults(algo=algo, params=dict(params or {}), dataset=objective.dataset,
                         space=getattr(objective.space, "name", ""), budget=bud.to_dict(), proxy=proxy,
                         candidates=int(candidates), charge_proxy=bool(charge_proxy), warmup_pool=0, seed=int(seed),
                         runs=out, notes=notes, wall_seconds=time.perf_counter() - start)


__all__ = ["run_optuna_search", "run_optuna_searches", "run_seed"]
