"""Neural architecture search over any :class:`~gradsign.spaces.base.SearchSpace`, with proxy assistance
and honest cost accounting.

The parts (Optuna's split of study / sampler / storage):

* an :class:`Objective` trains an arch and says what it cost: NAS-Bench-201's
  tabular objective (:func:`nb201_oracle`, simulated training time) or a user's
  training function (:class:`CallableObjective`, measured wall-clock seconds);
* a :class:`SearchAlgorithm` (the sampler; one module each, registered by name:
  ``random``, ``rea``, ``reinforce``, ``bohb``, ``predictor``) proposes archs
  through the space's ``sample`` / ``mutate`` / ``choices``;
* a :class:`Study` owns one run's budget, ledger, incumbent and trajectory, and
  charges proxy seconds (:class:`ArrayProxyProvider`, :class:`CallableProxyProvider`)
  the same way as training seconds;
* :class:`SearchRun` / :class:`SearchResults` store the outcome (JSON);
  :func:`run_searches` runs many seeded searches of one setting; :mod:`~gradsign.search.report`
  summarises and plots them.

The package is callable: ``gradsign.search(...)`` is
:func:`gradsign.workflows.search.search`, the typed API behind ``gradsign search``.
See docs/search.md for the protocol and its choices.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from gradsign.search.budget import Budget, BudgetExhausted
from gradsign.search.journal import Journal
from gradsign.search.objective import CallableObjective, Objective, as_objective
from gradsign.search.oracle import (
    NB201_DATASETS,
    NB201_SETTINGS,
    nb201_cost,
    nb201_dataset,
    nb201_oracle,
    nb201_oracle_from_arrays,
)
from gradsign.search.providers import (ArrayEnsembleProvider, ArrayProxyProvider, CallableProxyProvider, ProxyProvider,
                                       network_proxy, ranked_values)
from gradsign.search.registry import (
    SearchAlgorithm,
    available_searches,
    get_search,
    register_search,
    search_name,
    unregister_search,
)
from gradsign.search.report import (
    NB201_PAPER_CIFAR10_TEST,
    aggregate_trajectories,
    format_gain,
    format_table,
    format_transfer_table,
    gain_over,
    plot_trajectories,
    results_table,
    summarize,
)
from gradsign.search.results import SearchResults, SearchRun
from gradsign.search.runner import DEFAULT_CANDIDATES, run_search, run_searches
from gradsign.search.study import Ledger, Study, Trajectory
from gradsign.search.tabular import SearchOracle, TableSpace, TabularObjective

#: the per-run state's former name
SearchContext = Study


class _CallableModule(types.ModuleType):
    """``gradsign.search`` is both this package and the typed API function, so calling it runs a search."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from gradsign.workflows.search import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ArrayEnsembleProvider",
    "ArrayProxyProvider",
    "Budget",
    "BudgetExhausted",
    "CallableObjective",
    "CallableProxyProvider",
    "DEFAULT_CANDIDATES",
    "Journal",
    "Ledger",
    "NB201_DATASETS",
    "NB201_PAPER_CIFAR10_TEST",
    "NB201_SETTINGS",
    "Objective",
    "ProxyProvider",
    "SearchAlgorithm",
    "SearchContext",
    "SearchOracle",
    "SearchResults",
    "SearchRun",
    "Study",
    "TableSpace",
    "TabularObjective",
    "Trajectory",
    "aggregate_trajectories",
    "as_objective",
    "available_searches",
    "format_gain",
    "format_table",
    "format_transfer_table",
    "gain_over",
    "get_search",
    "nb201_cost",
    "nb201_dataset",
    "nb201_oracle",
    "nb201_oracle_from_arrays",
    "network_proxy",
    "plot_trajectories",
    "ranked_values",
    "register_search",
    "results_table",
    "run_search",
    "run_searches",
    "search_name",
    "summarize",
    "unregister_search",
]
